"""The `RateLimiter` port on the `limits` library: in process for embedded mode, on Redis
(shared by every API process) in production.

The fixed-window strategy: one counter per key, whose window starts at the key's first
request and lasts the budget's period, so the count is exact and Retry-After is when the
window ends. Across the end of one window and the start of the next, up to twice the
budget can pass; a moving window would prevent that at the cost of one stored timestamp
per request (20,000 a day for one athlete's workouts), and limits' sliding-window counter
lets one request too many through now and then (seen in this suite), which a password
budget must not.

A limiter that cannot reach its storage lets the request through (and says so in the
log): a rate limit protects the service, and Redis being down must not turn into
refusing every workout the queue could still store durably.
"""

from __future__ import annotations

import logging
import time

from limits import RateLimitItem, RateLimitItemPerSecond
from limits.aio.storage import MemoryStorage, RedisClusterStorage, RedisStorage, Storage
from limits.aio.storage.redis.redispy import RedispyBridge
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError
from redis.asyncio import Redis, RedisCluster
from redis.exceptions import RedisClusterException

from fitboard.adapters.redis_client import (
    RedisClient,
    guard_writes,
    is_cluster_url,
    parse_cluster_url,
    redis_client,
    retry_options,
)
from fitboard.application.accounts.rate_limits import Budget

log = logging.getLogger(__name__)


class LimitsRateLimiter:
    def __init__(self, storage: Storage, client: RedisClient | None = None) -> None:
        self._strategy = FixedWindowRateLimiter(storage)
        self._client = client
        self._items: dict[Budget, RateLimitItem] = {}

    @classmethod
    def in_memory(cls) -> LimitsRateLimiter:
        return cls(MemoryStorage())

    @classmethod
    def on_redis(cls, url: str, *, namespace: str) -> LimitsRateLimiter:
        if is_cluster_url(url):
            return cls._on_redis_cluster(url, namespace=namespace)
        # fitboard's own client (timeouts, retry past dead connections), so that closing
        # the limiter closes its connections.
        client = redis_client(url, timeout_s=2.0)
        assert isinstance(client, Redis)  # not a cluster URL
        storage = RedisStorage(
            url.replace("redis", "async+redis", 1),
            implementation="redispy",
            key_prefix=f"{namespace}:limits",
            # Storage failures as StorageError, whatever the client library raised.
            wrap_exceptions=True,
            # A documented option of RedisStorage that its type hints leave out.
            connection_pool=client.connection_pool,  # type: ignore[arg-type]
        )
        return cls(storage, client)

    @classmethod
    def _on_redis_cluster(cls, url: str, *, namespace: str) -> LimitsRateLimiter:
        """limits' own cluster storage, which reads the same `host:port,host:port` URL and
        builds its redis-py `RedisCluster` (it takes no client from outside) with our
        timeouts and retries. Each counter is one key, so no command spans two slots."""
        # limits knows no `rediss+cluster`: TLS is its `ssl` option.
        storage = RedisClusterStorage(
            "async+redis+cluster://" + url.split("://", 1)[1],
            implementation="redispy",
            key_prefix=f"{namespace}:limits",
            wrap_exceptions=True,
            ssl=parse_cluster_url(url).tls,
            socket_timeout=2.0,
            socket_connect_timeout=2.0,
            **retry_options(),
        )
        # The client limits built, so that closing the limiter closes its connections.
        assert isinstance(storage.bridge, RedispyBridge)
        client = storage.bridge.get_connection()
        assert isinstance(client, RedisCluster)
        guard_writes(client)
        return cls(storage, client)

    def _item(self, budget: Budget) -> RateLimitItem:
        item = self._items.get(budget)
        if item is None:
            item = self._items[budget] = RateLimitItemPerSecond(budget.amount, budget.per_s)
        return item

    async def spend(self, budget: Budget, key: str, cost: int) -> float | None:
        item = self._item(budget)
        try:
            # A fixed window counts a hit even when it refuses it; testing first keeps a
            # refused request (a batch too big for what is left) from using the budget up.
            # Two requests racing past the test can together overshoot by one's cost.
            if await self._strategy.test(
                item, budget.name, key, cost=cost
            ) and await self._strategy.hit(item, budget.name, key, cost=cost):
                return None
            stats = await self._strategy.get_window_stats(item, budget.name, key)
        # limits wraps only `RedisError`s; its cluster client reports a cluster it cannot
        # reach as `RedisClusterException`, which is not one.
        except (StorageError, RedisClusterException) as exc:
            log.warning("rate limits unavailable, letting %s %s through: %s", budget.name, key, exc)
            return None
        return max(stats.reset_time - time.time(), 0.0)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
