"""The `InFlightWorkouts` contract: the same assertions against SQLite and Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fitboard.adapters import inflight_redis
from fitboard.adapters.inflight_redis import RedisInFlight
from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.redis_client import redis_client
from fitboard.application.ports import QueueUnavailable
from fitboard.application.workouts.ports import InFlightWorkouts
from tests.services.session import SERVICES
from tests.sqlite_refusals import refuse_inserts

from .queue_adapters import bounded

INFLIGHT_ADAPTERS = [
    "sqlite",
    pytest.param("redis", marks=pytest.mark.production),
    pytest.param("redis-cluster", marks=pytest.mark.production),
]

InFlight = SqliteInFlight | RedisInFlight


def _both_implement_the_port(a: SqliteInFlight, b: RedisInFlight) -> list[InFlightWorkouts]:
    """Never called: mypy checks here that both adapters satisfy the port."""
    return [a, b]


def redis_url_of(request: pytest.FixtureRequest, kind: str) -> str | None:
    """The session's Redis, or its Redis Cluster; None for SQLite (which starts neither)."""
    if kind == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    if kind == "redis-cluster":
        return SERVICES.redis_cluster_url
    return None


def open_inflight(kind: str, tmp_path: Path, redis_url: str | None, ttl_s: int) -> InFlight:
    if kind == "sqlite":
        return SqliteInFlight(tmp_path / "queue.db", ttl_s=ttl_s)
    if kind in ("redis", "redis-cluster") and redis_url is not None:
        # A prefix of this test's own: other tests share the session's Redis.
        return RedisInFlight(redis_url, ttl_s=ttl_s, prefix=f"test:{uuid.uuid4().hex}:")
    raise ValueError(f"no in-flight adapter {kind!r}")


@pytest.fixture(name="kind", params=INFLIGHT_ADAPTERS)
def kind_fixture(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture(name="inflight")
async def inflight_fixture(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> AsyncIterator[InFlight]:
    redis_url = redis_url_of(request, kind)
    adapter = open_inflight(kind, tmp_path, redis_url, ttl_s=86400)
    try:
        yield adapter
    finally:
        await adapter.close()


@bounded(30)
async def test_marked_workout_has_its_owner_until_cleared(inflight: InFlight) -> None:
    workout, owner = uuid.uuid4(), uuid.uuid4()
    assert await inflight.owner(workout) is None
    await inflight.mark(workout, owner)
    assert await inflight.owner(workout) == owner
    assert await inflight.owner(uuid.uuid4()) is None
    await inflight.clear_many([workout])
    assert await inflight.owner(workout) is None
    # Clearing twice (a redelivered message) is harmless.
    await inflight.clear_many([workout])


@bounded(30)
async def test_clearing_many_clears_exactly_those(inflight: InFlight) -> None:
    cleared, kept = [uuid.uuid4() for _ in range(3)], uuid.uuid4()
    owner = uuid.uuid4()
    await inflight.mark_many([(w, owner) for w in [*cleared, kept]])
    # One never marked among them, as when a batch holds a replayed message.
    await inflight.clear_many([*cleared, uuid.uuid4()])
    assert [await inflight.owner(w) for w in cleared] == [None, None, None]
    assert await inflight.owner(kept) == owner
    oldest = await inflight.oldest_marked_at()
    assert oldest is not None
    await inflight.clear_many([])
    await inflight.clear_many([kept])
    assert await inflight.owner(kept) is None
    assert await inflight.oldest_marked_at() is None


@bounded(30)
async def test_the_oldest_mark_is_the_longest_waiting_workout(inflight: InFlight) -> None:
    assert await inflight.oldest_marked_at() is None
    first, second = uuid.uuid4(), uuid.uuid4()
    before = datetime.now(UTC)
    await inflight.mark(first, uuid.uuid4())
    await asyncio.sleep(0.05)
    between = datetime.now(UTC)
    await inflight.mark_many([(second, uuid.uuid4())])
    oldest = await inflight.oldest_marked_at()
    assert oldest is not None
    assert before - timedelta(seconds=0.01) <= oldest <= between
    await inflight.clear_many([first])
    oldest = await inflight.oldest_marked_at()
    assert oldest is not None
    assert oldest >= between - timedelta(seconds=0.01)
    await inflight.clear_many([second])
    assert await inflight.oldest_marked_at() is None


@bounded(30)
async def test_marking_again_keeps_one_owner(inflight: InFlight) -> None:
    workout, owner = uuid.uuid4(), uuid.uuid4()
    await inflight.mark(workout, owner)
    await inflight.mark(workout, owner)
    assert await inflight.owner(workout) == owner
    await inflight.clear_many([workout])
    assert await inflight.owner(workout) is None


@bounded(30)
async def test_marks_survive_a_new_client(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    redis_url = redis_url_of(request, kind)
    workout, owner = uuid.uuid4(), uuid.uuid4()
    first = open_inflight(kind, tmp_path, redis_url, ttl_s=86400)
    if isinstance(first, RedisInFlight):
        # The same prefix for both clients, as two processes of one deployment share it.
        second: InFlight = RedisInFlight(redis_url or "", prefix=first.prefix)
    else:
        second = SqliteInFlight(tmp_path / "queue.db")
    try:
        await first.mark(workout, owner)
        await first.close()
        assert await second.owner(workout) == owner
    finally:
        await second.close()


@bounded(30)
async def test_marks_expire_after_their_ttl(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    redis_url = redis_url_of(request, kind)
    inflight = open_inflight(kind, tmp_path, redis_url, ttl_s=1)
    try:
        workout = uuid.uuid4()
        await inflight.mark(workout, uuid.uuid4())
        await asyncio.sleep(1.2)
        assert await inflight.owner(workout) is None
        assert await inflight.oldest_marked_at() is None
    finally:
        await inflight.close()


@bounded(30)
async def test_marks_made_together_are_each_stored(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path
) -> None:
    redis_url = redis_url_of(request, kind)
    first = open_inflight(kind, tmp_path, redis_url, ttl_s=86400)
    batch = [(uuid.uuid4(), uuid.uuid4()) for _ in range(20)]
    single = [(uuid.uuid4(), uuid.uuid4()) for _ in range(20)]
    await first.mark_many(batch)
    # Concurrent marks share writes (group commit); each returns once its own is stored.
    await asyncio.gather(*(first.mark(workout, owner) for workout, owner in single))
    await first.mark_many([])
    await first.close()
    # Another client sees them all: they were stored, not just held by the first.
    if isinstance(first, RedisInFlight):
        second: InFlight = RedisInFlight(redis_url or "", prefix=first.prefix)
    else:
        second = SqliteInFlight(tmp_path / "queue.db")
    try:
        for workout, owner in batch + single:
            assert await second.owner(workout) == owner
    finally:
        await second.close()


class _Clock:
    """Stands for the `time` module in inflight_redis: the time of each write, set."""

    def __init__(self, now: float) -> None:
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.mark.production
@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
@bounded(30)
async def test_redis_trims_expired_marks_at_most_once_a_second(
    request: pytest.FixtureRequest, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`marked-at` keeps the marks of the last TTL and at most a second more: a write
    trims what expired, unless a write of this process trimmed less than a second ago.
    Both write paths: the script (one Redis) and the pipeline (a cluster)."""
    redis_url = redis_url_of(request, kind)
    assert redis_url is not None
    clock = _Clock(1000.0)
    monkeypatch.setattr(inflight_redis, "time", clock)
    inflight = open_inflight(kind, tmp_path, redis_url, ttl_s=100)
    assert isinstance(inflight, RedisInFlight)
    reader = redis_client(redis_url, timeout_s=5.0, decode_responses=True)
    a, b, c, d, e = (uuid.uuid4() for _ in range(5))

    async def marked_at() -> set[str]:
        members = await reader.zrange(f"{inflight.prefix}marked-at", 0, -1)
        return {str(member) for member in members}

    try:
        for at, workout in [(1000.0, a), (1000.9, c), (1100.5, b)]:
            clock.now = at
            await inflight.mark(workout, uuid.uuid4())
        # a (marked at 1000) expired at 1100 and the write at 1100.5 trimmed it; c's
        # mark (1000.9) had not expired yet.
        assert await marked_at() == {str(c), str(b)}
        clock.now = 1101.0
        await inflight.mark(d, uuid.uuid4())
        # c has expired now, but the last trim was half a second ago.
        assert await marked_at() == {str(c), str(b), str(d)}
        clock.now = 1101.5
        await inflight.mark_many([(e, uuid.uuid4())])
        assert await marked_at() == {str(b), str(d), str(e)}
    finally:
        await reader.aclose()
        await inflight.close()


@bounded(30)
async def test_sqlite_a_failed_write_fails_every_mark_of_its_group(tmp_path: Path) -> None:
    inflight = SqliteInFlight(tmp_path / "queue.db")
    try:
        await inflight.mark(uuid.uuid4(), uuid.uuid4())  # creates the table
        refused_owner = uuid.uuid4()
        refuse_inserts(
            tmp_path / "queue.db", "inflight_workouts", f"NEW.user_id = '{refused_owner}'"
        )
        kept, refused, later = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        results = await asyncio.gather(
            inflight.mark(kept, uuid.uuid4()),
            inflight.mark(refused, refused_owner),
            return_exceptions=True,
        )
        assert all(isinstance(result, QueueUnavailable) for result in results)
        assert await inflight.owner(kept) is None
        assert await inflight.owner(refused) is None
        with pytest.raises(QueueUnavailable):
            await inflight.mark_many([(kept, uuid.uuid4()), (refused, refused_owner)])
        owner = uuid.uuid4()
        await inflight.mark(later, owner)
        assert await inflight.owner(later) == owner
    finally:
        await inflight.close()


@pytest.mark.production
@bounded(30)
async def test_redis_marks_under_a_prefix_of_more_bytes_than_characters(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """The mark script cuts each mark's workout id off its key by the prefix's length in
    bytes (Lua's strings are bytes): a prefix with a character of two bytes."""
    redis_url = redis_url_of(request, "redis")
    assert redis_url is not None
    inflight = RedisInFlight(redis_url, prefix=f"test-é:{uuid.uuid4().hex}:")
    reader = redis_client(redis_url, timeout_s=5.0, decode_responses=True)
    workout, owner = uuid.uuid4(), uuid.uuid4()
    try:
        await inflight.mark_many([(workout, owner)])
        assert await inflight.owner(workout) == owner
        members = await reader.zrange(f"{inflight.prefix}marked-at", 0, -1)
        assert [str(member) for member in members] == [str(workout)]
        await inflight.clear_many([workout])
        assert await reader.zcard(f"{inflight.prefix}marked-at") == 0
    finally:
        await reader.aclose()
        await inflight.close()
