"""Fixtures shared by every tier: the session's private servers, and throwaway data on them.

PostgreSQL, Redis and RabbitMQ are servers of this session's own (tests/services), each
started the first time a test uses it and stopped when the session ends; the machine's
services are never touched. Read `SERVICES.pg_admin_url`, `.redis_url` and `.amqp_url` (or
the fixtures below) when a test runs, never at import.
"""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.services.running import run_in_own_loop
from tests.services.session import SERVICES

T = TypeVar("T")

E2E_DIR = Path(__file__).parent / "e2e"
E2E_SCOPE = "tests/e2e"


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI timeout, `kill`) ends the session like Ctrl-C does, so fixtures tear
    down and `pytest_unconfigure` stops the servers, which run in sessions of their own and
    would otherwise outlive pytest."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(ParallelGroups(), "fitboard-parallel-groups")


class ParallelGroups:
    """How a run in pytest-xdist workers (`make test`: `-n 2 --dist loadscope`) shares the
    suite out. Each worker process starts private servers of its own (tests/services).

    A test module is a unit of work, run whole and in order in one worker, so its
    module-scoped fixtures (a three-node cluster, a browser) start once; the whole e2e tier
    is one unit, since tests/e2e/test_openapi_statuses.py checks, last of the tier, every
    status the e2e tests before it observed in its own process. A scheduler of our own
    rather than xdist_group marks: `--dist loadgroup` (pytest-xdist 3.8) renames the items
    through `_nodeid`, which pytest 9 no longer reads, so its groups are silently ignored."""

    @staticmethod
    def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "loadscope":
            return None
        from xdist.scheduler import LoadScopeScheduling  # type: ignore[import-untyped]

        class ByModuleAndE2E(LoadScopeScheduling):  # type: ignore[misc]
            def _split_scope(self, nodeid: str) -> str:
                module = nodeid.split("::", 1)[0]
                return E2E_SCOPE if module.startswith(f"{E2E_SCOPE}/") else module

        return ByModuleAndE2E(config, log)

    @staticmethod
    def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
        """In a worker, the e2e tests come first (stable sort): the longest unit is handed
        out first, while the other worker takes the rest module by module in the order
        collected (`--no-loadscope-reorder`: the scheduler keeps the order it is given)."""
        if hasattr(config, "workerinput"):
            items.sort(key=lambda item: not item.path.is_relative_to(E2E_DIR))


def pytest_unconfigure(config: pytest.Config) -> None:
    """The session's servers go with it, whatever happened."""
    SERVICES.stop_all()


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, even when an event loop is already
    running in this thread (a session fixture first requested by an async fixture)."""
    return run_in_own_loop(coro)


async def _create_database(name: str) -> None:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(SERVICES.pg_admin_url)
    try:
        await _force_drop(conn, name)
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _drop_database(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(SERVICES.pg_admin_url)
    try:
        await _force_drop(conn, name)
    finally:
        await conn.close()


# How long a drop waits out an autovacuum worker on the database (below).
AUTOVACUUM_WAIT_S = 30.0


async def _force_drop(conn: Any, name: str) -> None:
    """DROP DATABASE ... WITH (FORCE), which terminates the database's sessions first. An
    autovacuum worker busy on it belongs to no role the tests' role may signal, so on
    PostgreSQL 15 the drop fails with InsufficientPrivilegeError (seen in CI, right after
    a test's migrations): the worker is done with a test's small database in moments, so
    the drop is tried again until it goes or AUTOVACUUM_WAIT_S have passed."""
    import asyncpg

    deadline = asyncio.get_running_loop().time() + AUTOVACUUM_WAIT_S
    while True:
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except asyncpg.InsufficientPrivilegeError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.2)


def new_postgres_database() -> tuple[str, str]:
    """Create an empty database; returns (name, SQLAlchemy asyncpg URL)."""
    name = f"fitboard_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    run_sync(_create_database(name))
    admin_url = SERVICES.pg_admin_url
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
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
    """The session's Redis (database 0); tests flush it freely."""
    return SERVICES.redis_url


@pytest.fixture(scope="session")
def amqp_url() -> str:
    return SERVICES.amqp_url
