"""Production mode under faults, as separate processes: `fitboard serve`, several
`fitboard worker`s, the real PostgreSQL, Redis and RabbitMQ.

Each test breaks something for real (SIGKILL, SIGTERM, `rabbitmqctl stop_app`, FLUSHDB,
poison messages) and then checks the invariant of ../shared/ARCHITECTURE.md on the stores
themselves (`Deployment.check_invariant`): every 202'd workout in the record exactly once,
the rollups counting each once, and `fitboard reconcile` reporting no difference. The last
check of each test comes after the workers were stopped with SIGTERM (and exited 0): then
nothing is in a worker's hands, and what the stores show is final.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import aio_pika
import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import Message, QueueSpec
from fitboard.application.ports import QueueUnavailable
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED, submission_message
from fitboard.domain.activities import Activity
from fitboard.domain.workouts import WorkoutSubmission
from tests.services.session import SERVICES

from ..contract.queue_adapters import Consumer, bounded
from .processes import (
    Athlete,
    Deployment,
    Sent,
    deployment,
    eventually,
    flush_redis,
    load_boards,
    period_keys,
    started_at_for_tests,
)

pytestmark = pytest.mark.production

PROCESSED_LINE = re.compile(r"workout [0-9a-f-]{36} processed:")
# How long the broker stays down in the outage test.
OUTAGE_S = 8.0


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deployment(tmp_path) as d:
        yield d


def accepted(sent: list[Sent]) -> list[Sent]:
    assert all(s.status_code == 202 for s in sent), [s.status_code for s in sent]
    return sent


def plan_for(counts: dict[Athlete, int], seed: int) -> list[Athlete]:
    """One entry per workout, shuffled so the same athlete's workouts arrive interleaved
    with everybody else's and land on both workers at once."""
    plan = [athlete for athlete, n in counts.items() for _ in range(n)]
    random.Random(seed).shuffle(plan)
    return plan


def sums(sent: list[Sent]) -> dict[uuid.UUID, tuple[int, int, int]]:
    """Per athlete: (workouts, duration s, distance m) of what was accepted."""
    out: dict[uuid.UUID, tuple[int, int, int]] = {}
    for s in sent:
        n, d, m = out.get(s.athlete.id, (0, 0, 0))
        out[s.athlete.id] = (n + 1, d + s.duration_s, m + s.distance_m)
    return out


async def assert_boards_show(
    fleet: Deployment, viewer: Athlete, moment: datetime, sent: list[Sent]
) -> None:
    """The boards, read through the API, show exactly the sums that were submitted, ranked
    highest first."""
    keys = period_keys(moment)
    expected = sums(sent)
    for metric, period, scope, index in (
        ("workouts", "week", "global", 0),
        ("duration", "week", "global", 1),
        ("distance", "all", "activity:run", 2),
        ("duration", "all", "global", 1),
    ):
        entries = await fleet.board(viewer, metric, period, keys[period], scope)
        assert {user: score for _, user, score in entries} == {
            user: totals[index] for user, totals in expected.items()
        }, (metric, period, scope)
        scores = [score for _, _, score in entries]
        assert scores == sorted(scores, reverse=True)
        # Standard competition ranking: a rank is one more than the count of higher scores.
        assert [rank for rank, _, _ in entries] == [
            1 + sum(other > score for other in scores) for score in scores
        ]


def processed_by(worker_output: str) -> int:
    return len(PROCESSED_LINE.findall(worker_output))


@bounded(120)
async def test_two_workers_process_concurrent_workouts_of_one_athlete(fleet: Deployment) -> None:
    """Two competing workers, ~150 workouts submitted at once, most for the same athlete:
    each is in the record once, and no board keeps a stale total."""
    await fleet.start(workers=2)
    ada, bo, cy = [await fleet.register(name) for name in ("ada", "bo", "cy")]
    moment = started_at_for_tests()
    boards = await load_boards(fleet, ada, moment)

    sent = accepted(await fleet.submit_many(plan_for({ada: 100, bo: 30, cy: 20}, seed=1), moment))
    await fleet.wait_drained(s.id for s in sent)

    # A worker logs a batch's workouts after its commit (and its boards and live push), so
    # the record can hold a batch whose lines are not written yet: wait for them.
    with contextlib.suppress(TimeoutError):
        await eventually(
            lambda: sum(processed_by(w.output()) for w in fleet.workers) >= len(sent),
            within_s=30,
        )
    # Both workers took part, so same-athlete workouts really were processed concurrently.
    for worker in fleet.workers:
        assert processed_by(worker.output()) > 0, worker.name
    assert sum(processed_by(w.output()) for w in fleet.workers) >= len(sent)
    await fleet.stop_workers()
    await fleet.check_invariant(sent, boards=boards)
    await assert_boards_show(fleet, ada, moment, sent)


@bounded(120)
async def test_worker_killed_mid_stream_loses_nothing_and_counts_nothing_twice(
    fleet: Deployment,
) -> None:
    """SIGKILL a worker while it holds messages; a new worker takes over."""
    await fleet.start(workers=0)
    ada, bo, cy = [await fleet.register(name) for name in ("ada", "bo", "cy")]
    moment = started_at_for_tests()
    boards = await load_boards(fleet, ada, moment)
    # A backlog first, so that each worker is handed a full prefetch at once.
    first = accepted(await fleet.submit_many(plan_for({ada: 60, bo: 25, cy: 15}, seed=2), moment))
    victim = await fleet.start_worker()
    survivor = await fleet.start_worker()
    await fleet.wait_processed((s.id for s in first), at_least=15)
    # The victim has done some work (so it is consuming and holds a prefetch).
    await eventually(lambda: processed_by(victim.output()) > 0, within_s=30)

    victim.send(signal.SIGKILL)
    assert await victim.wait_exit(10) == -signal.SIGKILL
    in_record = len({s.id for s in first} & set(await fleet.record()))
    assert in_record < len(first), "the stream was over before the kill; nothing was tested"

    # More traffic while the survivor works through what the victim held, then a new worker.
    more = accepted(await fleet.submit_many(plan_for({ada: 30, bo: 10, cy: 10}, seed=3), moment))
    await fleet.start_worker()
    sent = first + more
    await fleet.wait_drained(s.id for s in sent)

    assert survivor.alive
    await fleet.stop_workers()
    await fleet.check_invariant(sent, boards=boards)
    await assert_boards_show(fleet, ada, moment, sent)


async def submit_while_down(fleet: Deployment, athlete: Athlete, moment: datetime) -> list[Sent]:
    """Submissions during the outage, one at a time and several at once, for
    OUTAGE_S: long enough for the API's robust connection to be in its reconnection loop
    and for the workers' consumers to reach their longest reconnection backoff."""
    answers: list[Sent] = []
    until = time.monotonic() + OUTAGE_S
    while time.monotonic() < until:
        answers.append(
            await fleet.submit(athlete, started_at=moment, duration_s=900, distance_m=2000)
        )
        answers += await fleet.submit_many([athlete] * 3, moment)
        # Paced: the point is to keep asking through the outage, not to load the API.
        await asyncio.sleep(0.25)
    return answers


@bounded(180)
async def test_rabbitmq_outage_answers_503_and_everything_recovers_by_itself(
    fleet: Deployment,
) -> None:
    """`rabbitmqctl stop_app`: ingest answers 503 + Retry-After while the broker is down,
    never 202, and /readyz is 503. After `start_app` the same API and worker processes
    accept and consume again, without a restart."""
    await fleet.start(workers=2)
    ada, bo = [await fleet.register(name) for name in ("ada", "bo")]
    moment = started_at_for_tests()
    boards = await load_boards(fleet, ada, moment)
    before = accepted(await fleet.submit_many(plan_for({ada: 15, bo: 15}, seed=4), moment))
    await fleet.wait_drained(s.id for s in before)
    # Accepted just before the outage: possibly still queued when the broker stops.
    in_flight = accepted(await fleet.submit_many(plan_for({ada: 10, bo: 10}, seed=5), moment))
    pids = [w.pid for w in fleet.workers]
    assert fleet.api is not None
    api_pid = fleet.api.pid

    refused: list[Sent] = []
    try:
        await fleet.stop_broker()
        refused = await submit_while_down(fleet, ada, moment)
        readyz = await fleet.client.get("/readyz")
    finally:
        await fleet.start_broker()

    for answer in refused:
        assert answer.status_code == 503
        assert answer.retry_after is not None
        assert int(answer.retry_after) > 0
    # Answered while the broker was still down: a request waiting for the broker instead of
    # giving up at the confirm timeout would have been answered only after start_app (and
    # with a 202), so the 503s above are the bound. How long they took is not asserted:
    # no test fails on a timing.
    assert refused
    assert readyz.status_code == 503
    assert readyz.json()["checks"]["queue"].startswith("unavailable")

    # Ingest recovers by itself: the first 202 comes within the robust reconnection.
    recovered: list[Sent] = []
    deadline = time.monotonic() + 60
    while not recovered:
        answer = await fleet.submit(ada, started_at=moment, duration_s=901, distance_m=2001)
        if answer.status_code == 202:
            recovered.append(answer)
        else:
            assert time.monotonic() < deadline, "ingest did not recover within 60 s"
            refused.append(answer)
    recovered += accepted(await fleet.submit_many(plan_for({ada: 10, bo: 10}, seed=6), moment))
    await fleet.wait_ready()

    # The consumers come back by themselves: the same processes, each consuming again.
    await fleet.wait_consumers(2, within_s=60)
    assert [w.pid for w in fleet.workers] == pids
    assert all(w.alive for w in fleet.workers)
    assert fleet.api.pid == api_pid
    assert fleet.api.alive
    sent = before + in_flight + recovered
    await fleet.wait_drained(s.id for s in sent)
    await fleet.stop_workers()
    await fleet.check_invariant(sent, also_allowed={s.id for s in refused}, boards=boards)


@bounded(120)
async def test_redis_flush_rebuilds_boards_on_read_with_the_same_ranks(fleet: Deployment) -> None:
    """FLUSHDB: every board is rebuilt from PostgreSQL on its next read, with the same ranks,
    scores and tie order; a worker writing into a flushed board does not make it stale."""
    await fleet.start(workers=2)
    ada, bo, cy, di = [await fleet.register(name) for name in ("ada", "bo", "cy", "di")]
    moment = started_at_for_tests()
    boards = await load_boards(fleet, ada, moment)
    # bo and cy tie on the workouts board: the tie order must survive the rebuild too.
    sent = accepted(
        await fleet.submit_many(plan_for({ada: 12, bo: 8, cy: 8, di: 3}, seed=7), moment)
    )
    await fleet.wait_drained(s.id for s in sent)
    await fleet.check_invariant(sent, boards=boards)

    keys = period_keys(moment)
    shown = [
        ("workouts", "week", "global"),
        ("duration", "all", "global"),
        ("distance", "month", "activity:run"),
        ("calories", "day", "global"),
        ("points", "year", "activity:run"),
    ]

    async def read_all() -> list[list[tuple[int, uuid.UUID, int]]]:
        return [await fleet.board(ada, m, p, keys[p], s) for m, p, s in shown]

    before = await read_all()
    assert all(len(entries) == 4 for entries in before)
    await flush_redis()
    assert await read_all() == before
    await fleet.reconcile(at_least_boards=len(shown))

    # Flushed again, then a worker projects into boards that are no longer loaded: the
    # next read must still rebuild them from the record rather than serve a partial board.
    await flush_redis()
    late = accepted(await fleet.submit_many([di] * 12, moment))
    await fleet.wait_drained(s.id for s in late)
    await assert_boards_show(fleet, ada, moment, sent + late)
    await fleet.stop_workers()
    await fleet.check_invariant(sent + late, boards=4)


def poison_messages(unknown_athlete: uuid.UUID, moment: datetime) -> dict[str, bytes]:
    """message id -> body: bytes that are not JSON, and a well-formed submission (built by
    the product's own encoder) for an athlete who does not exist."""
    ghost_workout = WorkoutSubmission(
        id=uuid.uuid4(),
        user_id=unknown_athlete,
        activity=Activity.RUN,
        started_at=moment,
        duration_s=1800,
        # Sent when it ended: a workout may not end after its own submission.
        submitted_at=moment + timedelta(seconds=1800),
        distance_m=5000.0,
    )
    valid = submission_message(ghost_workout)
    json.loads(valid.body)  # it really is valid JSON
    return {"poison-not-json": b"\x00\xffnot json{", valid.message_id: valid.body}


@bounded(120)
async def test_poison_messages_are_dead_lettered_with_a_reason_and_workers_carry_on(
    fleet: Deployment,
) -> None:
    await fleet.start(workers=2)
    ada = await fleet.register("ada")
    moment = started_at_for_tests()
    boards = await load_boards(fleet, ada, moment)
    good = accepted(await fleet.submit_many([ada] * 10, moment))

    unknown = uuid.uuid4()
    poison = poison_messages(unknown, moment)
    connection = await aio_pika.connect(SERVICES.amqp_url)
    try:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(fleet.namespace)
        for message_id, body in poison.items():
            await exchange.publish(
                aio_pika.Message(
                    body,
                    message_id=message_id,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                ),
                routing_key=WORKOUT_SUBMITTED,
                mandatory=True,
            )
    finally:
        await connection.close()
    good += accepted(await fleet.submit_many([ada] * 10, moment))

    await fleet.wait_drained(s.id for s in good)
    dlq = f"{fleet.queue.name}.dlq"

    async def buried() -> bool:
        return await fleet.ready(dlq) == len(poison)

    await eventually(buried, within_s=30)
    code, listing = await fleet.cli("dead-letters", "list")
    assert code == 0, listing
    assert f"{len(poison)} dead letters" in listing
    for message_id in poison:
        assert message_id in listing
    assert "malformed workout message" in listing
    assert f"no athlete with id {unknown}" in listing
    # Listing consumed nothing.
    assert await fleet.ready(dlq) == len(poison)

    assert all(w.alive for w in fleet.workers)
    await fleet.stop_workers()
    await fleet.check_invariant(good, boards=boards)
    await assert_boards_show(fleet, ada, moment, good)


@bounded(120)
async def test_sigterm_settles_what_the_worker_holds_and_exits_cleanly(fleet: Deployment) -> None:
    """SIGTERM while a worker holds messages: it finishes and acks those, exits 0 within
    the bound, and the rest of the backlog is processed after a restart."""
    await fleet.start(workers=0)
    ada, bo = [await fleet.register(name) for name in ("ada", "bo")]
    moment = started_at_for_tests()
    boards = await load_boards(fleet, ada, moment)
    sent = accepted(await fleet.submit_many(plan_for({ada: 70, bo: 30}, seed=8), moment))

    worker = await fleet.start_worker()
    await fleet.wait_processed((s.id for s in sent), at_least=10)
    worker.send(signal.SIGTERM)
    assert await worker.wait_exit(20) == 0
    output = worker.output()
    assert "worker stopped" in output
    # What it had in hand was settled on its own channel, not left for redelivery.
    assert "outlived its channel" not in output
    assert "could not settle" not in output
    assert "Traceback" not in output
    stopped_at = len({s.id for s in sent} & set(await fleet.record()))
    assert stopped_at < len(sent), "the backlog was done before SIGTERM; nothing was tested"

    await fleet.start_worker()
    await fleet.wait_drained(s.id for s in sent)
    await fleet.stop_workers()
    await fleet.check_invariant(sent, boards=boards)
    await assert_boards_show(fleet, ada, moment, sent)


@bounded(60)
async def test_a_delivery_that_cannot_be_settled_goes_back_to_its_queue(amqp_url: str) -> None:
    """What the outage test found, made deterministic. After a broker restart a worker's
    consumer (a connection of its own) can be back before its publishing connection; a
    delivery whose retry or dead-letter copy cannot be published then must go back to the
    queue, not stay unacked on the live channel until the worker restarts."""
    suffix = uuid.uuid4().hex[:10]
    broker = RabbitBroker(amqp_url, exchange=f"fitboard.test.{suffix}", confirm_timeout_s=2.0)
    spec = QueueSpec(f"workouts.{suffix}", (WORKOUT_SUBMITTED,), max_attempts=5)
    await broker.declare(spec)
    consumer = Consumer(broker, spec, prefetch=1)
    try:
        await broker.publish(Message(WORKOUT_SUBMITTED, b"{}", "stuck-1"))
        delivery = await consumer.next()
        # Publishing to the dead-letter exchange fails from now on, consuming does not.
        connection = await aio_pika.connect(amqp_url)
        try:
            channel = await connection.channel()
            await channel.exchange_delete(f"fitboard.test.{suffix}.dlx")
        finally:
            await connection.close()
        with pytest.raises(QueueUnavailable):
            await delivery.dead_letter("poison")

        again = await consumer.next(timeout_s=15)
        assert again.message.message_id == "stuck-1"
        assert again.attempt == delivery.attempt + 1
        # Once publishing works again, settling it does too.
        await broker.declare(spec)
        await again.dead_letter("poison")
        [letter] = await broker.dead_letters(spec)
        assert letter.message.message_id == "stuck-1"
        assert letter.reason == "poison"
    finally:
        await consumer.stop()
        await broker.delete(spec)
        await broker.delete_exchanges()
        await broker.close()
