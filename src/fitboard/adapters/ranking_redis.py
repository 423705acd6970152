"""The production ranking index: one Redis sorted set per board instance.

Key layout (this module alone decides it), for the weekly calories board of 2026-W47
under the default namespace `fitboard` (another deployment's namespace takes its place,
so deployments sharing a Redis database stay apart). The part after the namespace is a
hash tag, so a Redis Cluster keeps all of a board's keys in one slot and one Lua script
may touch them together:

    fitboard:{board:calories:week:global:2026-W47}:z      sorted set: user id -> composite score
    fitboard:{board:calories:week:global:2026-W47}:v      hash: user id -> projection version
    fitboard:{board:calories:week:global:2026-W47}:ready  "1" once loaded from the record
    fitboard:{board:calories:week:global:2026-W47}:lock   redis-py Lock of the rebuild

The composite score is `fitboard.domain.ranking.encode_sort_score`. Versions stay in `:v`
after a member is removed, so an older write cannot bring the member back. Every write
goes through one Lua script that compares the version first, so out-of-order workers
never leave a stale total. `:ready` is written only by `load`: after a FLUSHALL, an
eviction or a restart without persistence, a board is "not loaded" even if a worker has
already written a member into it again, and the next read rebuilds it.

Reads that need a rank run as one read-only Lua script each, so the rows and the count
above them come from the same moment, in one round trip.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import redis.exceptions
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

from fitboard.adapters.redis_client import redis_client
from fitboard.application.boards.ports import (
    AthleteProjection,
    BoardPage,
    Projected,
    RankingStats,
)
from fitboard.application.ports import RankingUnavailable
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    RankedEntry,
    Scope,
    ScoreUpdate,
    VersionedStanding,
    parse_metric,
    parse_period,
)
from fitboard.domain.errors import InvalidField
from fitboard.domain.ranking import decode_score, encode_sort_score, window_ranks

__all__ = ["RedisRanking"]

logger = logging.getLogger(__name__)

# Standings written per pipeline while loading: large enough to amortise round trips, small
# enough that one pipeline's replies stay a few hundred kilobytes.
_LOAD_CHUNK = 1000

# Server-side failures that pass with time (the server is loading, out of memory, or a
# replica mid-failover) are "unavailable, retry later" just like a lost connection.
_TRANSIENT: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.OutOfMemoryError,
    redis.exceptions.ReadOnlyError,
    redis.exceptions.TryAgainError,
    redis.exceptions.ClusterDownError,
)
# Releasing the rebuild lock may also find it expired or taken over.
_RELEASE_FAILURES: tuple[type[Exception], ...] = (redis.exceptions.LockError, *_TRANSIENT)

# The versioned write every projecting script does. KEYS: z, v, ready.  ARGV: member,
# version, composite score ('' removes), ttl s ('' keeps). Returns 1 if written, 0 if the
# board already holds this version or a newer one for the member.
_WRITE = """
local function write_versioned()
  local stored = redis.call('HGET', KEYS[2], ARGV[1])
  if stored and tonumber(stored) >= tonumber(ARGV[2]) then
    return 0
  end
  if ARGV[3] == '' then
    redis.call('ZREM', KEYS[1], ARGV[1])
  else
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  end
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
  if ARGV[4] ~= '' then
    for i = 1, #KEYS do
      redis.call('EXPIRE', KEYS[i], ARGV[4])
    end
  end
  return 1
end
"""

# KEYS and ARGV as _WRITE.
_PROJECT = _WRITE + "return write_versioned()\n"

# KEYS and ARGV as _WRITE, ARGV[3] and ARGV[4] empty: removes the member at the version,
# only from a board that has ever held them (whose version hash has them), so removing an
# athlete writes nothing into the boards they were never on.
_REMOVE = (
    _WRITE
    + """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  return 0
end
return write_versioned()
"""
)

# How many members have a strictly greater integer score than the composite `value`:
# a greater integer score s' >= s + 1 means a composite >= s + 1, and every composite of
# score s is below s + 1. '%.17g' prints an integer below 2**53 exactly.
_COUNT_ABOVE = """
local function count_above(key, value)
  local floor = math.floor(tonumber(value))
  return redis.call('ZCOUNT', key, string.format('%.17g', floor + 1), '+inf')
end
"""

# KEYS: z.  ARGV: start, stop.  Returns {total, count above the first row, rows}.
_PAGE = (
    _COUNT_ABOVE
    + """
local total = redis.call('ZCARD', KEYS[1])
local rows = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
local above = 0
if #rows > 0 then
  above = count_above(KEYS[1], rows[2])
end
return {total, above, rows}
"""
)

# KEYS: z.  ARGV: member, radius.  Returns {start, count above the first row, rows}.
_AROUND = (
    _COUNT_ABOVE
    + """
local position = redis.call('ZREVRANK', KEYS[1], ARGV[1])
if not position then
  return {0, 0, {}}
end
local start = math.max(0, position - tonumber(ARGV[2]))
local rows = redis.call('ZREVRANGE', KEYS[1], start, position + tonumber(ARGV[2]), 'WITHSCORES')
return {start, count_above(KEYS[1], rows[2]), rows}
"""
)

# KEYS: z.  ARGV: member.  Returns {composite score, count above} or nil.
_STANDING = (
    _COUNT_ABOVE
    + """
local value = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not value then
  return false
end
return {value, count_above(KEYS[1], value)}
"""
)

# KEYS: z, v, ready.  ARGV: as _WRITE, then how many entries behind the member to return.
# The write of _PROJECT with the member's standing just before and after it, read in the
# same atomic step: {before, after, position of the first row behind, count above it,
# rows behind}, with
# before and after {composite score, count above} or false. Nothing is read from a board
# that is not loaded (it holds only part of its members, so its ranks would be too good):
# then the reply is {false, false, 0, 0, {}}.
_PROJECT_RANKED = (
    _COUNT_ABOVE
    + _WRITE
    + """
local function standing(key, member)
  local value = redis.call('ZSCORE', key, member)
  if not value then
    return false
  end
  return {value, count_above(key, value)}
end
local loaded = redis.call('EXISTS', KEYS[3]) == 1
local before = false
if loaded then
  before = standing(KEYS[1], ARGV[1])
end
write_versioned()
if not loaded then
  return {false, false, 0, 0, {}}
end
local after = standing(KEYS[1], ARGV[1])
local rows = {}
local start = 0
local above = 0
local behind = tonumber(ARGV[5])
if after and behind > 0 then
  start = redis.call('ZREVRANK', KEYS[1], ARGV[1]) + 1
  rows = redis.call('ZREVRANGE', KEYS[1], start, start + behind - 1, 'WITHSCORES')
  if #rows > 0 then
    above = count_above(KEYS[1], rows[2])
  end
end
return {before, after, start, above, rows}
"""
)


@dataclass(frozen=True)
class _Keys:
    z: str
    versions: str
    ready: str
    lock: str

    @property
    def data(self) -> list[str]:
        """The keys `_PROJECT` takes, in its order; all expire together."""
        return [self.z, self.versions, self.ready]


def _hash_tag(key: BoardKey) -> str:
    """`board:<metric>:<period>:<scope>:<period key>`, read back by `_parse_ready_key`."""
    board = key.board
    return f"board:{board.metric.value}:{board.period.value}:{board.scope}:{key.period_key}"


def _keys(key: BoardKey, namespace: str = "fitboard") -> _Keys:
    base = f"{namespace}:{{{_hash_tag(key)}}}"
    return _Keys(z=f"{base}:z", versions=f"{base}:v", ready=f"{base}:ready", lock=f"{base}:lock")


def _parse_ready_key(name: str, namespace: str = "fitboard") -> BoardKey | None:
    """The board of a `:ready` key, or None for a key this adapter did not write.

    `<metric>:<period>:<scope>:<period key>`: metric and period are single words and the
    period key has no colon, so whatever lies between is the scope, which may itself hold
    one (`activity:run`, `group:<uuid>`)."""
    head, tail = f"{namespace}:{{board:", "}:ready"
    if not (name.startswith(head) and name.endswith(tail)):
        return None
    parts = name[len(head) : -len(tail)].split(":")
    if len(parts) < 4:
        return None
    try:
        board = BoardId(
            parse_metric(parts[0]), parse_period(parts[1]), Scope.parse(":".join(parts[2:-1]))
        )
    except InvalidField:
        return None
    key = BoardKey(board, parts[-1])
    # Only an exact round trip counts: an upper-case group id, say, is not a key we wrote.
    return key if _keys(key, namespace).ready == name else None


def _keys_of_versions(name: str) -> list[str] | None:
    """`_Keys.data` of the board whose version hash is `name`; None for a key that is not
    one (a scan pattern's `*` matches more than a hash tag)."""
    if not (name.endswith("}:v") and ":{board:" in name):
        return None
    base = name.removesuffix(":v")
    return [f"{base}:z", name, f"{base}:ready"]


def _text(value: bytes | str) -> str:
    # Works whether or not the client was created with decode_responses=True.
    return value.decode() if isinstance(value, bytes) else value


def _rows(flat: Sequence[Any]) -> list[tuple[UUID, int]]:
    """ZREVRANGE ... WITHSCORES as returned from Lua: member, score, member, score, ..."""
    return [
        (UUID(_text(flat[i])), decode_score(float(_text(flat[i + 1]))))
        for i in range(0, len(flat), 2)
    ]


def _ranked(rows: list[tuple[UUID, int]], offset: int, above_first: int) -> list[RankedEntry]:
    if not rows:
        return []
    ranks = window_ranks([score for _, score in rows], offset, above_first + 1)
    return [
        RankedEntry(rank, user_id, score)
        for rank, (user_id, score) in zip(ranks, rows, strict=True)
    ]


@contextmanager
def _reachable() -> Iterator[None]:
    try:
        yield
    except _TRANSIENT as exc:
        raise RankingUnavailable(f"redis: {exc}") from exc


def _check_window(*, offset: int = 0, limit: int = 0, radius: int = 0) -> None:
    # Redis reads negative indices from the end of the set: never pass one through.
    if offset < 0 or limit < 0 or radius < 0:
        raise ValueError("offset, limit and radius must not be negative")


class RedisRanking:
    """`RankingIndex` over Redis sorted sets. The adapter owns `client`: `close` closes it.

    `retention_s_for(key)` gives the seconds a board instance should live after each write
    (None: forever, for all-time boards); it is applied with EXPIRE to all the board's keys
    on every write, so a period board disappears a retention window after its last write
    and is rebuilt from the record if anyone reads it again.

    A reader waits up to `lock_wait_s` for another's rebuild, then gets RankingUnavailable;
    a rebuild lock left by a crashed process frees itself after `lock_timeout_s`.
    """

    def __init__(
        self,
        client: Redis,
        *,
        retention_s_for: Callable[[BoardKey], int | None] | None = None,
        lock_timeout_s: float = 60.0,
        lock_wait_s: float = 15.0,
        namespace: str = "fitboard",
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._scan_ready = f"{namespace}:{{board:*}}:ready"
        self._retention_s_for = retention_s_for
        self._lock_timeout_s = lock_timeout_s
        self._lock_wait_s = lock_wait_s
        self._project = client.register_script(_PROJECT)
        self._page = client.register_script(_PAGE)
        self._around = client.register_script(_AROUND)
        self._standing = client.register_script(_STANDING)
        self._project_ranked = client.register_script(_PROJECT_RANKED)
        self._remove = client.register_script(_REMOVE)
        self._scan_versions = f"{namespace}:{{board:*}}:v"

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        retention_s_for: Callable[[BoardKey], int | None] | None = None,
        socket_timeout_s: float = 5.0,
        namespace: str = "fitboard",
    ) -> RedisRanking:
        """A client for `url` (redis://host:port/db) with bounded socket timeouts, so a hung
        server surfaces as RankingUnavailable instead of a request that never ends."""
        client = redis_client(url, timeout_s=socket_timeout_s)
        return cls(client, retention_s_for=retention_s_for, namespace=namespace)

    def _board_keys(self, key: BoardKey) -> _Keys:
        return _keys(key, self._namespace)

    def _ttl_arg(self, key: BoardKey) -> str:
        seconds = self._retention_s_for(key) if self._retention_s_for is not None else None
        if seconds is None:
            return ""
        # EXPIRE with zero or less deletes at once: a board rebuilt for a read just past
        # its retention must survive long enough to be read.
        return str(max(1, seconds))

    async def project(
        self, user_id: UUID, version: int, updates: Sequence[ScoreUpdate], *, behind: int = 0
    ) -> list[Projected]:
        (projected,) = await self.project_many([(user_id, version, updates)], behind=behind)
        return projected

    async def project_many(
        self, projections: Sequence[AthleteProjection], *, behind: int = 0
    ) -> list[list[Projected]]:
        _check_window(radius=behind)
        # Encode everything first: a bad update fails the call before anything is written.
        calls = [
            (self._board_keys(u.key).data, [str(user_id), version, _score_arg(u), ttl, behind])
            for user_id, version, updates in projections
            for u in updates
            for ttl in [self._ttl_arg(u.key)]
        ]
        replies: list[Any] = []
        if calls:
            with _reachable():
                replies = await self._run_script(self._project_ranked, calls)
        done: list[list[Projected]] = []
        start = 0
        for user_id, _, updates in projections:
            end = start + len(updates)
            done.append(
                [
                    _projected(update.key, user_id, reply)
                    for update, reply in zip(updates, replies[start:end], strict=True)
                ]
            )
            start = end
        return done

    async def _run_script(
        self, script: AsyncScript, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[Any]:
        """Runs `script` once per (keys, args) in one pipelined round trip; the replies in
        order. Not a transaction: the boards of one call lie in different cluster slots, and
        each script is atomic on its own board, which is what the version check needs.

        By its hash alone: redis-py's own pipeline asks SCRIPT EXISTS first, one more round
        trip on every call. A server that does not know the script (restarted, or SCRIPT
        FLUSH) refuses a call before running any of it, so exactly the refused calls are
        sent again once the script is loaded: nothing runs twice."""
        replies = await self._evalsha_all(script.sha, calls)
        refused = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
        if refused:
            await self._client.script_load(script.script)
            again = await self._evalsha_all(script.sha, [calls[i] for i in refused])
            for i, reply in zip(refused, again, strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies

    async def _evalsha_all(
        self, sha: str, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]
    ) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for keys, args in calls:
                pipe.evalsha(sha, len(keys), *keys, *args)
            return list(await pipe.execute(raise_on_error=False))

    async def is_loaded(self, key: BoardKey) -> bool:
        with _reachable():
            return bool(await self._client.exists(self._board_keys(key).ready))

    @asynccontextmanager
    async def rebuild_lock(self, key: BoardKey) -> AsyncIterator[None]:
        lock = self._client.lock(
            self._board_keys(key).lock,
            timeout=self._lock_timeout_s,
            blocking_timeout=self._lock_wait_s,
            sleep=0.05,
            # One Lock object per use, held by one task: thread-local tokens add nothing.
            thread_local=False,
        )
        with _reachable():
            acquired = await lock.acquire()
        if not acquired:
            raise RankingUnavailable(
                f"board {key} is being rebuilt elsewhere; gave up after {self._lock_wait_s} s"
            )
        try:
            yield
        finally:
            try:
                await lock.release()
            except _RELEASE_FAILURES as exc:
                # The rebuild itself is done (or failed with its own error, which must not
                # be masked); a lock we cannot release expires after lock_timeout_s.
                logger.warning("rebuild lock of %s not released: %s", key, exc)

    async def load(self, key: BoardKey, standings: Sequence[VersionedStanding]) -> None:
        keys = self._board_keys(key)
        ttl = self._ttl_arg(key)
        rows = [
            (
                str(v.standing.user_id),
                v.version,
                repr(encode_sort_score(v.standing.score, v.standing.reached_at)),
            )
            for v in standings
        ]
        with _reachable():
            for start in range(0, len(rows), _LOAD_CHUNK):
                await self._run_script(
                    self._project,
                    [
                        (keys.data, [member, version, score, ttl])
                        for member, version, score in rows[start : start + _LOAD_CHUNK]
                    ],
                )
            # One transaction gives the marker and the data the same expiry, so the marker
            # never outlives the set it vouches for.
            async with self._client.pipeline(transaction=True) as pipe:
                if ttl:
                    pipe.set(keys.ready, "1", ex=int(ttl))
                    pipe.expire(keys.z, int(ttl))
                    pipe.expire(keys.versions, int(ttl))
                else:
                    pipe.set(keys.ready, "1")
                await pipe.execute()

    async def drop(self, key: BoardKey) -> None:
        with _reachable():
            await self._client.delete(*self._board_keys(key).data)

    async def remove_athlete(self, user_id: UUID, version: int) -> int:
        member = str(user_id)
        removed = 0
        with _reachable():
            # Every board instance in Redis has a version hash, loaded or not: SCAN walks
            # them in chunks without blocking the server, however many there are.
            batch: list[tuple[Sequence[str], Sequence[Any]]] = []
            async for name in self._client.scan_iter(match=self._scan_versions, count=1000):
                keys = _keys_of_versions(_text(name))
                if keys is not None:
                    batch.append((keys, [member, version, "", ""]))
                if len(batch) >= _LOAD_CHUNK:
                    removed += sum(await self._run_script(self._remove, batch))
                    batch = []
            if batch:
                removed += sum(await self._run_script(self._remove, batch))
        return removed

    async def page(self, key: BoardKey, offset: int, limit: int) -> BoardPage:
        _check_window(offset=offset, limit=limit)
        z = self._board_keys(key).z
        with _reachable():
            if limit == 0:
                # ZREVRANGE 0 -1 would mean the whole set, not nothing.
                return BoardPage([], int(await self._client.zcard(z)))
            total, above, flat = await self._page(keys=[z], args=[offset, offset + limit - 1])
        return BoardPage(_ranked(_rows(flat), offset, int(above)), int(total))

    async def standing(self, key: BoardKey, user_id: UUID) -> RankedEntry | None:
        with _reachable():
            found = await self._standing(keys=[self._board_keys(key).z], args=[str(user_id)])
        return _standing_entry(user_id, found)

    async def around(self, key: BoardKey, user_id: UUID, radius: int) -> list[RankedEntry]:
        _check_window(radius=radius)
        with _reachable():
            start, above, flat = await self._around(
                keys=[self._board_keys(key).z], args=[str(user_id), radius]
            )
        return _ranked(_rows(flat), int(start), int(above))

    async def scores(self, key: BoardKey) -> dict[UUID, int]:
        found: dict[UUID, int] = {}
        with _reachable():
            # ZSCAN instead of one ZRANGE: a big board streams in chunks without blocking
            # the server; a member seen twice while the set changes just overwrites itself.
            async for member, value in self._client.zscan_iter(self._board_keys(key).z, count=1000):
                found[UUID(_text(member))] = decode_score(float(value))
        return found

    async def loaded_keys(self) -> list[BoardKey]:
        found: set[BoardKey] = set()
        with _reachable():
            async for name in self._client.scan_iter(match=self._scan_ready, count=1000):
                key = _parse_ready_key(_text(name), self._namespace)
                if key is not None:
                    found.add(key)
        return sorted(found)

    async def stats(self, largest: int) -> RankingStats:
        keys = await self.loaded_keys()
        with _reachable():
            async with self._client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.zcard(self._board_keys(key).z)
                sizes = [int(n) for n in await pipe.execute()] if keys else []
            memory = await self._client.info("memory")
            evictions = await self._client.info("stats")
        ranked = sorted(zip(keys, sizes, strict=True), key=lambda p: (-p[1], p[0].name))
        limit = int(memory.get("maxmemory", 0))
        return RankingStats(
            boards=len(keys),
            largest=ranked[:largest],
            memory_bytes=int(memory["used_memory"]),
            # 0 is "no limit" to Redis.
            memory_limit_bytes=limit or None,
            evicted_keys=int(evictions.get("evicted_keys", 0)),
        )

    async def ping(self) -> None:
        with _reachable():
            await self._client.ping()

    async def close(self) -> None:
        await self._client.aclose()

    async def held_keys(self) -> list[BoardKey]:
        # A board holds a version hash once anything was written into it, and a `:ready`
        # marker once loaded (an empty board has only that): one SCAN finds both.
        found: set[BoardKey] = set()
        with _reachable():
            async for name in self._client.scan_iter(
                match=f"{self._namespace}:{{board:*}}:[vr]*", count=1000
            ):
                text = _text(name)
                if text.endswith("}:v"):
                    text = text.removesuffix(":v") + ":ready"
                key = _parse_ready_key(text, self._namespace)
                if key is not None:
                    found.add(key)
        return sorted(found)


def _projected(key: BoardKey, user_id: UUID, reply: Sequence[Any]) -> Projected:
    before, after, start, above_behind, flat = reply
    return Projected(
        key,
        _standing_entry(user_id, before),
        _standing_entry(user_id, after),
        _ranked(_rows(flat), int(start), int(above_behind)),
    )


def _standing_entry(user_id: UUID, found: Sequence[Any] | None) -> RankedEntry | None:
    """A {composite score, count above} reply as the user's entry; None for a nil reply."""
    if not found:
        return None
    value, above = found
    return RankedEntry(int(above) + 1, user_id, decode_score(float(_text(value))))


def _score_arg(update: ScoreUpdate) -> str:
    if update.score is None:
        return ""
    if update.reached_at is None:
        raise ValueError(f"update of {update.key} has a score but no reached_at")
    # repr is the shortest text that parses back to the same double, so Redis stores
    # exactly the value we computed.
    return repr(encode_sort_score(update.score, update.reached_at))
