"""Embedded mode's accept path without HTTP: `Ingest.submit_workout` on the SQLite queue
and in-flight table of one file, wired as `fitboard serve` wires them, in one process.

    python -m bench.embedded_accept [--workouts 3000] [--callers 32] [--hog-ms 5]

Prints one JSON line: workouts accepted a second, the process's CPU (all threads) per
workout (the hog's own CPU taken out), queue writes per workout and items per write.
`--hog-ms` keeps the event loop busy meanwhile with steps of that many ms of CPU between
awaits, half of the time, as the in-process worker does (0: an idle loop).

An A/B of the accept path: run it with each copy of fitboard's source
(`PYTHONPATH=<copy>/src`), back to back; a copy whose `Ingest` has no `together` (or
`--separate`) publishes and then marks, as before that option."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prometheus_client import REGISTRY

from fitboard.adapters.clock_system import SystemClock
from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.queue_sqlite import SqliteBroker
from fitboard.application.workouts.ingest import Ingest, SubmitWorkout
from fitboard.application.workouts.messages import workouts_queue
from fitboard.domain.activities import Activity


def _writes() -> tuple[float, float]:
    labels = {"commit": "sqlite queue publish"}
    count = REGISTRY.get_sample_value("fitboard_group_commit_write_items_count", labels)
    items = REGISTRY.get_sample_value("fitboard_group_commit_write_items_sum", labels)
    return count or 0.0, items or 0.0


async def _hog(step_s: float, stop: asyncio.Event, busy: list[float]) -> None:
    """Busy the loop `step_s` at a time, then yield as long: half the loop. Adds the
    CPU it burnt to `busy[0]`, so that it can be taken out of the accept path's."""
    while not stop.is_set():
        began = time.thread_time()
        until = time.perf_counter() + step_s
        while time.perf_counter() < until:
            pass
        busy[0] += time.thread_time() - began
        await asyncio.sleep(step_s)


async def measure(workouts: int, callers: int, hog_ms: float, separate: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "queue.db"
        broker = SqliteBroker(path)
        await broker.declare(workouts_queue("bench", 5))
        inflight = SqliteInFlight(path, writes_with=broker)
        options: dict[str, Any] = {}
        if not separate and "together" in inspect.signature(Ingest).parameters:
            options["together"] = inflight
        # No record: a submission without a client-chosen id never reads it.
        ingest = Ingest(broker, inflight, None, SystemClock(), 300, **options)  # type: ignore[arg-type]
        started_at = datetime.now(UTC) - timedelta(hours=2)
        athletes = [uuid.uuid4() for _ in range(32)]
        await ingest.submit_workout(SubmitWorkout(athletes[0], Activity.RUN, started_at, 600))
        stop = asyncio.Event()
        busy = [0.0]
        hog = asyncio.create_task(_hog(hog_ms / 1000, stop, busy)) if hog_ms > 0 else None
        left = iter(range(workouts))

        async def caller() -> None:
            for n in left:
                command = SubmitWorkout(athletes[n % 32], Activity.RUN, started_at, 600)
                await ingest.submit_workout(command)

        writes, items = _writes()
        cpu, wall = time.process_time(), time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        wall = time.perf_counter() - wall
        cpu = time.process_time() - cpu - busy[0]
        writes, items = (a - b for a, b in zip(_writes(), (writes, items), strict=True))
        stop.set()
        if hog is not None:
            await hog
        await inflight.close()
        await broker.close()
    return {
        "together": "together" in options,
        "workouts": workouts,
        "callers": callers,
        "hog_ms": hog_ms,
        "per_s": round(workouts / wall, 1),
        "cpu_ms_per_workout": round(1000 * cpu / workouts, 3),
        "queue_writes_per_workout": round(writes / workouts, 3),
        "items_per_write": round(items / max(1.0, writes), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workouts", type=int, default=3000)
    parser.add_argument("--callers", type=int, default=32)
    parser.add_argument("--hog-ms", type=float, default=5.0)
    parser.add_argument(
        "--separate", action="store_true", help="publish, then mark (no `together`)"
    )
    args = parser.parse_args()
    result = measure(args.workouts, args.callers, args.hog_ms, args.separate)
    print(json.dumps(asyncio.run(result)))


if __name__ == "__main__":
    main()
