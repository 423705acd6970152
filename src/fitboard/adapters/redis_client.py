"""How every fitboard client of Redis connects: bounded timeouts, and one quick retry on a
connection that turns out dead.

After Redis restarts, every pooled connection is dead and the first command on each fails
with "Connection closed by server". redis-py 8's default retry does not cover that error
(it retries nothing unless told which errors to retry on), so without `retry_on_error`
each dead connection failed one request: board reads answered 503, and a rebuild lock
whose release hit one stayed held until it expired. What fitboard sends is safe to send
twice — projections are versioned absolute writes, reads and compare-and-delete releases
are idempotent — so a command that met a dead connection is retried on a fresh one.
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# A few tries within about a second: long enough to get past every dead connection of a
# restarted server, short enough that a server that is really down is reported at once.
RETRIES = 3


def retry_options() -> dict[str, Any]:
    """The retry settings, also for clients built by libraries (python-socketio)."""
    return {
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=RETRIES),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def redis_client(url: str, *, timeout_s: float | None, **options: Any) -> Redis:
    """A client for `url` whose commands give up after `timeout_s` (None: wait, for a
    subscriber on a quiet channel) and survive a restart of the server."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s if timeout_s is not None else 2.0,
        **retry_options(),
        **options,
    )
