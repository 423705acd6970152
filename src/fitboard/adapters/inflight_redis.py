"""`InFlightWorkouts` on Redis, for the production mode: one key per accepted workout."""

from __future__ import annotations

from uuid import UUID

from redis.asyncio import Redis
from redis.exceptions import RedisError

from fitboard.adapters.redis_client import redis_client
from fitboard.application.ports import QueueUnavailable

__all__ = ["RedisInFlight"]


class RedisInFlight:
    """`SET inflight:<workout> <user> EX ttl`: the TTL bounds what a lost `clear` leaves."""

    def __init__(
        self, redis: str | Redis, *, ttl_s: int = 86400, prefix: str = "fitboard:inflight:"
    ) -> None:
        self._owns_client = isinstance(redis, str)
        self._redis: Redis = (
            redis_client(redis, timeout_s=5.0, decode_responses=True)
            if isinstance(redis, str)
            else redis
        )
        self._ttl_s = ttl_s
        self.prefix = prefix

    def _key(self, workout_id: UUID) -> str:
        return f"{self.prefix}{workout_id}"

    async def mark(self, workout_id: UUID, user_id: UUID) -> None:
        try:
            await self._redis.set(self._key(workout_id), str(user_id), ex=self._ttl_s)
        except RedisError as exc:
            raise QueueUnavailable(f"in-flight store failed: {exc}") from exc

    async def owner(self, workout_id: UUID) -> UUID | None:
        try:
            value = await self._redis.get(self._key(workout_id))
        except RedisError as exc:
            raise QueueUnavailable(f"in-flight store failed: {exc}") from exc
        if value is None:
            return None
        # A client built elsewhere may not decode responses.
        return UUID(value.decode() if isinstance(value, bytes) else str(value))

    async def clear(self, workout_id: UUID) -> None:
        try:
            await self._redis.delete(self._key(workout_id))
        except RedisError as exc:
            raise QueueUnavailable(f"in-flight store failed: {exc}") from exc

    async def close(self) -> None:
        # A client passed in belongs to whoever built it.
        if self._owns_client:
            await self._redis.aclose()
