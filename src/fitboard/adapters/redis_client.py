"""How every fitboard client of Redis connects: bounded timeouts, one quick retry on a
connection that turns out dead, and a single Redis or a Redis Cluster chosen by the URL.

After Redis restarts, every pooled connection is dead and the first command on each fails
with "Connection closed by server". redis-py 8's default retry does not cover that error
(it retries nothing unless told which errors to retry on), so without `retry_on_error`
each dead connection failed one request: board reads answered 503, and a rebuild lock
whose release hit one stayed held until it expired. What fitboard sends is safe to send
twice — projections are versioned absolute writes, reads and compare-and-delete releases
are idempotent — so a command that met a dead connection is retried on a fresh one.

A Redis Cluster is named by `redis+cluster://[user:password@]host:port[,host:port...]`
(`rediss+cluster://` for TLS), the form the `limits` library also reads: every listed node
is a startup node, from which redis-py's `RedisCluster` learns the others and which slots
each serves. The cluster client retries a command that met a dead connection or a
cluster that is reconfiguring (`RETRIES` times, re-reading the slot map between tries);
what it cannot retry inside a non-raising pipeline, its callers do (ranking_redis.py).
redis-py reports a cluster it cannot map (no startup node answers, or the slots they
report do not cover all 16384) as `RedisClusterException`, which is not a `RedisError`:
`FitboardCluster` raises a `ConnectionError` or a `ClusterDownError` instead, so every
caller's handling of an unreachable Redis applies to a cluster unchanged.

One more difference: when a node fails, redis-py's cluster client closes connections
that other tasks may be using that moment (idle ones on an error, all of them before a
pipeline's retry), and a write on a connection closed under it fails with the
transport's own `AttributeError` or `TypeError` (uvloop's `RuntimeError`, "the handler
is closed"), which no retry recognises and every caller would take for a bug: the API
answered 500s in tests/integration/test_redis_cluster.py (redis-py issues #3546 and
#4287; 8.1 has no fix). `guard_writes` makes a cluster client's connections report it
as the `ConnectionError` it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ClusterDownError, RedisClusterException
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = [
    "RETRIES",
    "ClusterAddress",
    "FitboardCluster",
    "PubSubNodes",
    "RedisClient",
    "guard_writes",
    "is_cluster_url",
    "node_urls",
    "parse_cluster_url",
    "redis_client",
    "retry_options",
]

# A few tries within about a second: long enough to get past every dead connection of a
# restarted server, short enough that a server that is really down is reported at once.
RETRIES = 3


async def _guarded_write(
    write: Callable[[Iterable[bytes]], Awaitable[None]], command: Iterable[bytes]
) -> None:
    try:
        await write(command)
    except (AttributeError, TypeError, RuntimeError) as exc:
        # Only the writer's own calls are in here: the command is already packed.
        raise RedisConnectionError(f"connection closed while writing: {exc!r}") from exc


class _GuardedConnection(Connection):
    async def _send_packed_command(self, command: Iterable[bytes]) -> None:
        await _guarded_write(super()._send_packed_command, command)


class _GuardedSSLConnection(SSLConnection):
    async def _send_packed_command(self, command: Iterable[bytes]) -> None:
        await _guarded_write(super()._send_packed_command, command)


def guard_writes(cluster: RedisCluster) -> None:
    """Make the connections `cluster` opens from now on report a write on a connection
    closed under it as `ConnectionError` (see the module's docstring). Also for a cluster
    client built by a library (limits)."""
    kwargs = cluster.connection_kwargs
    guarded: type[Connection] = (
        _GuardedSSLConnection
        if issubclass(kwargs.get("connection_class", Connection), SSLConnection)
        else _GuardedConnection
    )
    # Nodes found later are built from these settings; the startup nodes already are.
    kwargs["connection_class"] = guarded
    for node in cluster.startup_nodes:
        node.connection_class = guarded


class FitboardCluster(RedisCluster):
    """redis-py's `RedisCluster`, but a cluster it cannot map fails as a `RedisError`, and
    a write on a connection closed under it as a `ConnectionError` (`guard_writes`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        guard_writes(self)

    async def initialize(self, *args: Any, **kwargs: Any) -> FitboardCluster:
        try:
            await super().initialize(*args, **kwargs)
        except RedisClusterException as exc:
            if isinstance(exc.__cause__, RedisConnectionError | RedisTimeoutError):
                raise RedisConnectionError(str(exc)) from exc
            raise ClusterDownError(str(exc)) from exc
        return self


# What `redis_client` returns; both have the same command methods.
RedisClient = Redis | RedisCluster

_CLUSTER_SCHEMES = {"redis+cluster": False, "rediss+cluster": True}


def retry_options() -> dict[str, Any]:
    """The retry settings, also for clients built by libraries (python-socketio)."""
    return {
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.5), retries=RETRIES),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


@dataclass(frozen=True)
class ClusterAddress:
    """A parsed `redis+cluster://` URL."""

    nodes: list[tuple[str, int]]
    username: str | None
    password: str | None
    tls: bool

    def node_url(self, host: str, port: int) -> str:
        """A plain `redis://` URL of one node, with the same credentials."""
        credentials = ""
        if self.password is not None or self.username is not None:
            credentials = f"{self.username or ''}:{self.password or ''}@"
        scheme = "rediss" if self.tls else "redis"
        if ":" in host:  # an IPv6 address
            host = f"[{host}]"
        return f"{scheme}://{credentials}{host}:{port}/0"


def is_cluster_url(url: str) -> bool:
    return url.split("://", 1)[0].lower() in _CLUSTER_SCHEMES


def parse_cluster_url(url: str) -> ClusterAddress:
    """`redis+cluster://[user:password@]host:port[,host:port...][/0]`; ValueError, saying
    what is wrong, for anything else (a cluster has only database 0)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _CLUSTER_SCHEMES:
        raise ValueError(f"not a Redis Cluster URL (redis+cluster://host:port,...): {url!r}")
    rest, _, query = rest.partition("?")
    if query:
        raise ValueError("a redis+cluster:// URL takes no query options")
    netloc, _, path = rest.partition("/")
    if path not in ("", "0"):
        raise ValueError(f"a Redis Cluster has only database 0, not {path!r}")
    userinfo, at, hosts = netloc.rpartition("@")
    username = password = None
    if at:
        user, colon, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if colon else None
    nodes: list[tuple[str, int]] = []
    for part in hosts.split(","):
        host, colon, port = part.strip().rpartition(":")
        if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"give each cluster node as host:port, not {part!r}")
        nodes.append((host.strip("[]"), int(port)))
    return ClusterAddress(nodes, username, password, _CLUSTER_SCHEMES[scheme.lower()])


def node_urls(url: str) -> list[str]:
    """Plain URLs a pub/sub connection may use: each node of a cluster (classic pub/sub
    messages reach subscribers on every node), or `url` itself for a single Redis."""
    if not is_cluster_url(url):
        return [url]
    address = parse_cluster_url(url)
    return [address.node_url(host, port) for host, port in address.nodes]


class PubSubNodes:
    """Where a pub/sub connection goes (`next()` before each connect): `url` itself for a
    single Redis; for a cluster, a plain URL of each node in turn, starting from a random
    one, so processes spread over the nodes and a reconnect after a failure tries another.
    A cluster relays classic PUBLISH to subscribers on every node, so any node will do."""

    def __init__(self, url: str) -> None:
        self._urls = node_urls(url)
        self._next = random.randrange(len(self._urls))

    def next(self) -> str:
        url = self._urls[self._next % len(self._urls)]
        self._next += 1
        return url


async def stay_subscribed(
    nodes: PubSubNodes,
    channel: str,
    on_message: Callable[[Mapping[str, Any]], None],
    on_lost: Callable[[Exception, float], bool],
) -> None:
    """Subscribe to `channel` on the next of `nodes` and hand `on_message` everything the
    server sends, its subscribe confirmations included (the first, and each one redis-py's
    own reconnection brings), until cancelled. When the connection is lost for good,
    `on_lost(error, pause_s)` is told: False stops here; else the next node is tried after
    the pause, which doubles from 0.5 s to 10 s and starts again at each confirmation."""
    pause_s = 0.5
    while True:
        # No socket timeout: a quiet channel is not a dead one (health checks are).
        client = redis_client(nodes.next(), timeout_s=None, health_check_interval=15)
        pubsub = client.pubsub()
        try:
            await pubsub.subscribe(channel)
            async for message in pubsub.listen():
                if message.get("type") == "subscribe":
                    pause_s = 0.5
                on_message(message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not on_lost(exc, pause_s):
                return
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, 10.0)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await client.aclose()


def redis_client(url: str, *, timeout_s: float | None, **options: Any) -> RedisClient:
    """A client for `url` whose commands give up after `timeout_s` (None: wait, for a
    subscriber on a quiet channel) and survive a restart of the server: a `Redis` for
    `redis://`, `rediss://` or `unix://`, a `RedisCluster` for `redis+cluster://`."""
    connect_timeout_s = timeout_s if timeout_s is not None else 2.0
    if is_cluster_url(url):
        address = parse_cluster_url(url)
        return FitboardCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in address.nodes],
            username=address.username,
            password=address.password,
            ssl=address.tls,
            socket_timeout=timeout_s,
            socket_connect_timeout=connect_timeout_s,
            **retry_options(),
            **options,
        )
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=connect_timeout_s,
        **retry_options(),
        **options,
    )
