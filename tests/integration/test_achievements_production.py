"""Badges and monthly reports on the real services, with separate processes: two workers
and resent or redelivered messages never double an award, and the reports consumer catches
up with everything after being stopped."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.bootstrap import reports_queue
from tests.integration.processes import (
    MAX_ATTEMPTS,
    Athlete,
    Deployment,
    deployment,
    eventually,
    started_at_for_tests,
)
from tests.services.session import SERVICES

pytestmark = pytest.mark.production


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deployment(tmp_path) as d:
        try:
            yield d
        finally:
            broker = RabbitBroker(SERVICES.amqp_url, exchange=d.namespace, confirm_timeout_s=5.0)
            try:
                await broker.delete(reports_queue(d.namespace, MAX_ATTEMPTS))
            finally:
                await broker.close()


async def awards_of(d: Deployment, athlete: Athlete) -> list[tuple[str, str]]:
    connection = await d._pg()
    try:
        rows = await connection.fetch(
            "SELECT achievement_id, period_key FROM awards WHERE user_id = $1 "
            "ORDER BY achievement_id, period_key",
            athlete.id,
        )
    finally:
        await connection.close()
    return [(r["achievement_id"], r["period_key"]) for r in rows]


async def post_run(
    d: Deployment, athlete: Athlete, workout_id: uuid.UUID, started_at: datetime, **body: object
) -> None:
    """A run of the athlete's starting at `started_at`: each test takes its start once
    (`started_at_for_tests`), so that all its runs fall on one day and in one month."""
    payload = {
        "id": str(workout_id),
        "activity": "run",
        "started_at": started_at.isoformat(),
        "duration_s": 1800,
        "distance_m": 5000,
        **body,
    }
    response = await d.client.post("/v1/workouts", json=payload, headers=athlete.headers)
    assert response.status_code == 202, response.text


async def test_two_workers_and_resent_workouts_award_each_badge_once(fleet: Deployment) -> None:
    d = fleet
    await d.start(workers=2)
    athlete = await d.register("badger")
    first = uuid.uuid4()
    # The same first 5 km run sent six times at once: the two workers race on copies. It
    # starts a minute before the others, so in date order it is the first run: it sets
    # the records without earning them (runs that start together are ordered by id). A
    # minute before 06:00 is in the early-bird window (04:00-06:00), whose badge the run
    # must not earn: then it starts at 03:58.
    started = started_at_for_tests()
    earlier = started - timedelta(minutes=1)
    if 4 <= earlier.hour < 6:
        earlier = earlier.replace(hour=3, minute=58)
    await asyncio.gather(*(post_run(d, athlete, first, earlier) for _ in range(6)))
    others = [uuid.uuid4() for _ in range(10)]
    await asyncio.gather(*(post_run(d, athlete, w, started, distance_m=3000) for w in others))
    await d.wait_processed([first, *others])
    await eventually(lambda: _drained(d), within_s=30)
    held = await awards_of(d, athlete)
    assert held.count(("first-workout", "all")) == 1
    assert held.count(("run-5k", "all")) == 1
    assert held.count(("workouts-10", "all")) == 1  # eleven workouts, one badge
    assert len(held) == len(set(held))
    response = await d.client.get(f"/v1/workouts/{first}", headers=athlete.headers)
    assert sorted(response.json()["achievements"]) == ["first-workout", "run-5k"]


async def test_a_worker_killed_mid_stream_does_not_double_awards(fleet: Deployment) -> None:
    d = fleet
    await d.start(workers=2)
    athletes = [await d.register(f"streaker{i}") for i in range(3)]
    started = started_at_for_tests()
    ids: list[uuid.UUID] = []
    sends = []
    for n in range(60):
        workout_id = uuid.uuid4()
        ids.append(workout_id)
        sends.append(post_run(d, athletes[n % 3], workout_id, started, distance_m=4000 + n))
    submitting = asyncio.gather(*sends)
    await d.wait_processed(ids, at_least=5)
    d.workers[0].send(signal.SIGKILL)  # unacked messages go back to the queue
    await submitting
    await d.start_worker()
    await d.wait_processed(ids, within_s=90)
    await eventually(lambda: _drained(d), within_s=60)
    for athlete in athletes:
        held = await awards_of(d, athlete)
        assert len(held) == len(set(held))
        assert held.count(("first-workout", "all")) == 1
        assert held.count(("workouts-10", "all")) == 1
    code, output = await d.cli("reconcile")
    assert code == 0, output


async def _drained(d: Deployment) -> bool:
    return await d.waiting() == 0


async def test_the_reports_consumer_catches_up_after_being_stopped(fleet: Deployment) -> None:
    d = fleet
    await d.start(workers=1)
    reports = d._spawn("reports", "reports")
    queue = reports_queue(d.namespace, MAX_ATTEMPTS).name
    await eventually(lambda: _consuming(d, queue), within_s=30)
    athlete = await d.register("reader")
    started = started_at_for_tests()
    month = started.strftime("%Y-%m")
    warmup = uuid.uuid4()
    await post_run(d, athlete, warmup, started)
    await d.wait_processed([warmup])
    await eventually(lambda: _report_count(d, athlete, month, 1), within_s=30)

    reports.send(signal.SIGTERM)
    assert await reports.wait_exit(within_s=20) == 0
    while_away = [uuid.uuid4() for _ in range(8)]
    await asyncio.gather(*(post_run(d, athlete, w, started, distance_m=2000) for w in while_away))
    await d.wait_processed(while_away)
    # Ingest and processing went on without it; its messages wait in its own queue (the
    # worker's batches publish theirs packed, several to an AMQP message, which the
    # queue's count counts once).
    await eventually(lambda: _ready_at_least(d, queue, 1), within_s=30)
    assert await _report_count(d, athlete, month, 1)

    d._spawn("reports-again", "reports")
    await eventually(lambda: _report_count(d, athlete, month, 9), within_s=60)
    report = (await d.client.get(f"/v1/me/reports/{month}", headers=athlete.headers)).json()
    assert report["distance_m"] == 5000 + 8 * 2000
    assert report["by_activity"]["run"]["workouts"] == 9


async def test_workouts_processed_before_any_reports_consumer_ran_are_reported(
    fleet: Deployment,
) -> None:
    """The reports queue is declared by every process (bootstrap's topology), so what a
    worker publishes before `fitboard reports` first starts waits for it."""
    d = fleet
    await d.start(workers=1)
    athlete = await d.register("early")
    started = started_at_for_tests()
    month = started.strftime("%Y-%m")
    early = [uuid.uuid4() for _ in range(3)]
    await asyncio.gather(*(post_run(d, athlete, w, started, distance_m=3000) for w in early))
    await d.wait_processed(early)
    queue = reports_queue(d.namespace, MAX_ATTEMPTS).name
    # Waiting (in one AMQP message or several: a worker's batch publishes its events
    # packed).
    await eventually(lambda: _ready_at_least(d, queue, 1), within_s=30)
    # No report yet: nothing has consumed them.
    response = await d.client.get(f"/v1/me/reports/{month}", headers=athlete.headers)
    assert response.status_code == 404, response.text

    d._spawn("reports", "reports")
    await eventually(lambda: _report_count(d, athlete, month, 3), within_s=60)
    report = (await d.client.get(f"/v1/me/reports/{month}", headers=athlete.headers)).json()
    assert report["distance_m"] == 3 * 3000


async def _consuming(d: Deployment, queue: str) -> bool:
    with contextlib.suppress(Exception):
        return (await d.queue_stats([queue]))[queue].consumers == 1
    return False


async def _ready_at_least(d: Deployment, queue: str, count: int) -> bool:
    return await d.ready(queue) >= count


async def _report_count(d: Deployment, athlete: Athlete, month: str, workouts: int) -> bool:
    response = await d.client.get(f"/v1/me/reports/{month}", headers=athlete.headers)
    return response.status_code == 200 and response.json()["workouts"] == workouts
