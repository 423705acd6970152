"""Migration 0016 replaces the index of every workout's status with a partial one of the
workouts not counted, `(status, started_at, id)`, and its downgrade puts the old one back;
on both engines."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from fitboard.adapters.sql.engine import create_engine

from .test_migration_0009 import migrate, url_fixture  # noqa: F401

OLD = "ix_workouts_status"
NEW = "ix_workouts_review_status_started_at_id"


async def indexes_of_workouts(url: str) -> dict[str, list[str]]:
    """Each index of the workouts table by name, with its columns."""

    def read(connection: Connection) -> dict[str, list[str]]:
        found = sa.inspect(connection).get_indexes("workouts")
        return {str(index["name"]): [str(c) for c in index["column_names"]] for index in found}

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(read)
    finally:
        await engine.dispose()


async def test_the_status_index_becomes_the_review_index_and_comes_back_on_downgrade(
    url: str,
) -> None:
    await migrate(url, "0015")
    indexes = await indexes_of_workouts(url)
    assert indexes[OLD] == ["status"]
    assert NEW not in indexes

    await migrate(url, "0016")
    indexes = await indexes_of_workouts(url)
    assert OLD not in indexes
    assert indexes[NEW] == ["status", "started_at", "id"]

    await migrate(url, "0015", down=True)
    indexes = await indexes_of_workouts(url)
    assert indexes[OLD] == ["status"]
    assert NEW not in indexes
