"""The workers' roster on the real PostgreSQL (adapters/sql/worker_roster.py): each worker
holds the lowest free slot, the live slots are those held, a slot is freed by leaving or
by the death of its session, and namespaces have rosters of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from fitboard.adapters.sql.engine import create_engine
from fitboard.adapters.sql.worker_roster import PostgresWorkerRoster, roster_key
from fitboard.application.ports import StoreUnavailable
from tests.services.session import SERVICES

from ..contract.queue_adapters import bounded

pytestmark = pytest.mark.production


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_url)
    yield engine
    await engine.dispose()


@bounded(60)
async def test_workers_hold_the_lowest_free_slots_and_see_each_other(engine: AsyncEngine) -> None:
    namespace = f"roster-{uuid.uuid4().hex[:8]}"
    a, b, c = (PostgresWorkerRoster(engine, namespace) for _ in range(3))
    other = PostgresWorkerRoster(engine, f"{namespace}-other")
    try:
        assert [await a.join(), await b.join(), await c.join()] == [0, 1, 2]
        assert await a.join() == 0  # joined already: the same slot
        assert await other.join() == 0  # another namespace's roster
        assert await a.live() == await c.live() == [0, 1, 2]
        await b.leave()
        assert await a.live() == [0, 2]
        # The freed slot is the next worker's.
        newcomer = PostgresWorkerRoster(engine, namespace)
        assert await newcomer.join() == 1
        assert await other.live() == [0]
        await newcomer.leave()
    finally:
        for roster in (a, b, c, other):
            await roster.leave()


@bounded(60)
async def test_a_slot_dies_with_its_session_and_its_worker_joins_again(
    engine: AsyncEngine,
) -> None:
    namespace = f"roster-{uuid.uuid4().hex[:8]}"
    victim, survivor = (
        PostgresWorkerRoster(engine, namespace),
        PostgresWorkerRoster(engine, namespace),
    )
    try:
        assert (await victim.join(), await survivor.join()) == (0, 1)
        # The victim's backend is terminated, as when its process dies or its server
        # drops the connection: the lock goes with the session.
        admin = await asyncpg.connect(SERVICES.pg_admin_url)
        try:
            terminated = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_locks"
                " WHERE locktype = 'advisory' AND objsubid = 2"
                " AND classid = $1::bigint::oid AND objid = 0",
                roster_key(namespace),
            )
        finally:
            await admin.close()
        assert terminated == 1
        assert await survivor.live() == [1]
        # The victim learns it on its next look, and joins again.
        with pytest.raises(StoreUnavailable):
            await victim.live()
        assert await victim.join() == 0
        assert await survivor.live() == [0, 1]
    finally:
        await victim.leave()
        await survivor.leave()


def test_the_roster_is_kept_in_postgresql_only() -> None:
    engine = create_engine("sqlite+aiosqlite:///:memory:")
    with pytest.raises(ValueError, match="kept in PostgreSQL"):
        PostgresWorkerRoster(engine, "ns")
