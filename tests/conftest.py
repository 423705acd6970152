"""Fixtures shared by every tier: where the real services are, and throwaway data on them.

The services are started by `make test` (scripts/ensure-services.sh). Tests use a database,
a Redis database index and a RabbitMQ vhost of their own, so they never touch other data.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import uuid
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import pytest

PG_ADMIN_URL = os.environ.get(
    "FITBOARD_TEST_PG_ADMIN_URL", "postgresql://fitboard:fitboard@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("FITBOARD_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
T = TypeVar("T")

AMQP_URL = os.environ.get(
    "FITBOARD_TEST_AMQP_URL", "amqp://fitboard:fitboard@127.0.0.1:5672/fitboard_test"
)


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already
    running in this thread (a session fixture first requested by an async fixture)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _create_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def new_postgres_database() -> tuple[str, str]:
    """Create an empty database; returns (name, SQLAlchemy asyncpg URL)."""
    name = f"fitboard_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    run_sync(_create_database(name))
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return name, f"{base}/{name}"


def drop_postgres_database(name: str) -> None:
    run_sync(_drop_database(name))


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An empty PostgreSQL database of this test session (migrate it yourself)."""
    name, url = new_postgres_database()
    yield url
    drop_postgres_database(name)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return REDIS_URL


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return AMQP_URL
