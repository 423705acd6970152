"""An athlete's board-write lock: taken by `lock_and_bump_version(s)`, held past the commit
until the unit of work ends, so the next writer of the athlete commits (and writes their
boards) only after the previous one's board writes (adapters/sql/board_write_locks.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from fitboard.adapters.sql import SqlStore
from fitboard.adapters.sql.board_write_locks import lock_key

# The fixtures are imported for pytest, which finds them by their names.
from .store_adapters import (  # noqa: F401
    migrated_postgres_url_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import add_users, make_user

# Long enough for a writer that is not held back to get through on a loaded machine; a
# writer held back stays so however long this is.
SETTLE_S = 0.5


async def board_write_locks_held(store: SqlStore, user_ids: Sequence[UUID]) -> int:
    """How many of these athletes' board-write locks some session holds on PostgreSQL, as
    pg_locks shows an advisory lock on a bigint key: its high and low 32 bits."""
    count = 0
    async with store.engine.connect() as connection:
        for user_id in user_ids:
            key = lock_key(user_id)
            held = await connection.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND objsubid = 1 AND classid::bigint = :high AND objid::bigint = :low"
                ),
                {"high": (key >> 32) & 0xFFFFFFFF, "low": key & 0xFFFFFFFF},
            )
            count += int(held or 0)
    return count


async def _writer_held_until_left(
    store: SqlStore, user_id: UUID, committed: asyncio.Event, leave: asyncio.Event
) -> None:
    async with store.unit_of_work() as uow:
        await uow.users.lock_and_bump_version(user_id)
        await uow.commit()
        committed.set()
        await leave.wait()  # where the writer writes the athlete's boards


async def _bump(store: SqlStore, user_id: UUID) -> int:
    async with store.unit_of_work() as uow:
        user = await uow.users.lock_and_bump_version(user_id)
        await uow.commit()
    assert user is not None
    return user.projection_version


async def test_the_next_writer_waits_for_the_unit_of_work_to_end_not_for_the_commit(
    store: SqlStore,
) -> None:
    ada = make_user("Ada")
    await add_users(store, ada)
    committed, leave = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_writer_held_until_left(store, ada.id, committed, leave))
    await committed.wait()
    second = asyncio.create_task(_bump(store, ada.id))
    await asyncio.sleep(SETTLE_S)
    assert not second.done(), "a second writer got through before the first one's board writes"
    leave.set()
    async with asyncio.timeout(30):
        await first
        assert await second == 2


@pytest.mark.production
async def test_on_postgresql_other_athletes_are_not_held_back_and_nothing_outlives_the_unit(
    migrated_postgres_url: str,
) -> None:
    store = SqlStore(migrated_postgres_url)
    try:
        await _other_athletes_and_release(store)
    finally:
        await store.close()


async def _other_athletes_and_release(store: SqlStore) -> None:
    # Names of their own: the database is shared with other tests, and not emptied here.
    ada, grace = make_user(f"ada{uuid4().hex[:12]}"), make_user(f"grace{uuid4().hex[:12]}")
    await add_users(store, ada, grace)

    async def advisory_locks() -> int:
        """Granted locks of these two athletes (other tests may hold their own meanwhile)."""
        return await board_write_locks_held(store, [ada.id, grace.id])

    committed, leave = asyncio.Event(), asyncio.Event()
    first = asyncio.create_task(_writer_held_until_left(store, ada.id, committed, leave))
    await committed.wait()
    assert await advisory_locks() == 1
    async with asyncio.timeout(30):
        # Another athlete's writer goes through meanwhile.
        assert await _bump(store, grace.id) == 1
    leave.set()
    async with asyncio.timeout(30):
        await first
    assert await advisory_locks() == 0

    # A unit of work that fails after its commit releases its locks all the same.
    held_before_failing: list[int] = []

    async def failing_board_write() -> None:
        async with store.unit_of_work() as uow:
            await uow.users.lock_and_bump_versions([ada.id, grace.id])
            await uow.commit()
            held_before_failing.append(await advisory_locks())
            raise RuntimeError("board write failed")

    with pytest.raises(RuntimeError, match="board write failed"):
        await failing_board_write()
    assert held_before_failing == [2]
    assert await advisory_locks() == 0
    async with asyncio.timeout(30):
        assert await _bump(store, ada.id) == 3


@pytest.mark.production
async def test_on_postgresql_a_writer_waiting_for_a_board_lock_holds_no_row(
    migrated_postgres_url: str,
) -> None:
    # One statement takes the board-write locks and then the rows (TAKEN_FIRST): a writer
    # waiting for an athlete's board-write lock must not be holding any athlete's row
    # meanwhile, or two writers could each wait for what the other holds.
    store = SqlStore(migrated_postgres_url)
    try:
        ada, grace = make_user(f"ada{uuid4().hex[:12]}"), make_user(f"grace{uuid4().hex[:12]}")
        await add_users(store, ada, grace)
        committed, leave = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(_writer_held_until_left(store, ada.id, committed, leave))
        await committed.wait()

        async def both() -> dict[UUID, int]:
            async with store.unit_of_work() as uow:
                found = await uow.users.lock_and_bump_versions([ada.id, grace.id])
                await uow.commit()
            return {user_id: user.projection_version for user_id, user in found.items()}

        second = asyncio.create_task(both())
        await asyncio.sleep(SETTLE_S)
        assert not second.done(), "a writer got past a board-write lock held by another"
        async with store.engine.connect() as connection:
            # Both rows free: NOWAIT fails at once on a row some transaction holds.
            locked = await connection.execute(
                text("SELECT id FROM users WHERE id IN (:ada, :grace) FOR NO KEY UPDATE NOWAIT"),
                {"ada": ada.id, "grace": grace.id},
            )
            assert len(locked.all()) == 2
            await connection.rollback()
        leave.set()
        async with asyncio.timeout(30):
            await first
            assert await second == {ada.id: 2, grace.id: 1}
    finally:
        await store.close()


def test_an_athletes_lock_key_is_the_first_8_bytes_of_their_id() -> None:
    assert lock_key(UUID(int=0)) == 0
    assert lock_key(UUID("00000000-0000-0001-ffff-ffffffffffff")) == 1
    assert lock_key(UUID("ffffffff-ffff-ffff-0000-000000000000")) == -1
