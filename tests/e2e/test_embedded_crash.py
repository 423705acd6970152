"""Embedded mode survives SIGKILL of `fitboard serve` in the middle of a load: after a
restart on the same data directory, every workout answered 202 is in the record exactly
once, and the boards (rebuilt from the record at start) equal what it holds."""

from __future__ import annotations

import asyncio
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from tests.e2e.test_embedded_one_process import serving, spawn_serve
from tests.integration.processes import eventually, free_port

from ..contract.queue_adapters import bounded

ATHLETES = 4
WORKOUTS = 240
KILL_AFTER_ACCEPTED = 80
PASSWORD = "correct horse battery"


def workout(n: int) -> dict[str, Any]:
    started = datetime.now(UTC) - timedelta(hours=3, minutes=n % 120)
    return {
        "id": str(uuid.uuid4()),
        "activity": "run",
        "started_at": started.isoformat(),
        "duration_s": 600 + n,
        "distance_m": 2000 + 10 * n,
    }


async def all_workouts(client: httpx.AsyncClient, token: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 100, **({"cursor": cursor} if cursor else {})}
        page = await client.get(
            "/v1/workouts", params=params, headers={"Authorization": f"Bearer {token}"}
        )
        assert page.status_code == 200, page.text
        found += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return found


@bounded(240)
async def test_a_killed_server_loses_and_doubles_nothing(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = spawn_serve(port, tmp_path)
    accepted: dict[str, int] = {}  # workout id -> athlete index
    try:
        await eventually(lambda: serving(port), within_s=60, every_s=0.2)
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:
            tokens = []
            for n in range(ATHLETES):
                answer = await client.post(
                    "/v1/auth/register", json={"username": f"athlete{n}", "password": PASSWORD}
                )
                assert answer.status_code == 201, answer.text
                tokens.append(answer.json()["access_token"])
            killed = asyncio.Event()

            async def submit(n: int) -> None:
                body = workout(n)
                try:
                    answer = await client.post(
                        "/v1/workouts",
                        json=body,
                        headers={"Authorization": f"Bearer {tokens[n % ATHLETES]}"},
                    )
                except httpx.TransportError:
                    return  # the server died under it: no promise was made
                if answer.status_code == 202:
                    accepted[body["id"]] = n % ATHLETES
                    if len(accepted) >= KILL_AFTER_ACCEPTED and not killed.is_set():
                        killed.set()
                        server.send_signal(signal.SIGKILL)

            slots = asyncio.Semaphore(16)

            async def limited(n: int) -> None:
                async with slots:
                    await submit(n)

            await asyncio.gather(*(limited(n) for n in range(WORKOUTS)))
            assert killed.is_set(), f"only {len(accepted)} accepted before the load ended"
        server.wait(timeout=30)

        server = spawn_serve(port, tmp_path)
        await eventually(lambda: serving(port), within_s=60, every_s=0.2)
        async with httpx.AsyncClient(base_url=url, timeout=30, trust_env=False) as client:

            async def everything_processed() -> bool:
                stored = {w["id"] for token in tokens for w in await all_workouts(client, token)}
                return set(accepted) <= stored

            await eventually(everything_processed, within_s=120, every_s=0.5)
            for index, token in enumerate(tokens):
                mine = await all_workouts(client, token)
                ids = Counter(w["id"] for w in mine)
                assert all(count == 1 for count in ids.values()), "a workout stored twice"
                promised = {i for i, owner in accepted.items() if owner == index}
                assert promised <= set(ids), f"lost: {promised - set(ids)}"
                board = await client.get(
                    "/v1/leaderboards/points/all/me", headers={"Authorization": f"Bearer {token}"}
                )
                assert board.status_code == 200, board.text
                counted = sum(w["points"] for w in mine if w["status"] == "processed")
                assert board.json()["score"] == counted
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=30)
