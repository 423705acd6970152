"""The servers the whole test session shares: one private PostgreSQL, Redis and RabbitMQ.

Each starts the first time a test asks for its URL (`SERVICES.pg_admin_url`,
`SERVICES.redis_url`, `SERVICES.amqp_url`, `SERVICES.rabbitmq`), so `pytest tests/unit`
starts nothing and a full run starts each once; tests/conftest.py stops them all when the
session ends. The machine's own services are never used: other things run on them, and
tests flush Redis, stop the broker and raise its memory alarm.

Tests read these values when they run, never at import: reading one starts a server.
A test that stops the session's broker starts it again before it ends (in a `finally`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar
from urllib.parse import unquote, urlsplit

import asyncpg  # type: ignore[import-untyped]

from .postgres import ROLE, PrivatePostgres, remove_postgres, start_postgres
from .rabbitmq import PrivateRabbitMQ, remove_rabbitmq, start_rabbitmq
from .redis import PrivateRedis, remove_redis, start_redis
from .redis_cluster import PrivateRedisCluster, remove_redis_cluster, start_redis_cluster
from .running import run_in_own_loop

Server = TypeVar("Server")


class _Lazy(Generic[Server]):
    """One server, started by the first caller of `get` (from any thread or event loop)."""

    def __init__(
        self,
        start: Callable[[], Coroutine[Any, Any, Server]],
        remove: Callable[[Server], Coroutine[Any, Any, None]],
    ) -> None:
        self._start = start
        self._remove = remove
        self._server: Server | None = None
        self._lock = threading.Lock()

    def get(self) -> Server:
        with self._lock:
            if self._server is None:
                self._server = run_in_own_loop(self._start())
            return self._server

    def stop(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            run_in_own_loop(self._remove(server))


async def _start_postgres_for_tests() -> PrivatePostgres:
    """The fitboard role may create the databases the tests make and drop, as an operator's
    role with CREATEDB would; it is not a superuser."""
    server = await start_postgres()
    try:
        connection = await asyncpg.connect(server.admin_dsn, timeout=10)
        try:
            await connection.execute(f'ALTER ROLE "{ROLE}" CREATEDB')
        finally:
            await connection.close()
    except BaseException:
        await remove_postgres(server)
        raise
    return server


class SessionServices:
    """The session's private servers, each started on first use."""

    def __init__(self) -> None:
        self._postgres: _Lazy[PrivatePostgres] = _Lazy(_start_postgres_for_tests, remove_postgres)
        self._redis: _Lazy[PrivateRedis] = _Lazy(start_redis, remove_redis)
        self._rabbitmq: _Lazy[PrivateRabbitMQ] = _Lazy(start_rabbitmq, remove_rabbitmq)
        self._redis_cluster: _Lazy[PrivateRedisCluster] = _Lazy(
            start_redis_cluster, remove_redis_cluster
        )

    @property
    def postgres(self) -> PrivatePostgres:
        return self._postgres.get()

    @property
    def pg_admin_url(self) -> str:
        """The `fitboard` role (CREATEDB) on the server's `postgres` database: where tests
        create and drop databases of their own."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.postgres.port}/postgres"

    @property
    def redis_url(self) -> str:
        return self._redis.get().url

    @property
    def redis_cluster(self) -> PrivateRedisCluster:
        """The session's Redis Cluster itself, for tests that empty one of its nodes."""
        return self._redis_cluster.get()

    @property
    def redis_cluster_url(self) -> str:
        """A 3-node Redis Cluster (`redis+cluster://...`), for the adapters' contract tests;
        a test that kills a node starts a cluster of its own (`private_redis_cluster`)."""
        return self.redis_cluster.url

    @property
    def rabbitmq(self) -> PrivateRabbitMQ:
        """The node itself, for tests that stop, block or inspect it (`ctl`)."""
        return self._rabbitmq.get()

    @property
    def amqp_url(self) -> str:
        return self.rabbitmq.url

    @property
    def amqp_vhost(self) -> str:
        """The vhost of `amqp_url`, as rabbitmqctl's `-p` wants it."""
        return unquote(urlsplit(self.amqp_url).path.lstrip("/")) or "/"

    def stop_all(self) -> None:
        """Stop every server that was started; the next use would start it again."""
        failures: list[Exception] = []
        for server in (self._rabbitmq, self._redis_cluster, self._redis, self._postgres):
            try:
                server.stop()
            except Exception as exc:  # the others are stopped all the same
                failures.append(exc)
        if failures:
            raise failures[0]


SERVICES = SessionServices()
