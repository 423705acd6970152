"""The workers' queue split in partitions (FITBOARD_WORKOUT_PARTITIONS), as separate
processes on the real PostgreSQL, Redis and RabbitMQ: each athlete's workouts are
processed by one worker, every partition has one, and a worker that dies has its
partitions taken over, with the invariant of ../shared/ARCHITECTURE.md holding."""

from __future__ import annotations

import re
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fitboard.application.messaging.partitions import partition_of, partitions_of

from ..contract.queue_adapters import bounded
from .processes import (
    Athlete,
    Deployment,
    Sent,
    Service,
    deployment,
    eventually,
    load_boards,
    started_at_for_tests,
)
from .test_production_faults import accepted, plan_for

pytestmark = pytest.mark.production

PROCESSED = re.compile(r"workout ([0-9a-f-]{36}) processed:")
OWNS = re.compile(r"worker consumes (\d+) of (\d+) partitions: ([0-9, ]+|none)")


@pytest.fixture
async def fleet(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with deployment(tmp_path, partitions=2) as d:
        yield d


def owned_now(worker: Service) -> set[int]:
    """The partitions the worker said last that it consumes."""
    lines = OWNS.findall(worker.output())
    if not lines:
        return set()
    listed = lines[-1][2]
    return set() if listed == "none" else {int(p) for p in listed.split(", ")}


async def partition_consumers(fleet: Deployment) -> list[int]:
    stats = await fleet.queue_stats(p.name for p in fleet.queue_partitions)
    return [stats[p.name].consumers for p in fleet.queue_partitions]


async def wait_dealt(fleet: Deployment, workers: list[Service]) -> None:
    """Until the workers' partitions are disjoint and cover them all, and the broker shows
    one consumer on each partition."""

    async def dealt() -> bool:
        owned = [owned_now(w) for w in workers]
        every = set(range(fleet.partitions))
        disjoint = sum(len(o) for o in owned) == len(every)
        return (
            disjoint
            and set().union(*owned) == every
            and (await partition_consumers(fleet) == [1] * fleet.partitions)
        )

    await eventually(dealt, within_s=30, every_s=0.2)


async def athletes_in_every_partition(fleet: Deployment, each: int) -> list[Athlete]:
    """Athletes registered until every partition has `each` of them (ids are random)."""
    placed: dict[int, list[Athlete]] = {p: [] for p in range(fleet.partitions)}
    while any(len(a) < each for a in placed.values()):
        athlete = await fleet.register("p")
        placed[partition_of(athlete.id.int, fleet.partitions)].append(athlete)
    return [athlete for p in placed.values() for athlete in p[:each]]


def processed_ids(worker: Service) -> set[uuid.UUID]:
    return {uuid.UUID(found) for found in PROCESSED.findall(worker.output())}


@bounded(150)
async def test_each_athletes_workouts_are_processed_by_one_worker(fleet: Deployment) -> None:
    """Two workers, two partitions: one each, and every athlete's workouts (submitted
    interleaved with everybody else's) all processed by the same worker. On one queue
    shared by both, the same plan has most athletes' workouts on both workers."""
    await fleet.start(workers=2)
    await wait_dealt(fleet, fleet.workers)
    athletes = await athletes_in_every_partition(fleet, each=3)
    moment = started_at_for_tests()
    boards = await load_boards(fleet, athletes[0], moment)
    sent = accepted(await fleet.submit_many(plan_for(dict.fromkeys(athletes, 15), seed=5), moment))
    await fleet.wait_drained(s.id for s in sent)
    await eventually(
        lambda: len(set().union(*(processed_ids(w) for w in fleet.workers))) >= len(sent),
        within_s=30,
    )

    by_worker = [processed_ids(w) for w in fleet.workers]
    for athlete in athletes:
        theirs = {s.id for s in sent if s.athlete == athlete}
        workers = [n for n, ids in enumerate(by_worker) if ids & theirs]
        assert len(workers) == 1, (athlete.username, workers)
    # Both took part: the athletes fell in both partitions.
    assert all(by_worker), [len(ids) for ids in by_worker]
    await fleet.stop_workers()
    await fleet.check_invariant(sent, boards=boards)


@bounded(180)
async def test_a_killed_workers_partition_is_taken_over_and_nothing_is_lost(
    fleet: Deployment,
) -> None:
    """SIGKILL one of two workers holding a backlog: its roster slot goes with its
    database session, the survivor consumes both partitions, and every 202'd workout is
    in the record once."""
    await fleet.start(workers=0)
    athletes = await athletes_in_every_partition(fleet, each=3)
    moment = started_at_for_tests()
    boards = await load_boards(fleet, athletes[0], moment)
    first = accepted(await fleet.submit_many(plan_for(dict.fromkeys(athletes, 20), seed=6), moment))
    # The backlog waits in the partitions; `fitboard status` counts it with the queue's.
    stats = await fleet.queue_stats(p.name for p in fleet.queue_partitions)
    in_partitions = sum(s.ready for s in stats.values())
    assert in_partitions > 0
    assert await fleet.ready(fleet.queue.name) == 0
    code, status = await fleet.cli("status")
    assert code == 0, status
    assert re.search(rf"messages waiting for a worker\s*│?\s*{in_partitions}\b", status), status
    victim = await fleet.start_worker()
    survivor = await fleet.start_worker()
    await wait_dealt(fleet, [victim, survivor])
    await eventually(lambda: bool(processed_ids(victim)), within_s=30)

    victim.send(signal.SIGKILL)
    assert await victim.wait_exit(10) == -signal.SIGKILL
    await eventually(lambda: owned_now(survivor) == {0, 1}, within_s=30, every_s=0.2)
    more = accepted(await fleet.submit_many(plan_for(dict.fromkeys(athletes, 5), seed=7), moment))
    sent: list[Sent] = first + more
    await fleet.wait_drained(s.id for s in sent)

    assert survivor.alive
    assert await partition_consumers(fleet) == [1, 1]
    await fleet.stop_workers()
    await fleet.check_invariant(sent, boards=boards)


@bounded(150)
async def test_lowering_the_partitions_strands_no_workout(tmp_path: Path) -> None:
    """Workouts queued in 2 partitions, then the API and a worker restarted unsplit: the
    worker finds the partitions left by the larger setting and drains them too."""
    async with deployment(tmp_path, partitions=2) as fleet:
        await fleet.start(workers=0)
        athletes = await athletes_in_every_partition(fleet, each=2)
        moment = started_at_for_tests()
        boards = await load_boards(fleet, athletes[0], moment)
        before = accepted(
            await fleet.submit_many(plan_for(dict.fromkeys(athletes, 10), seed=8), moment)
        )
        assert fleet.api is not None
        fleet.api.send(signal.SIGTERM)
        # uvicorn ends by the signal it was sent, once it has shut down.
        assert await fleet.api.wait_exit(20) in (0, -signal.SIGTERM)
        fleet.partitions = 1
        await fleet.start(workers=1)
        after = accepted(
            await fleet.submit_many(plan_for(dict.fromkeys(athletes, 5), seed=9), moment)
        )
        sent = before + after
        await eventually(
            lambda: "left by a larger setting" in fleet.workers[0].output(), within_s=30
        )
        await fleet.wait_drained(s.id for s in sent)
        # The left partitions are empty, and were consumed by the worker.
        stats = await fleet.queue_stats(p.name for p in partitions_of(fleet.queue, 2))
        assert [s.ready for s in stats.values()] == [0, 0]
        await fleet.stop_workers()
        fleet.partitions = 2  # so that the teardown removes the partitions too
        await fleet.check_invariant(sent, boards=boards)
