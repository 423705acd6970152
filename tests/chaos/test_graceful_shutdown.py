"""Graceful shutdown under load (issue 17), on the chaos suite's deployment (two API
processes, two workers, the reports consumer, private servers):

* SIGTERM to a worker while workouts pour in loses nothing and processes nothing twice: it
  finishes and settles what it holds and exits 0, what it had only prefetched goes back to
  the queue, and no workout it had acked comes back (no worker ever logs a workout as
  processed a second time, "(redelivered)").
* SIGTERM to an API process answers the requests it is in the middle of: requests whose
  headers and first bytes it had received are answered 202 and stored, and it ends by
  itself (uvicorn's way: exit 0, or by the SIGTERM it raises again once done).

The supervisor starts again whatever was stopped, as systemd would.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.processes import Athlete, eventually

from .checks import stored_workouts
from .fleet import Fleet, chaos_fleet
from .load import Load, register_athletes

pytestmark = pytest.mark.production

PROCESSED = re.compile(r"workout ([0-9a-f-]{36}) processed:[^\n]*")
# How many times a worker is sent SIGTERM during the load (each worker in turn).
WORKER_TERMS = 2
# Requests held half-sent to the API process that is stopped.
IN_FLIGHT = 8
EXIT_WITHIN_S = 60.0


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Fleet]:
    async with chaos_fleet(tmp_path) as running:
        yield running


def quiet_load(fleet: Fleet, athletes: list[Athlete], total: int) -> Load:
    """Workouts at a steady pace, none sent again on purpose: a workout processed twice
    can only be a redelivery. All `total` may start; a test holds it back by lowering
    `allowed`."""
    load = Load(
        fleet.api_urls,
        athletes,
        total,
        concurrency=16,
        max_rate=20.0,
        seed=random.SystemRandom().randrange(1 << 32),
        resubmit_later=0.0,
        resubmit_twin=0.0,
    )
    load.allowed = total
    return load


async def test_sigterm_to_a_worker_under_load_loses_nothing_and_redelivers_nothing(
    fleet: Fleet,
) -> None:
    async with asyncio.timeout(420):
        athletes = await register_athletes(fleet.deployment, 20)
        load = quiet_load(fleet, athletes, 150)
        exits: list[tuple[str, int]] = []
        # As the chaos run does: the load is cut into one more slice than there are
        # SIGTERMs, and may run half a slice ahead of a SIGTERM until the worker is back, so
        # every SIGTERM comes while workouts pour in, however slow the machine is.
        slice_ = load.total // (WORKER_TERMS + 1)
        load.allowed = slice_

        async def terminate_workers() -> None:
            for n in range(1, WORKER_TERMS + 1):

                def due(threshold: int = n * slice_) -> bool:
                    return load.started >= threshold

                await eventually(due, within_s=300)
                load.allowed = n * slice_ + slice_ // 2
                service = fleet.supervisor.terminate(fleet.worker_roles[n % 2])
                exits.append((service.name, await service.wait_exit(EXIT_WITHIN_S)))
                await fleet.wait_all_running()
                load.allowed = (n + 1) * slice_ if n < WORKER_TERMS else load.total

        async with asyncio.TaskGroup() as group:
            group.create_task(load.run())
            group.create_task(terminate_workers())
        assert await fleet.drain(load.accepted, within_s=180) is not None, "not drained"
        at_the_end = await fleet.stop_consumers()

        assert exits == [(name, 0) for name, _ in exits], exits
        assert set(at_the_end.values()) == {0}, at_the_end
        assert not load.gave_up
        record, doubled = await stored_workouts(fleet.dsn)
        assert not set(load.accepted) - set(record), "a workout answered 202 was lost"
        assert doubled == 0
        outputs = [s.output() for s in fleet.deployment._services if s.name.startswith("worker")]
        lines = [m.group(0) for output in outputs for m in PROCESSED.finditer(output)]
        again = [line for line in lines if "(redelivered)" in line]
        assert not again, f"{len(again)} workouts were processed again: {again[:3]}"
        # Every stored workout was processed once, by exactly one worker.
        assert sorted(uuid.UUID(m.group(1)) for o in outputs for m in PROCESSED.finditer(o)) == (
            sorted(record)
        )
        for output in outputs:
            assert "outlived its channel" not in output
            assert "could not settle" not in output
            assert "Traceback" not in output


async def test_sigterm_to_an_api_process_answers_the_requests_in_flight(fleet: Fleet) -> None:
    async with asyncio.timeout(420):
        athletes = await register_athletes(fleet.deployment, 10)
        load = quiet_load(fleet, athletes, 120)
        target = 0
        received = [asyncio.Event() for _ in range(IN_FLIGHT)]
        release = asyncio.Event()

        async def half_sent(n: int, client: httpx.AsyncClient) -> tuple[uuid.UUID, int]:
            """A POST whose headers and first bytes go at once, the rest on `release`."""
            workout_id = uuid.uuid4()
            started = (datetime.now(UTC) - timedelta(hours=2)).replace(microsecond=0)
            body = json.dumps(
                {
                    "id": str(workout_id),
                    "activity": "run",
                    "started_at": started.isoformat(),
                    "duration_s": 1800 + n,
                    "distance_m": 5000 + n,
                }
            ).encode()

            async def chunks() -> AsyncIterator[bytes]:
                yield body[:10]
                # httpx asks for the next chunk once it has sent the first.
                received[n].set()
                await release.wait()
                yield body[10:]

            response = await client.post(
                "/v1/workouts",
                content=chunks(),
                headers={
                    **athletes[n % len(athletes)].headers,
                    "content-type": "application/json",
                    "content-length": str(len(body)),
                },
            )
            return workout_id, response.status_code

        async def stop_api_midway() -> list[tuple[uuid.UUID, int]]:
            await eventually(lambda: load.started >= load.total // 3, within_s=300)
            async with httpx.AsyncClient(
                base_url=fleet.api_urls[target], timeout=60.0, trust_env=False
            ) as client:
                requests = [asyncio.create_task(half_sent(n, client)) for n in range(IN_FLIGHT)]
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in received)), 30)
                # Long enough for the server to have read the headers of every one.
                await asyncio.sleep(1.0)
                api = fleet.supervisor.terminate(f"api-{target}")
                await asyncio.sleep(1.0)
                assert api.alive, "the API exited with requests in flight"
                release.set()
                answers = await asyncio.gather(*requests)
                # uvicorn shuts down gracefully, then raises the signal it caught again, so
                # the process ends by SIGTERM (what systemd and Compose expect) or exits 0.
                code = await api.wait_exit(EXIT_WITHIN_S)
                assert code in (0, -signal.SIGTERM), api.output()[-3000:]
            return answers

        async with asyncio.TaskGroup() as group:
            group.create_task(load.run())
            stopping = group.create_task(stop_api_midway())
        in_flight = stopping.result()
        assert [code for _, code in in_flight] == [202] * IN_FLIGHT, in_flight
        accepted = [*load.accepted, *(workout_id for workout_id, _ in in_flight)]
        assert await fleet.drain(accepted, within_s=180) is not None, "not drained"
        assert not load.gave_up
        record, doubled = await stored_workouts(fleet.dsn)
        assert not set(accepted) - set(record), "a workout answered 202 was lost"
        assert doubled == 0
        assert not fleet.supervisor.unplanned_exits
