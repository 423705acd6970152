"""Migration 0009 rewrites the source of typed-in workouts from "api" to "manual" (issue
15), leaves a file's format alone, and its downgrade writes "api" back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import uuid4

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from fitboard.adapters.sql import SqlStore, current_revision, upgrade_database
from fitboard.adapters.sql.engine import create_engine
from fitboard.adapters.sql.migrate import alembic_config
from fitboard.domain.activities import Activity
from fitboard.domain.users import User
from fitboard.domain.workouts import CaloriesMethod, Workout, WorkoutStatus, WorkoutSubmission
from tests.conftest import drop_postgres_database, new_postgres_database

from .store_adapters import sqlite_url

START = datetime(2026, 3, 2, 7, tzinfo=UTC)
ATHLETE = User(
    id=uuid4(),
    username="ada",
    display_name="ada",
    password_hash="argon2$hash",
    created_at=START - timedelta(days=30),
)


@pytest.fixture(
    name="url", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.production)]
)
def url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "old.db")
        return
    name, url = new_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


def workout(source: str, hours: int) -> Workout:
    started_at = START + timedelta(hours=hours)
    return Workout(
        submission=WorkoutSubmission(
            id=uuid4(),
            user_id=ATHLETE.id,
            activity=Activity.RUN,
            started_at=started_at,
            duration_s=1800,
            submitted_at=started_at + timedelta(hours=1),
            source=source,
        ),
        status=WorkoutStatus.PROCESSED,
        board_day=started_at.date(),
        calories=300.0,
        calories_method=CaloriesMethod.MET,
        met=8.0,
        body_mass_kg=70.0,
        points=30,
        processed_at=started_at + timedelta(hours=1),
    )


async def migrate(url: str, revision: str, *, down: bool = False) -> None:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
    finally:
        await engine.dispose()


async def sources(url: str) -> list[str]:
    """Every workout's source in start order, read with SQL alone: the repositories speak
    the head revision's schema, which an older revision's table need not have."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(text("SELECT source FROM workouts ORDER BY started_at"))
            return [row.source for row in rows]
    finally:
        await engine.dispose()


async def test_typed_in_workouts_become_manual_and_back(url: str) -> None:
    # As a release before 0009 stored them: typed in as "api", imported as the format.
    # Written at the head revision (the repositories' schema), then taken down to 0008,
    # whose downgrade leaves "api" as it is.
    await upgrade_database(url)
    stored = [workout("api", 0), workout("gpx", 2), workout("api", 4)]
    store = SqlStore(url)
    try:
        async with store.unit_of_work() as uow:
            await uow.users.add(ATHLETE)
            for w in stored:
                assert await uow.workouts.add_new([w]) == {w.id}
            await uow.commit()
    finally:
        await store.close()
    await migrate(url, "0008", down=True)
    assert await sources(url) == ["api", "gpx", "api"]

    await migrate(url, "0009")
    assert await current_revision(url) == "0009"
    assert await sources(url) == ["manual", "gpx", "manual"]

    await migrate(url, "0008", down=True)
    assert await sources(url) == ["api", "gpx", "api"]
