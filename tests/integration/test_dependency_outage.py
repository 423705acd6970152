"""A 202 is a promise, kept through an outage of PostgreSQL or Redis under load.

The API needs neither PostgreSQL nor Redis to accept a workout (only the queue), so it
answers 202 all through an outage of either while the workers cannot process anything.
Each test runs `fitboard serve` and two `fitboard worker`s on a PostgreSQL and a Redis of
its own (tests/services) and the session's RabbitMQ, submits workouts steadily from
several athletes, crashes one dependency under that load, keeps submitting, and starts it
again on the same port. Once the queues are drained: every workout answered 202 is in the
record exactly once, nothing was dead-lettered (a dependency that is down says nothing
about the messages), and the boards equal the record (`Deployment.check_invariant`).

The processes back off over short steps (RETRY_DELAYS_S, given to them as
FITBOARD_WORKER_RETRY_DELAYS_S): what is tested is how the worker's retry policy treats an
outage, which does not depend on how long its steps are, and short steps let a short
outage outlast them. The outage lasts as long as a message that fails when it begins
takes to fail more than MAX_ATTEMPTS times (so, were waiting out an outage counted as a
failed attempt, it would be dead-lettered), and never less than the longest step, plus
OUTAGE_MARGIN_S: every message retried early in the outage has waited out the longest
step at least once while the dependency was still down. Set FITBOARD_TEST_OUTAGE_S to make
it longer (never shorter), e.g. `FITBOARD_TEST_OUTAGE_S=120` for PostgreSQL down for two
minutes; the load is spread over the outage, so the number of workouts stays the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.application.messaging.ports import QueueSpec
from fitboard.application.messaging.retrying import backoff
from fitboard.application.workouts.messages import workouts_queue
from tests.services.postgres import PrivatePostgres, private_postgres
from tests.services.redis import PrivateRedis, private_redis
from tests.services.session import SERVICES

from ..contract.queue_adapters import bounded
from .processes import (
    MAX_ATTEMPTS,
    Athlete,
    Deployment,
    Sent,
    deployment,
    eventually,
    load_boards,
    started_at_for_tests,
)

pytestmark = pytest.mark.production

# The processes' retry backoff steps: the cap is reached within two seconds.
RETRY_DELAYS_S = (0.25, 0.5, 1.0, 2.0)
# Beyond the waits of outage_seconds: time for the deliveries and failed attempts between
# them, which the waits do not count.
OUTAGE_MARGIN_S = 5.0
# The bound of a whole test, beyond the outage itself.
TEST_OVERHEAD_S = 300.0
ATHLETES = ("ada", "bo", "cy", "di", "ed", "flo")
# Rounds of submissions (one workout per athlete each) while the dependency is down,
# spread over the outage whatever its length: 120 workouts.
ROUNDS_DURING_OUTAGE = 20
# Rounds before the outage (so the workers are busy when it starts) and after it.
ROUNDS_AROUND = 5


def outage_seconds(spec: QueueSpec) -> float:
    """The waits of a message that fails `max_attempts` times in a row (each retry's
    backoff), or the cap if that is longer, plus the margin; or FITBOARD_TEST_OUTAGE_S when
    that is longer."""
    waits = sum(backoff(spec, retries) for retries in range(spec.max_attempts))
    derived = max(waits, spec.retry_delays_s[-1]) + OUTAGE_MARGIN_S
    return max(derived, float(os.environ.get("FITBOARD_TEST_OUTAGE_S", "0")))


def drain_seconds(spec: QueueSpec) -> float:
    """How long the backlog may take after the dependency is back: a message may have
    just gone to wait at the cap, then the backlog of the outage is processed."""
    return spec.retry_delays_s[-1] + 90.0


@dataclass
class SteadyLoad:
    """Rounds of submissions, one workout per athlete each, every `every_s`, until
    stopped. Each workout has its own duration and distance, so that a lost or doubled
    one changes the totals the boards show."""

    fleet: Deployment
    athletes: list[Athlete]
    moment: datetime
    every_s: float
    sent: list[Sent] = field(default_factory=list)
    rounds: int = 0

    async def _round(self) -> None:
        base = self.rounds * len(self.athletes)
        answers = await asyncio.gather(
            *(
                self.fleet.submit(
                    athlete,
                    started_at=self.moment,
                    duration_s=600 + base + n,
                    distance_m=1000 + 3 * (base + n),
                )
                for n, athlete in enumerate(self.athletes)
            )
        )
        self.sent += answers
        self.rounds += 1

    async def _run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            began = time.monotonic()
            await self._round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    stop.wait(), max(0.0, self.every_s - (time.monotonic() - began))
                )

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Submitting in the background for as long as the block runs."""
        stop = asyncio.Event()
        task = asyncio.create_task(self._run(stop))
        try:
            yield
        finally:
            stop.set()
            await task

    async def wait_rounds(self, count: int) -> None:
        """Until `count` more rounds have been answered."""
        goal = self.rounds + count
        await eventually(lambda: self.rounds >= goal, within_s=60 + count * self.every_s)


async def dead_lettered(fleet: Deployment) -> set[uuid.UUID]:
    """The workouts whose messages are in the dead letter queue (message id = workout id)."""
    broker = RabbitBroker(SERVICES.amqp_url, exchange=fleet.namespace, confirm_timeout_s=5.0)
    try:
        letters = await broker.dead_letters(fleet.queue, limit=100_000)
    finally:
        await broker.close()
    return {uuid.UUID(letter.message.message_id) for letter in letters}


async def wait_all_stored(fleet: Deployment, accepted: list[Sent], within_s: float) -> None:
    """Until every accepted workout is in the record and no message waits; otherwise fail
    saying how many are missing, how many of those were dead-lettered and how many lost."""
    wanted = {s.id for s in accepted}
    try:
        await fleet.wait_drained(wanted, within_s=within_s)
    except AssertionError as not_drained:
        missing = wanted - set(await fleet.record())
        dead = await dead_lettered(fleet)
        raise AssertionError(
            f"{len(missing)} of {len(wanted)} workouts answered 202 are not in the record "
            f"{within_s:.0f}s after the outage: {len(missing & dead)} dead-lettered, "
            f"{len(missing - dead)} neither stored nor dead-lettered (lost); "
            f"the dead letter queue holds {len(dead)} ({not_drained})"
        ) from None


async def survive_outage(
    fleet: Deployment,
    down: Callable[[], Awaitable[None]],
    up: Callable[[], Awaitable[None]],
    *,
    after_up: Callable[[Athlete, datetime], Awaitable[None]] | None = None,
) -> None:
    """The scenario, for whichever dependency `down` crashes and `up` starts again."""
    await fleet.start(workers=2)
    athletes = [await fleet.register(name) for name in ATHLETES]
    moment = started_at_for_tests()
    boards = await load_boards(fleet, athletes[0], moment)
    outage_s = outage_seconds(fleet.queue)
    load = SteadyLoad(fleet, athletes, moment, every_s=outage_s / ROUNDS_DURING_OUTAGE)

    async with load.running():
        await load.wait_rounds(ROUNDS_AROUND)
        await fleet.wait_processed((s.id for s in load.sent), at_least=1)
        first_down = len(load.sent)
        try:
            await down()
            await asyncio.sleep(outage_s)
            during = load.sent[first_down:]
            backlog = await fleet.waiting()
        finally:
            await up()
        await load.wait_rounds(ROUNDS_AROUND)
    if after_up is not None:
        # While the workers are still working through the backlog of the outage.
        await after_up(athletes[0], moment)

    # Ingest needs the queue only, and RabbitMQ stayed up: every submission was promised,
    # those of the outage too.
    refused = [s for s in load.sent if s.status_code != 202]
    assert not refused, (
        f"{len(refused)} of {len(load.sent)} submissions were refused "
        f"({sum(s in refused for s in during)} of the {len(during)} during the outage)"
    )
    accepted = load.sent
    # What makes the test a test: the workers could not keep up until the dependency
    # returned, so there was a backlog to lose.
    assert during, "nothing was submitted during the outage"
    assert backlog > 0, "no message was waiting when the dependency returned: not tested"

    await wait_all_stored(fleet, accepted, drain_seconds(fleet.queue))
    dead = await dead_lettered(fleet)
    assert not dead, (
        f"{len(dead)} workouts were dead-lettered ({len(dead & {s.id for s in accepted})} "
        "of them answered 202): an outage is no reason to give up on a message"
    )
    await fleet.stop_workers()
    await fleet.check_invariant(accepted, boards=boards)


@pytest.fixture
async def postgres() -> AsyncIterator[PrivatePostgres]:
    async with private_postgres() as server:
        yield server


@pytest.fixture
async def own_redis() -> AsyncIterator[PrivateRedis]:
    async with private_redis() as server:
        yield server


@pytest.fixture
async def fleet(
    tmp_path: Path, postgres: PrivatePostgres, own_redis: PrivateRedis
) -> AsyncIterator[Deployment]:
    async with deployment(
        tmp_path,
        database_url=postgres.database_url,
        redis_url=own_redis.url,
        retry_delays_s=RETRY_DELAYS_S,
    ) as d:
        yield d


def bound() -> float:
    """The whole test's bound, from the queue the workers consume."""
    return outage_seconds(workouts_queue("bound", MAX_ATTEMPTS, RETRY_DELAYS_S)) + TEST_OVERHEAD_S


@bounded(bound())
async def test_postgres_down_under_load_loses_and_dead_letters_nothing(
    fleet: Deployment, postgres: PrivatePostgres
) -> None:
    """PostgreSQL crashes (`pg_ctl stop -m immediate`) and stays down past the longest
    retry delay; ingest goes on. When it is back, everything promised is stored."""
    await survive_outage(fleet, postgres.stop, postgres.start)


@bounded(bound())
async def test_redis_down_under_load_loses_and_dead_letters_nothing(
    fleet: Deployment, own_redis: PrivateRedis
) -> None:
    """Redis is killed and stays down past the longest retry delay; it comes back empty,
    so the boards are read once (rebuilt from the record) while the workers drain the
    backlog into them."""

    async def reload_boards(viewer: Athlete, moment: datetime) -> None:
        # Every read answers 200 at once: the connections the API's pool kept from before
        # the restart are dead, and each request retries on a fresh one
        # (adapters/redis_client.py).
        await load_boards(fleet, viewer, moment)

    await survive_outage(fleet, own_redis.stop, own_redis.start, after_up=reload_boards)
