"""`InFlightWorkouts` on Redis, for the production mode: one key per accepted workout,
and one sorted set of every marked workout by the time it was marked (`<prefix>marked-at`),
for the age of the oldest.

Marks made together (the workouts an API process accepts in one group commit) go to
Redis in one round trip a group, not one a workout. On a single Redis that is one
command, a script (`_MARK`) that sets every mark and adds it to `marked-at`: a pipeline
of one SET a mark cost the API process more CPU than anything else on the batch ingest
path (redis-py packs each command and parses each reply in Python: 22% of the process's
samples at 100 workouts a request, docs/benchmarks.md "Session 17"); 100 marks cost the
process 0.45 ms of CPU by the script, 3.4 ms by the pipeline (measured alone). A Redis
Cluster refuses a script whose keys live in different slots, so there the marks go in
one pipeline (redis-py splits it by node): they spread over every node's slots, while
the `marked-at` set lives on one node: while that node is down no mark can be written.
The workouts are accepted all the same (the queue holds them before any mark is tried);
only their "queued" status is unknown until a worker stores them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from fitboard.adapters.group_commit import GroupCommit, GroupCommitClosed
from fitboard.adapters.redis_client import RedisClient, redis_client
from fitboard.application.ports import QueueUnavailable

__all__ = ["RedisInFlight"]

# KEYS[1]: the `marked-at` set; KEYS[2..n]: the marks' keys, each the prefix and then the
# workout id, the member it has in `marked-at`. ARGV[1]: the TTL in seconds; ARGV[2]: the
# time of marking; ARGV[3]: trim `marked-at` up to this score, or "" not to; ARGV[4]: the
# athletes of the marks end to end, 36 characters each (a UUID's text), in the order of
# their keys; ARGV[5]: the length of the prefix. Two arguments for the athletes and the
# members rather than two a mark: redis-py packs each argument of a command in Python.
_MARK = """
local owners, prefix_length = ARGV[4], tonumber(ARGV[5])
for i = 2, #KEYS do
    local key = KEYS[i]
    redis.call('SET', key, string.sub(owners, 36 * i - 71, 36 * i - 36), 'EX', ARGV[1])
    redis.call('ZADD', KEYS[1], ARGV[2], string.sub(key, prefix_length + 1))
end
if ARGV[3] ~= '' then
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
end
return #KEYS - 1
"""
# How often a write also trims `marked-at`: at most once a second in each process, not on
# every write. The trim only keeps the set bounded (reads skip expired entries by their
# score), so the set holds at most a TTL and a second of marks, as it held a TTL's before.
_TRIM_EVERY_S = 1.0


class RedisInFlight:
    """`SET inflight:<workout> <user> EX ttl`: the TTL bounds what a lost `clear` leaves."""

    def __init__(
        self, redis: str | RedisClient, *, ttl_s: int = 86400, prefix: str = "fitboard:inflight:"
    ) -> None:
        self._owns_client = isinstance(redis, str)
        self._redis: RedisClient = (
            redis_client(redis, timeout_s=5.0, decode_responses=True)
            if isinstance(redis, str)
            else redis
        )
        self._ttl_s = ttl_s
        self.prefix = prefix
        self._next_trim_at = 0.0
        # Lua's string.sub counts bytes: the prefix's length in bytes, not characters.
        self._prefix_bytes = len(prefix.encode())
        self._mark_script = (
            None if isinstance(self._redis, RedisCluster) else self._redis.register_script(_MARK)
        )
        self._marks: GroupCommit[tuple[UUID, UUID]] = GroupCommit(
            self._write_marks, max_items=512, name="redis in-flight mark"
        )

    def _key(self, workout_id: UUID) -> str:
        return f"{self.prefix}{workout_id}"

    @property
    def _marked_at(self) -> str:
        # Not a workout id: no mark's key can be this one.
        return f"{self.prefix}marked-at"

    async def mark(self, workout_id: UUID, user_id: UUID) -> None:
        await self._submit([(workout_id, user_id)])

    async def mark_many(self, marks: Sequence[tuple[UUID, UUID]]) -> None:
        await self._submit(marks)

    async def _submit(self, marks: Sequence[tuple[UUID, UUID]]) -> None:
        try:
            outcomes = await self._marks.submit_many(marks)
        except GroupCommitClosed as exc:
            raise QueueUnavailable("the in-flight store is closed") from exc
        failed = next((outcome for outcome in outcomes if outcome is not None), None)
        if failed is not None:
            raise QueueUnavailable(f"in-flight store failed: {failed}") from failed

    async def _write_marks(self, marks: list[tuple[UUID, UUID]]) -> list[BaseException | None]:
        """Every waiting caller's marks in one command (a single Redis) or one pipeline (a
        cluster). Neither is a transaction: each SET stands alone, and a failed write
        fails every caller of the group."""
        now = time.time()
        trim = now >= self._next_trim_at
        if trim:
            self._next_trim_at = now + _TRIM_EVERY_S
        # Marks that expired without a `clear` leave the set here, keeping it bounded.
        trim_to = now - self._ttl_s
        if self._mark_script is not None:
            keys = [self._marked_at]
            owners: list[str] = []
            # A batch's marks share one athlete: its id is turned into text once.
            last_user: UUID | None = None
            owner = ""
            for workout_id, user_id in marks:
                if user_id is not last_user:
                    last_user, owner = user_id, str(user_id)
                keys.append(self._key(workout_id))
                owners.append(owner)
            await self._mark_script(
                keys=keys,
                args=[
                    self._ttl_s,
                    now,
                    trim_to if trim else "",
                    "".join(owners),
                    self._prefix_bytes,
                ],
            )
            return [None] * len(marks)
        async with self._redis.pipeline(transaction=False) as pipe:
            for workout_id, user_id in marks:
                pipe.set(self._key(workout_id), str(user_id), ex=self._ttl_s)
            pipe.zadd(self._marked_at, {str(workout_id): now for workout_id, _ in marks})
            if trim:
                pipe.zremrangebyscore(self._marked_at, "-inf", trim_to)
            await pipe.execute()
        return [None] * len(marks)

    async def owner(self, workout_id: UUID) -> UUID | None:
        try:
            value = await self._redis.get(self._key(workout_id))
        except RedisError as exc:
            raise QueueUnavailable(f"in-flight store failed: {exc}") from exc
        if value is None:
            return None
        # A client built elsewhere may not decode responses.
        return UUID(value.decode() if isinstance(value, bytes) else str(value))

    async def clear_many(self, workout_ids: Sequence[UUID]) -> None:
        if not workout_ids:
            return
        try:
            async with self._redis.pipeline(transaction=False) as pipe:
                for workout_id in workout_ids:
                    pipe.delete(self._key(workout_id))
                pipe.zrem(self._marked_at, *map(str, workout_ids))
                await pipe.execute()
        except RedisError as exc:
            raise QueueUnavailable(f"in-flight store failed: {exc}") from exc

    async def oldest_marked_at(self) -> datetime | None:
        try:
            oldest = await self._redis.zrangebyscore(
                self._marked_at, time.time() - self._ttl_s, "+inf", start=0, num=1, withscores=True
            )
        except RedisError as exc:
            raise QueueUnavailable(f"in-flight store failed: {exc}") from exc
        if not oldest:
            return None
        # [(member, score)] with scores; typed loosely by redis-py.
        marked_at = float(oldest[0][1])
        return datetime.fromtimestamp(marked_at, UTC)

    async def close(self) -> None:
        await self._marks.close()
        # A client passed in belongs to whoever built it.
        if self._owns_client:
            await self._redis.aclose()
