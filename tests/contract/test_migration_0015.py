"""Migration 0015 adds `kept_record_bests` beside 0012's `record_bests`, whose rows the
triggers on `workouts` go on forgetting (a release before 0015 keeps them during a rolling
upgrade); its downgrade takes the new table and its triggers away and leaves the old ones
working."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from fitboard.adapters.sql import current_revision
from fitboard.adapters.sql.engine import create_engine

from .test_migration_0009 import ATHLETE, migrate, url_fixture  # noqa: F401

KEPT_AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


async def run(url: str, *statements: str, **values: object) -> list[tuple[object, ...]]:
    """The statements in one transaction, with SQL alone (the repositories speak the head
    revision's schema); the last one's rows when it returns any."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement), values)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        await engine.dispose()


async def keep(url: str, table: str) -> None:
    await run(
        url,
        f"INSERT INTO {table} (user_id, catalog, before_started_at, before_id, bests)"
        " VALUES (:user, 'c', :at, :id, '[]')",
        user=_id(ATHLETE.id, url),
        at=KEPT_AT,
        id=_id(uuid4(), url),
    )


async def rows(url: str, table: str) -> int:
    ((count,),) = await run(url, f"SELECT count(*) FROM {table}")
    assert isinstance(count, int)
    return count


async def store_workout(url: str, hours: int) -> None:
    """A workout of the athlete `hours` after the start of the day the rows are kept on:
    before their place when under 12."""
    await run(
        url,
        "INSERT INTO workouts (id, user_id, activity, started_at, duration_s, submitted_at,"
        " source, status, board_day, calories, calories_method, met, body_mass_kg, points,"
        " processed_at, indoor) VALUES (:id, :user, 'run', :at, 1800, :at, 'manual',"
        " 'processed', :day, 300, 'met', 8, 70, 30, :at, false)",
        id=_id(uuid4(), url),
        user=_id(ATHLETE.id, url),
        at=KEPT_AT.replace(hour=0) + timedelta(hours=hours),
        day=KEPT_AT.date(),
    )


def _id(value: UUID, url: str) -> object:
    """A uuid as each engine stores it (SQLite: its hex text, as SQLAlchemy's Uuid)."""
    return value if url.startswith("postgresql") else value.hex


async def test_both_tables_are_kept_true_and_the_downgrade_leaves_the_old_one(url: str) -> None:
    await migrate(url, "0015")  # this migration's own schema, whatever came after it
    assert await current_revision(url) == "0015"
    await run(
        url,
        "INSERT INTO users (id, username, username_key, display_name, password_hash,"
        " timezone, show_on_leaderboards, is_admin, projection_version, created_at,"
        " token_generation) VALUES (:id, 'ada', 'ada', 'ada', 'x', 'UTC', true, false, 0,"
        " :at, 0)",
        id=_id(ATHLETE.id, url),
        at=KEPT_AT,
    )
    for table in ("record_bests", "kept_record_bests"):
        await keep(url, table)
    await store_workout(url, 13)  # after the kept place: nothing to forget
    assert [await rows(url, t) for t in ("record_bests", "kept_record_bests")] == [1, 1]
    await store_workout(url, 3)
    assert [await rows(url, t) for t in ("record_bests", "kept_record_bests")] == [0, 0]

    await migrate(url, "0014", down=True)
    assert await current_revision(url) == "0014"
    await keep(url, "record_bests")
    await store_workout(url, 2)
    assert await rows(url, "record_bests") == 0
    with pytest.raises(Exception, match="kept_record_bests"):
        await rows(url, "kept_record_bests")

    await migrate(url, "0015")
    await keep(url, "kept_record_bests")
    await store_workout(url, 1)
    assert await rows(url, "kept_record_bests") == 0
