"""Embedded mode: the in-process worker draining a backlog shares the one event loop with
the API (and, paced by the same `LoopShare`, with the reports consumer). Requests keep
being answered while the backlog is there, the consumers wait their turn between batches
while they are, and the whole backlog still drains, every workout processed once. The
consumers hand a batch over whole only while the API has no request open."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Message

from fitboard.application.messaging.consuming import LoopShare
from fitboard.entrypoints.api import create_app
from tests.contract.queue_adapters import bounded
from tests.e2e.conftest import Api, run_at, settings_for

ATHLETES = 8
PER_ATHLETE = 40  # one :batch request each: 320 workouts waiting
# The consumers' share of the loop. The worker's own loop time is small beside the
# requests' (its SQLite work runs in the queue's thread; measured: the requests used 7-8
# times the worker's loop time during a batch), so at the default share of one half the
# requests are never owed time and the worker never waits. At a twentieth they are owed 19
# times the consumers' time after each batch, and the test sees the consumers wait.
SHARE = 0.05


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[Api]:
    settings = settings_for(tmp_path).model_copy(update={"embedded_worker_loop_share": SHARE})
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://fitboard", timeout=300
        ) as client,
    ):
        yield Api(client, app)


def workouts(athlete: int) -> list[dict[str, Any]]:
    # Half an hour each, an hour apart: none is a duplicate of another.
    return [
        {
            "activity": "run",
            "started_at": run_at(hours_ago=1 + n + athlete / 100),
            "duration_s": 1800,
            "distance_m": 5000 + n,
        }
        for n in range(PER_ATHLETE)
    ]


@bounded(300)
async def test_requests_are_answered_while_the_worker_drains_a_backlog(embedded: Api) -> None:
    api = embedded
    assert api.app is not None
    container = api.app.state.container
    share = container.loop_share  # the consumers are paced: their share is below 1
    assert isinstance(share, LoopShare)

    tokens = [(await api.register(f"athlete{i}"))[0] for i in range(ATHLETES)]
    submitted: list[tuple[str, str]] = []
    for i, token in enumerate(tokens):
        response = await api.client.post(
            "/v1/workouts:batch", json={"workouts": workouts(i)}, headers=api.auth(token)
        )
        assert response.status_code == 207, response.text
        results = response.json()["results"]
        assert [r["status"] for r in results] == ["queued"] * PER_ATHLETE
        submitted += [(token, r["id"]) for r in results]

    async def waiting() -> int:
        depth = await container.broker.depth(container.workouts_queue)
        return int(depth.ready + depth.retrying + (depth.in_flight or 0))

    # Requests, one after another from each athlete, for as long as the backlog lasts.
    answered_during_backlog = 0
    statuses: set[int] = set()

    async def reader(token: str) -> None:
        nonlocal answered_during_backlog
        while await waiting():
            response = await api.client.get("/v1/me", headers=api.auth(token))
            statuses.add(response.status_code)
            if await waiting():
                answered_during_backlog += 1

    async with asyncio.timeout(240):
        await asyncio.gather(*(reader(token) for token in tokens))

    assert statuses == {200}
    # The API was not starved: requests were answered while the backlog was still there.
    assert answered_during_backlog >= ATHLETES
    # And the consumers took turns with them: they waited between batches for the requests'
    # loop time, which they would not do with nobody else on the loop.
    assert share.used_s > 0
    assert share.waited_s > 0

    # The backlog drained completely, every workout processed once, none dead-lettered.
    for token, workout_id in submitted:
        processed = await api.wait_processed(token, workout_id, within_s=60)
        assert processed["status"] == "processed", processed
    depth = await container.broker.depth(container.workouts_queue)
    assert (depth.ready, depth.retrying, depth.dead_letters) == (0, 0, 0)
    with closing(sqlite3.connect(container.settings.data_dir / "fitboard.db")) as db:
        (stored,) = db.execute("SELECT count(*) FROM workouts").fetchone()
    assert stored == ATHLETES * PER_ATHLETE


@bounded(60)
async def test_the_consumers_hand_batches_over_in_parts_while_a_request_is_open(
    embedded: Api,
) -> None:
    assert embedded.app is not None
    share = embedded.app.state.container.loop_share
    assert isinstance(share, LoopShare)
    settings = embedded.app.state.container.settings
    idle, part = settings.embedded_idle_batch_size, settings.worker_batch_size
    assert share.next_part(idle) == idle

    # A submission whose body is still arriving: open until its client is done.
    more = asyncio.Event()

    async def receive() -> Message:
        if not more.is_set():
            more.set()
            return {"type": "http.request", "body": b'{"activity": ', "more_body": True}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        pass

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/workouts",
        "raw_path": b"/v1/workouts",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"fitboard"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 50000),
        "server": ("fitboard", 80),
        "state": {},
    }
    request = asyncio.create_task(embedded.app(scope, receive, send))
    await more.wait()
    await asyncio.sleep(0)
    assert share.next_part(idle) == part
    request.cancel()
    await asyncio.gather(request, return_exceptions=True)
    assert share.next_part(idle) == idle
