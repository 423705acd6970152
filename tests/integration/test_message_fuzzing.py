"""Messages published straight on the queue, past the API, to a real worker in each mode.

The worker is the product's own (`consume_workouts`: `run_batch_consumer` with the real
handler) on the real queue of the mode: the SQLite queue in embedded mode, RabbitMQ's
test vhost with PostgreSQL and Redis in production. Every malformed, truncated,
oversized, wrong-version or out-of-range message must be dead-lettered on its first
attempt with a reason, leave the record and the boards as they were, and not stop the
worker: the valid workouts sent after them, some at the very edges of the rules, are all
stored, which also shows that whatever validation lets through, the store accepts."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import DeadLetter
from fitboard.application.workouts.messages import submission_message
from fitboard.bootstrap import Container, build
from fitboard.config import Settings
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope
from fitboard.domain.plausibility import EARLIEST_START
from fitboard.domain.users import User
from fitboard.domain.workouts import Workout, WorkoutStatus, WorkoutSubmission
from fitboard.entrypoints.worker.runner import consume_workouts
from tests.conftest import run_sync
from tests.contract.queue_adapters import bounded
from tests.message_cases import (
    BAD_CASES,
    bad_bodies,
    collected,
    message,
    valid_body,
    valid_edges,
    valid_submission,
)
from tests.services.session import SERVICES

SECRET = "message-fuzzing-secret-long-enough-for-hs256-0123456789"
GENERATED_BAD = 40
GENERATED_VALID = 8
WAIT_S = 120.0

DISTANCE = BoardKey(BoardId(Metric.DISTANCE, Period.ALL, Scope.global_()), "all")
WORKOUTS = BoardKey(BoardId(Metric.WORKOUTS, Period.ALL, Scope.global_()), "all")


@pytest.fixture(scope="session")
def fuzz_database(postgres_url: str) -> str:
    from fitboard.adapters.sql import upgrade_database

    run_sync(upgrade_database(postgres_url))
    return postgres_url


@dataclass
class Worker:
    container: Container
    task: asyncio.Task[None]


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.production)])
async def worker(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Worker]:
    if request.param == "embedded":
        settings = Settings(mode="embedded", data_dir=tmp_path, jwt_secret=SECRET)
    else:
        settings = Settings(
            mode="production",
            database_url=request.getfixturevalue("fuzz_database"),
            redis_url=SERVICES.redis_url,
            amqp_url=SERVICES.amqp_url,
            jwt_secret=SECRET,
            namespace=f"fuzz-{uuid.uuid4().hex[:12]}",
        )
    container = await build(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(consume_workouts(container, stop))
    try:
        yield Worker(container, task)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)
        if isinstance(container.broker, RabbitBroker):
            for queue in (container.workouts_queue, container.reports_queue):
                await container.broker.delete(queue)
            await container.broker.delete_exchanges()
        await container.close()


async def register(container: Container) -> User:
    return await container.services.athletes.register(
        username=f"fuzz{uuid.uuid4().hex[:10]}",
        password="correct horse battery",
        display_name=None,
        weight_kg=None,
        birth_year=None,
        sex=None,
        timezone=None,
    )


def valid_workouts(athlete: uuid.UUID, now: datetime) -> list[WorkoutSubmission]:
    """An ordinary run, then workouts at the edges of what the rules accept."""
    edges = [
        valid_submission(
            athlete,
            now,
            started_at=now - timedelta(seconds=edge["duration_s"] + 60),
            **edge,
        )
        for edge in collected(valid_edges, GENERATED_VALID)
    ]
    first_day = valid_submission(
        athlete,
        now,
        # The earliest start there may be, written with the largest offset there is.
        started_at=EARLIEST_START.astimezone(timezone(timedelta(hours=14))),
        duration_s=60,
        distance_m=2.0,
    )
    return [valid_submission(athlete, now), *edges, first_day]


async def stored_workouts(container: Container, athlete: uuid.UUID) -> list[Workout]:
    async with container.store.unit_of_work(read_only=True) as uow:
        return await uow.workouts.list_for_user(athlete, 1000, None)


async def board_score(container: Container, key: BoardKey, athlete: uuid.UUID) -> int | None:
    await container.services.boards.ensure_loaded(key)
    return (await container.ranking.scores(key)).get(athlete)


@bounded(300)
async def test_bad_messages_are_dead_lettered_at_once_and_the_worker_carries_on(
    worker: Worker,
) -> None:
    container = worker.container
    broker = container.broker
    ada = await register(container)
    now = container.clock.now()

    # message id -> (body, words its reason must contain, the workout id it carries)
    bad: dict[str, tuple[bytes, str, str]] = {}
    for index, case in enumerate(BAD_CASES):
        base = valid_body(ada.id, now)
        bad[f"bad-{index}-{case.name}"] = (case.build(base), case.reason, base["id"])
    generated = collected(bad_bodies(valid_body(ada.id, now)), GENERATED_BAD)
    for index, body in enumerate(generated):
        bad[f"generated-{index}"] = (body, "", "")
    for message_id, (body, _reason, _id) in bad.items():
        await broker.publish(message(body, message_id))

    # Sent after every bad message: the worker must still be consuming.
    good = valid_workouts(ada.id, now)
    for submission in good:
        await broker.publish(submission_message(submission))

    async def settled() -> list[DeadLetter]:
        async with asyncio.timeout(WAIT_S):
            while True:
                assert not worker.task.done(), "the worker stopped"
                # Every message dead-lettered or stored: right or wrong, each is settled.
                letters = await broker.dead_letters(container.workouts_queue, len(bad) + 10)
                stored = await stored_workouts(container, ada.id)
                if len(letters) + len(stored) >= len(bad) + len(good):
                    return letters
                await asyncio.sleep(0.2)

    letters = await settled()

    by_id = {letter.message.message_id: letter for letter in letters}
    assert sorted(by_id) == sorted(bad), "every bad message is dead-lettered, once"
    for message_id, (body, reason, _id) in bad.items():
        letter = by_id[message_id]
        assert letter.message.body == body
        assert letter.attempts == 1, f"{message_id} was retried: {letter.reason}"
        assert reason in letter.reason, f"{message_id}: {letter.reason}"
        assert letter.reason.startswith(
            ("malformed workout message: ", "invalid workout: ", "unsupported message schema")
        ), f"{message_id}: {letter.reason}"

    # The record holds exactly the valid workouts, none of the bad ones.
    stored = await stored_workouts(container, ada.id)
    assert sorted(w.id for w in stored) == sorted(s.id for s in good)
    assert {w.id: w.submission for w in stored} == {s.id: s for s in good}
    async with container.store.unit_of_work(read_only=True) as uow:
        for _body, _reason, workout_id in bad.values():
            if workout_id:
                assert await uow.workouts.get(uuid.UUID(workout_id)) is None

    # The boards show what the valid workouts add up to, and nothing else.
    counted = [w for w in stored if w.status is WorkoutStatus.PROCESSED]
    assert counted, "some valid workouts count on the boards"
    assert await board_score(container, WORKOUTS, ada.id) == len(counted)
    assert await board_score(container, DISTANCE, ada.id) == round(
        sum(w.submission.distance_m or 0.0 for w in counted)
    )
