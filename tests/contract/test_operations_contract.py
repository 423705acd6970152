"""What `fitboard status` reads, on every adapter: a queue's depth without touching a
message, the boards an index holds and the largest of them, the record's size."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from uuid import UUID

from fitboard.adapters.sql import SqlStore
from fitboard.application.boards.ports import RankingIndex
from fitboard.application.messaging.ports import Message
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    Scope,
    Standing,
    VersionedStanding,
)

from .queue_adapters import WAIT_S, QueueHarness, bounded, queues_fixture
from .ranking_adapters import ranking_fixture
from .store_adapters import migrated_postgres_url_fixture, store_fixture, store_url_fixture

__all__ = [
    "migrated_postgres_url_fixture",
    "queues_fixture",
    "ranking_fixture",
    "store_fixture",
    "store_url_fixture",
]

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)


def board(period_key: str) -> BoardKey:
    return BoardKey(BoardId(Metric.POINTS, Period.DAY, Scope.global_()), period_key)


def entries(count: int) -> list[VersionedStanding]:
    return [VersionedStanding(Standing(UUID(int=n + 1), 10 * n, T0), 1) for n in range(count)]


def submitted() -> Message:
    return Message("workout.submitted", b"{}", str(uuid.uuid4()))


@bounded()
async def test_depth_counts_what_waits_where_without_touching_it(queues: QueueHarness) -> None:
    spec = await queues.declare("workouts", ("workout.submitted",), retry_delays_s=(30.0,))
    for _ in range(4):
        await queues.broker.publish(submitted())
    empty_before = await queues.broker.depth(spec)
    assert (empty_before.ready, empty_before.retrying, empty_before.dead_letters) == (4, 0, 0)

    consumer = queues.consumer(spec, prefetch=3)
    held = [await consumer.next() for _ in range(3)]
    await held[0].retry("redis down", delay_s=30.0, counted=False)
    await held[1].dead_letter("distance_m: must not be negative")
    # Until the dead letter is counted; not by listing it first: a listing hands back
    # what it read, and RabbitMQ counts a message handed back only once its requeue is
    # committed (adapters/queue_rabbitmq.py, `depth`).
    async with asyncio.timeout(WAIT_S):
        while True:
            depth = await queues.broker.depth(spec)
            if depth.dead_letters >= 1:
                break
            await asyncio.sleep(0.05)
    # One still ready (the consumer may hold it already: RabbitMQ counts prefetched
    # messages as unacked, not ready), one waiting out its retry, one dead.
    assert depth.retrying == 1
    assert depth.dead_letters == 1
    if depth.in_flight is not None:  # the SQLite queue knows its leases
        assert depth.ready + depth.in_flight == 2
    else:
        assert depth.ready <= 1
        assert depth.consumers == 1
    # Looking moved nothing: the held one is still ours to settle.
    await held[2].ack()


async def test_stats_name_the_largest_boards(ranking: RankingIndex) -> None:
    sizes = {"2026-11-16": 3, "2026-11-17": 7, "2026-11-18": 5}
    for period_key, count in sizes.items():
        await ranking.load(board(period_key), entries(count))
    stats = await ranking.stats(largest=2)
    assert stats.boards == 3
    assert stats.largest == [(board("2026-11-17"), 7), (board("2026-11-18"), 5)]
    if stats.shared:
        assert stats.memory_bytes is not None
        assert stats.memory_bytes > 0


async def test_the_record_knows_its_size(store: SqlStore) -> None:
    assert await store.size_bytes() > 0
