"""`fitboard status` shows a backlog while no worker runs, how long its oldest workout has
waited, and the dead letters."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import uuid
from pathlib import Path

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.queue_sqlite import SqliteBroker
from fitboard.application.messaging.ports import Message
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED, workouts_queue
from tests.integration.processes import run_command

FITBOARD = str(Path(sys.executable).with_name("fitboard"))


def row(output: str, label: str) -> str:
    found = re.search(rf"{re.escape(label)}\s*│\s*(\S[^│]*?)\s*│", output)
    assert found is not None, f"no row {label!r} in:\n{output}"
    return found.group(1)


async def test_status_shows_the_backlog_and_the_dead_letters(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
    env |= {"FITBOARD_MODE": "embedded", "FITBOARD_DATA_DIR": str(tmp_path), "COLUMNS": "120"}
    code, output = await run_command(FITBOARD, "status", env=env)
    assert code == 0, output
    assert row(output, "messages waiting for a worker") == "0"
    assert row(output, "oldest waiting workout") == "none"

    # No worker runs: what is published waits.
    queue = SqliteBroker(tmp_path / "queue.db")
    spec = workouts_queue("fitboard", 5)
    try:
        for _ in range(3):
            await queue.publish(Message(WORKOUT_SUBMITTED, b"{}", str(uuid.uuid4())))
        stream = queue.consume(spec, prefetch=1)
        await (await anext(stream)).dead_letter("malformed workout message")
        await stream.aclose()
    finally:
        await queue.close()
    # An accepted workout is marked in flight at its 202 (as ingest does), until processed.
    inflight = SqliteInFlight(tmp_path / "queue.db")
    try:
        await inflight.mark(uuid.uuid4(), uuid.uuid4())
    finally:
        await inflight.close()
    await asyncio.sleep(1.1)

    code, output = await run_command(FITBOARD, "status", env=env)
    assert code == 0, output
    assert row(output, "mode") == "embedded"
    assert row(output, "messages waiting for a worker") == "2"
    assert row(output, "dead letters") == "1"
    assert re.fullmatch(r"\d+ s", row(output, "oldest waiting workout"))
    assert row(output, "oldest waiting workout") != "0 s"
    assert "KiB" in row(output, "record size")
    assert "held in the memory of `fitboard serve`" in output
