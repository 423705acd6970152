"""The Redis ranking adapter's key layout 2: members are user ids' 16 raw bytes (any byte,
spaces and zeros included, goes through the load and projection scripts), and the keys of
layout 1 (ids as text, no `:2` marker) are never read as this layout's, and are deleted by
`remove_old_layout`. Runs against the session's private Redis, and its 3-node cluster for
a removal across slots."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from redis.asyncio import Redis

from fitboard.adapters import ranking_redis
from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.adapters.ranking_redis import RedisRanking
from fitboard.adapters.redis_client import redis_client
from fitboard.domain.activities import Activity
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
from tests.services.session import SERVICES

# The fixtures are imported for pytest, which finds `redis` and `ranking` by their names.
from .redis_ranking_fixtures import redis_fixture, redis_ranking_fixture  # noqa: F401

pytestmark = pytest.mark.production

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
ALL = BoardKey(BoardId(Metric.POINTS, Period.ALL, Scope.global_()), "all")
RUN_MONTH = BoardKey(
    BoardId(Metric.DISTANCE, Period.MONTH, Scope.for_activity(Activity.RUN)), "2026-11"
)
WEEK_BASE = "fitboard:{board:calories:week:global:2026-W47}"
ALL_BASE = "fitboard:{board:points:all:global:all}"
RUN_MONTH_BASE = "fitboard:{board:distance:month:activity:run:2026-11}"
# Ids whose bytes hold what the scripts' records are made of (spaces, digits), zeros, and
# bytes that are not UTF-8.
AWKWARD = [
    UUID(bytes=b" " * 16),
    UUID(bytes=b"\x00" * 16),
    UUID(bytes=b"1 2 3 " + b"\xff" * 10),
    UUID(bytes=bytes(range(0x20, 0x30))),
    UUID(bytes=b"\xff" * 15 + b" "),
    UUID(int=7),
]


def standing(user: UUID, score: int, version: int = 1) -> VersionedStanding:
    return VersionedStanding(Standing(user, score, T0 + timedelta(seconds=score % 7)), version)


@pytest.fixture
async def raw(redis_url: str, redis: Redis) -> AsyncIterator[Redis]:
    """A client on the same Redis (emptied by `redis`) that leaves replies as bytes."""
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


async def plant_old_board(
    client: Redis, base: str, users: dict[UUID, int], *, loaded: bool, ttl: int | None = None
) -> list[str]:
    """A board as layout 1 left it under `base`: the ids as text in `:z` and `:v`, and
    `:ready` if `loaded`; every key expiring after `ttl` (a period board's); its keys."""
    names = [f"{base}:z", f"{base}:v"] + ([f"{base}:ready"] if loaded else [])
    await client.zadd(names[0], {str(user): score for user, score in users.items()})
    await client.hset(names[1], mapping={str(user): 1 for user in users})
    if loaded:
        await client.set(names[2], "1")
    if ttl is not None:
        for name in names:
            await client.expire(name, ttl)
    return names


async def test_members_are_the_ids_16_raw_bytes(ranking: RedisRanking, raw: Redis) -> None:
    # Written while the board is being loaded, so it is versioned: the version hash's
    # fields are the ids' bytes too (a loaded board keeps none).
    async with ranking.rebuild_lock(WEEK):
        await ranking.project(AWKWARD[-1], 3, [ScoreUpdate(WEEK, 1, T0)])
        versions = await raw.hgetall(f"{WEEK_BASE}:2:v")
        assert versions == {AWKWARD[-1].bytes: b"3"}
        await ranking.load(WEEK, [standing(u, 10 * n + 5) for n, u in enumerate(AWKWARD[:-1])])

    members = await raw.zrange(f"{WEEK_BASE}:2:z", 0, -1)
    assert sorted(members) == sorted(u.bytes for u in AWKWARD)
    assert {len(m) for m in members} == {16}
    assert not await raw.exists(f"{WEEK_BASE}:2:v")
    # Read back as the ids they are, by every read.
    expected = {u: 10 * n + 5 for n, u in enumerate(AWKWARD[:-1])} | {AWKWARD[-1]: 1}
    assert await ranking.scores(WEEK) == expected
    assert (await ranking.scores_many([WEEK])) == [expected]
    page = await ranking.page(WEEK, 0, 10)
    assert [e.user_id for e in page.entries] == sorted(expected, key=lambda u: -expected[u])


async def test_ids_of_any_bytes_load_project_and_read_as_in_memory(ranking: RedisRanking) -> None:
    """Boards of ids whose bytes hold spaces, digits and zeros, loaded over several script
    calls and projected in batches, read exactly as the in-memory index reads them."""
    rng = random.Random(16)
    users = AWKWARD + [UUID(bytes=rng.randbytes(16)) for _ in range(1500)]
    memory = MemoryRanking()
    loads = [standing(u, rng.randint(1, 400)) for u in users]
    for index in (memory, ranking):
        await index.load(WEEK, loads)
        await index.load(RUN_MONTH, loads[:300])
        await index.load(ALL, loads[:50])
    for version in (2, 3):
        # Every tenth write or so removes the athlete from the board.
        scores = [rng.choice([None, *range(1, 10)]) for _ in range(200 + len(AWKWARD))]
        batch = [
            (u, version, [ScoreUpdate(WEEK, s and 50 * s, T0 if s else None)])
            for u, s in zip(rng.sample(users, 200) + AWKWARD, scores, strict=True)
        ]
        got = await ranking.project_many(batch, behind=3)
        want = await memory.project_many(batch, behind=3)
        assert got == want
    for key in (WEEK, RUN_MONTH, ALL):
        assert await ranking.scores(key) == await memory.scores(key)
        assert await ranking.page(key, 0, 2000) == await memory.page(key, 0, 2000)
    for user in AWKWARD:
        assert await ranking.standing(WEEK, user) == await memory.standing(WEEK, user)
        assert await ranking.around(WEEK, user, 2) == await memory.around(WEEK, user, 2)
        assert await ranking.read_around(WEEK, user, 2) == await memory.read_around(WEEK, user, 2)
        assert await ranking.remove_athlete(user, 9) == await memory.remove_athlete(user, 9)
    assert await ranking.scores(WEEK) == await memory.scores(WEEK)


async def test_a_board_of_the_old_layout_is_not_read_as_loaded(
    ranking: RedisRanking, raw: Redis
) -> None:
    old = await plant_old_board(raw, WEEK_BASE, {UUID(int=1): 50, UUID(int=2): 40}, loaded=True)

    assert not await ranking.is_loaded(WEEK)
    assert await ranking.loaded_keys() == []
    assert await ranking.held_keys() == []
    assert await ranking.read_page(WEEK, 0, 10) is None
    assert await ranking.read_around(WEEK, UUID(int=1), 2) is None
    assert await ranking.scores(WEEK) == {}
    assert await ranking.scores_many([WEEK]) == [{}]
    # A projection goes to this layout's board, which is not loaded: no standings, and,
    # with no load under way, nothing written.
    (projected,) = await ranking.project(UUID(int=3), 1, [ScoreUpdate(WEEK, 45, T0)])
    assert (projected.before, projected.after) == (None, None)
    assert await ranking.scores(WEEK) == {}
    # Being loaded, it is written (versioned); the old layout's keys are not read.
    async with ranking.rebuild_lock(WEEK):
        await ranking.project(UUID(int=3), 1, [ScoreUpdate(WEEK, 45, T0)])
    assert await ranking.scores(WEEK) == {UUID(int=3): 45}
    # Removing an athlete leaves the old layout's keys as they were.
    assert await ranking.remove_athlete(UUID(int=1), 5) == 0
    assert await raw.zscore(old[0], str(UUID(int=1))) == 50
    assert await raw.exists(*old) == 3


async def test_removing_the_old_layout_deletes_its_keys_and_nothing_else(
    ranking: RedisRanking, raw: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Chunks of three keys: progress is told after each.
    monkeypatch.setattr(ranking_redis, "_REMOVE_CHUNK", 3)
    users = {UUID(int=n): n for n in range(1, 5)}
    old = [
        *await plant_old_board(raw, WEEK_BASE, users, loaded=True, ttl=3600),
        # An all-time board: no expiry, it would stay forever.
        *await plant_old_board(raw, ALL_BASE, users, loaded=True),
        # Written by a worker, never loaded.
        *await plant_old_board(raw, RUN_MONTH_BASE, users, loaded=False),
    ]
    kept = [
        # An old rebuild's lock expires by itself (and may be an old process's, held).
        f"{WEEK_BASE}:lock",
        # Another deployment's namespace, and keys this adapter did not write.
        "club-b:{board:calories:week:global:2026-W47}:z",
        "fitboard:{board:kilojoules:week:global:2026-W47}:z",
        "fitboard:{board:calories:week:global:2026-W47}:zz",
        "fitboard:elsewhere:ready",
    ]
    for name in kept:
        await raw.set(name, "x", ex=3600)
    await ranking.load(WEEK, [standing(UUID(int=9), 90)])
    await ranking.load(ALL, [standing(UUID(int=9), 90)])
    ours = sorted(await raw.keys("fitboard:{board:*}:2:*"))
    progress: list[int] = []

    removed = await ranking.remove_old_layout(progress.append)

    assert removed.keys == len(old) == 8
    assert removed.loaded == sorted([WEEK, ALL])
    assert await raw.exists(*old) == 0
    assert sorted(await raw.keys("*")) == sorted([*ours, *(k.encode() for k in kept)])
    assert progress == [0, 3, 6, 8]
    assert await ranking.loaded_keys() == sorted([WEEK, ALL])
    assert await ranking.scores(ALL) == {UUID(int=9): 90}
    # Once removed, nothing is left to remove.
    again = await ranking.remove_old_layout()
    assert (again.keys, again.loaded) == (0, [])


async def test_removing_the_old_layout_on_a_cluster_reaches_every_node() -> None:
    url = SERVICES.redis_cluster_url
    client = redis_client(url, timeout_s=5.0)
    ranking = RedisRanking(redis_client(url, timeout_s=5.0))
    try:
        await client.flushdb()  # every primary
        boards = [
            f"fitboard:{{board:{metric.value}:{period}:global:{key}}}"
            for metric in Metric
            for period, key in (("week", "2026-W47"), ("month", "2026-11"), ("all", "all"))
        ]
        for base in boards:
            # One command a key: a multi-key command cannot span the cluster's slots.
            await client.set(f"{base}:z", "x")
            await client.set(f"{base}:ready", "1")
        await ranking.load(WEEK, [standing(UUID(int=1), 5)])

        removed = await ranking.remove_old_layout()

        assert removed.keys == 2 * len(boards)
        assert len(removed.loaded) == len(boards)
        left = sorted([name async for name in client.scan_iter(match="*")])
        assert left == sorted(f"{WEEK_BASE}:2:{kind}".encode() for kind in ("z", "ready"))
    finally:
        await ranking.close()
        await client.aclose()
