"""Badges reach the athlete over Socket.IO the moment they are awarded, once."""

from __future__ import annotations

import uuid
from datetime import datetime

from tests.e2e.conftest import run_outside_early_bird

from .conftest import LiveServer


async def test_a_first_5k_pushes_its_badges_once(live: LiveServer) -> None:
    token, _ = await live.api.register("badgefan")
    client = await live.connect(token)
    workout_id = str(uuid.uuid4())
    body = {
        "id": workout_id,
        "activity": "run",
        "started_at": run_outside_early_bird(2),
        "duration_s": 1800,
        "distance_m": 5000,
    }
    for _ in range(3):  # resent: counted once, announced once
        assert (await live.api.submit(token, **body)).status_code == 202
    first = await client.wait_for("achievement:awarded", lambda p: p["id"] == "run-5k")
    assert first["name"] == "5K"
    assert first["workout_id"] == workout_id
    assert datetime.fromisoformat(first["awarded_at"]).tzinfo is not None
    await client.wait_for("achievement:awarded", lambda p: p["id"] == "first-workout")
    # A later workout proves the resent copies have been processed by now.
    later = await live.api.submit_ok(
        token,
        activity="yoga",
        started_at=run_outside_early_bird(1),
        duration_s=600,
    )
    await live.api.wait_processed(token, later)
    await client.wait_for("workout:processed", lambda p: p["id"] == later)
    awarded = [p["id"] for p in client.received("achievement:awarded")]
    assert sorted(awarded) == ["first-workout", "run-5k"]
