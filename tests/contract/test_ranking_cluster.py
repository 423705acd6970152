"""What only the Redis Cluster has: one node that lost its data and its scripts (a
restart without persistence) while the others kept theirs. The boards of that node are
"not loaded" and rebuilt, the others stay loaded, and a batch of projections spanning
every node is refused by that node alone (NOSCRIPT) and sent again to it, once the
scripts are loaded. Runs on the session's 3-node cluster (tests/services/session.py)."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime
from uuid import UUID

import pytest

from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.adapters.redis_client import redis_client
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    Scope,
    ScoreUpdate,
    Standing,
    VersionedStanding,
)
from tests.services.redis_cluster import PrivateRedisCluster
from tests.services.session import SERVICES

from .queue_adapters import bounded

pytestmark = pytest.mark.production

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
# Enough board instances that every node of three serves some.
BOARDS = [
    BoardKey(BoardId(metric, period, Scope.global_()), key)
    for metric in Metric
    for period, key in ((Period.WEEK, "2026-W47"), (Period.MONTH, "2026-11"), (Period.ALL, "all"))
]
ATHLETE = UUID(int=7)


def z_key(key: BoardKey) -> str:
    """The board's sorted set, as adapters/ranking_redis.py names it."""
    board = key.board
    tag = f"board:{board.metric.value}:{board.period.value}:{board.scope}:{key.period_key}"
    return f"fitboard:{{{tag}}}:2:z"


@pytest.fixture
async def cluster() -> PrivateRedisCluster:
    """The session's cluster, emptied first."""
    cluster = SERVICES.redis_cluster
    client = redis_client(cluster.url, timeout_s=5.0)
    try:
        await client.flushdb()  # every primary
    finally:
        await client.aclose()
    return cluster


@bounded(60)
async def test_a_node_that_lost_its_data_and_scripts(cluster: PrivateRedisCluster) -> None:
    ranking = RedisRanking(redis_client(cluster.url, timeout_s=5.0))
    try:
        for key in BOARDS:
            await ranking.load(key, [VersionedStanding(Standing(ATHLETE, 10, T0), 1)])
        nodes = {key: await cluster.node_of(z_key(key)) for key in BOARDS}
        emptied = nodes[BOARDS[0]]
        assert len(set(nodes.values())) == len(cluster.nodes), "some node holds no board"
        # That node restarts empty: no keys, no scripts.
        plain = cluster.nodes[emptied].client()
        try:
            await plain.flushall()
            await plain.script_flush()
        finally:
            await plain.aclose()

        assert {key for key in BOARDS if not await ranking.is_loaded(key)} == {
            key for key in BOARDS if nodes[key] == emptied
        }
        # The emptied node's boards are being rebuilt (their rebuild locks held, in key
        # order), so they take the batch's writes, versioned, and report no standings.
        rebuilt = sorted(key for key in BOARDS if nodes[key] == emptied)
        async with AsyncExitStack() as locks:
            for key in rebuilt:
                await locks.enter_async_context(ranking.rebuild_lock(key))
            # One batch over every node: the emptied node refuses it (NOSCRIPT) and gets it
            # again; the others take it once (a second run of theirs would report the
            # standing before as the one after).
            projected = await ranking.project(
                ATHLETE, 2, [ScoreUpdate(key, 25, T0) for key in BOARDS], behind=0
            )
            for done in projected:
                if nodes[done.key] == emptied:
                    # Not loaded: a projection reads nothing from it.
                    assert (done.before, done.after) == (None, None)
                else:
                    assert done.before is not None
                    assert done.before.score == 10
                    assert done.after is not None
                    assert done.after.score == 25
            assert all([(await ranking.scores(key)) == {ATHLETE: 25} for key in BOARDS])
            # Reloading the emptied node's boards makes them whole again.
            for key in rebuilt:
                await ranking.load(key, [VersionedStanding(Standing(ATHLETE, 25, T0), 2)])
        assert all([await ranking.is_loaded(key) for key in BOARDS])
        assert sorted(await ranking.loaded_keys()) == sorted(BOARDS)
    finally:
        await ranking.close()
