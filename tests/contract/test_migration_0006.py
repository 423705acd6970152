"""Migration 0006 recomputes the tie moments of rollup rows written by older releases.

On each engine, two databases get the same workouts: one through the current repository,
as the worker adds them (the reference), and one at revision 0005 with the rollup rows an
older release left (moments from the workouts' ends, calories and points moments filled by
0004 from the latest end). After the upgrade to head, every row of the second must equal
the reference's, and the moments named by the cases below must be what docs/domain.md
("Ties") says."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from fitboard.adapters.sql import SqlStore, current_revision, upgrade_database
from fitboard.adapters.sql.engine import create_engine
from fitboard.adapters.sql.migrate import alembic_config
from fitboard.adapters.sql.tables import daily_rollups, users, workouts
from fitboard.application.ports import StoreUnavailable
from fitboard.domain.activities import Activity
from fitboard.domain.evaluation import contribution
from fitboard.domain.users import User
from fitboard.domain.workouts import CaloriesMethod, Workout, WorkoutStatus, WorkoutSubmission
from tests.conftest import drop_postgres_database, new_postgres_database

from .store_adapters import sqlite_url

DAY = date(2026, 3, 2)
MIDNIGHT = datetime(2026, 3, 2, tzinfo=UTC)
MOMENTS = (
    "first_ended_at",
    "last_ended_at",
    "distance_last_ended_at",
    "calories_reached_at",
    "points_reached_at",
)
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()
# More athletes than the migration takes in one batch (200), so a batch boundary is crossed.
CROWD = 230


@pytest.fixture(
    name="urls", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.production)]
)
def urls_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases on one engine: (to be upgraded from 0005, reference)."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "old.db"), sqlite_url(tmp_path / "reference.db")
        return
    made = [new_postgres_database(), new_postgres_database()]
    try:
        yield made[0][1], made[1][1]
    finally:
        for name, _ in made:
            drop_postgres_database(name)


@pytest.fixture(name="reference")
async def reference_fixture(urls: tuple[str, str]) -> AsyncIterator[SqlStore]:
    await upgrade_database(urls[1])
    store = SqlStore(urls[1])
    yield store
    await store.close()


def at(hours: float, days: int = 0) -> datetime:
    return MIDNIGHT + timedelta(days=days, hours=hours)


def make_user(name: str) -> User:
    return User(
        id=uuid4(),
        username=name,
        display_name=name,
        password_hash="argon2$hash",
        created_at=MIDNIGHT - timedelta(days=30),
    )


def make_workout(
    user: User,
    started_at: datetime,
    *,
    submitted_at: datetime | None = None,
    duration_s: int = 3600,
    activity: Activity = Activity.RUN,
    calories: float = 500.0,
    points: int = 60,
    distance_m: float | None = None,
    status: WorkoutStatus = WorkoutStatus.PROCESSED,
) -> Workout:
    ended_at = started_at + timedelta(seconds=duration_s)
    return Workout(
        submission=WorkoutSubmission(
            id=uuid4(),
            user_id=user.id,
            activity=activity,
            started_at=started_at,
            duration_s=duration_s,
            # Sent a few minutes after the end unless said otherwise.
            submitted_at=submitted_at or ended_at + timedelta(minutes=5),
            distance_m=distance_m,
        ),
        status=status,
        board_day=started_at.date(),
        calories=calories,
        calories_method=CaloriesMethod.MET,
        met=8.0,
        body_mass_kg=70.0,
        points=points,
        processed_at=max(ended_at, submitted_at or ended_at) + timedelta(seconds=1),
    )


@dataclass
class Cases:
    """The athletes and their workouts, in the order they arrive."""

    ada: User
    bob: User
    cleo: User
    dan: User
    eve: User
    crowd: list[User]
    arrivals: list[Workout]

    @property
    def users(self) -> list[User]:
        return [self.ada, self.bob, self.cleo, self.dan, self.eve, *self.crowd]


def cases() -> Cases:
    ada, bob, cleo, dan, eve = (make_user(n) for n in ("ada", "bob", "cleo", "dan", "eve"))
    crowd = [make_user(f"crowd{i:03}") for i in range(CROWD)]
    arrivals = [
        # Ada scores in the morning; an evening run that adds calories but no points (and no
        # distance) must not move her points or distance moment. A flagged run counts for
        # nothing. Her yoga is a row of its own.
        make_workout(ada, at(6), distance_m=10_000.0),
        make_workout(ada, at(17), duration_s=600, calories=20.0, points=0),
        make_workout(ada, at(20), status=WorkoutStatus.FLAGGED, distance_m=5_000.0),
        make_workout(ada, at(12), activity=Activity.YOGA, calories=150.0, points=10),
        # Bob runs at 09:00 and sends it at once; a run of 06:00 that day arrives three days
        # later (backdated, a late sync): it reached its total when it was submitted.
        make_workout(bob, at(9), distance_m=8_000.0),
        make_workout(bob, at(6), submitted_at=at(12, days=3), distance_m=5_000.0),
        # Cleo's row has no calories, no points and no distance: those moments stay NULL.
        make_workout(cleo, at(7), activity=Activity.STRENGTH, calories=0.0, points=0),
        # Dan's workouts: yesterday's, synced this evening (a row of another day).
        make_workout(dan, at(-4), submitted_at=at(19), calories=300.0, points=40),
    ]
    # A crowd of late syncs, each of its own day's run.
    for i, user in enumerate(crowd):
        started = at(6, days=-(i % 7))
        arrivals.append(make_workout(user, started, submitted_at=at(21), distance_m=3_000.0))
    return Cases(ada, bob, cleo, dan, eve, crowd, arrivals)


def moments_before_0004(counted: Iterable[Workout], row: dict[str, Any]) -> dict[str, Any]:
    """What an older release left in a row of these counted workouts: the ends, and 0004's
    calories and points moments (the latest end wherever the total is positive)."""
    ends = [(w.submission.ended_at, w) for w in counted]
    last = max(end for end, _ in ends)
    with_distance = [end for end, w in ends if (w.submission.distance_m or 0.0) > 0]
    return {
        "first_ended_at": min(end for end, _ in ends),
        "last_ended_at": last,
        "distance_last_ended_at": max(with_distance) if with_distance else None,
        "calories_reached_at": last if row["calories"] > 0 else None,
        "points_reached_at": last if row["points"] > 0 else None,
    }


async def migrate_to(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_upgrade, revision)
            await connection.commit()
    finally:
        await engine.dispose()


def _upgrade(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def add_as_the_worker_does(store: SqlStore, found: Cases) -> None:
    async with store.unit_of_work() as uow:
        for user in found.users:
            await uow.users.add(user)
        await uow.commit()
    for workout in found.arrivals:
        async with store.unit_of_work() as uow:
            assert await uow.workouts.add_new([workout]) == {workout.id}
            if workout.counts_on_boards:
                await uow.rollups.add(
                    workout.user_id,
                    workout.board_day,
                    workout.submission.activity,
                    contribution(workout),
                )
            await uow.commit()


Key = tuple[UUID, date, str]


async def rows_of(url: str, table: sa.Table) -> list[dict[str, Any]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            result = await connection.execute(sa.select(table))
            return [dict(row._mapping) for row in result]
    finally:
        await engine.dispose()


def keyed(rows: Iterable[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    return {(r["user_id"], r["day"], r["activity"]): r for r in rows}


async def insert_at_0005(url: str, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert rows with the current table's types, keeping only the columns the table has
    at 0005 (a later revision may add some)."""
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            names = await connection.run_sync(
                lambda sync: {c["name"] for c in sa.inspect(sync).get_columns(table.name)}
            )
            await connection.execute(
                sa.insert(table), [{k: v for k, v in r.items() if k in names} for r in rows]
            )
    finally:
        await engine.dispose()


async def test_0006_gives_old_rows_the_moments_the_repository_writes(
    urls: tuple[str, str], reference: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    old_url, reference_url = urls
    found = cases()
    await add_as_the_worker_does(reference, found)
    expected = keyed(await rows_of(reference_url, daily_rollups))

    # The same record at 0005, its rows as an older release left them; Dan's were written
    # after 0004, so they are right already; Eve has a row but no workout to recompute it.
    await migrate_to(old_url, "0005")
    await insert_at_0005(old_url, users, await rows_of(reference_url, users))
    await insert_at_0005(old_url, workouts, await rows_of(reference_url, workouts))
    counted: dict[Key, list[Workout]] = {}
    for w in found.arrivals:
        if w.counts_on_boards:
            counted.setdefault((w.user_id, w.board_day, w.submission.activity.value), []).append(w)
    old_rows = []
    for key, row in expected.items():
        old = row if key[0] == found.dan.id else row | moments_before_0004(counted[key], row)
        old_rows.append(old)
    eve_row = {
        "user_id": found.eve.id,
        "day": DAY,
        "activity": Activity.WALK.value,
        "calories": 80.0,
        "distance_m": 2_000.0,
        "duration_s": 1800,
        "workouts": 1,
        "points": 12,
        "first_ended_at": at(8),
        "last_ended_at": at(8),
        "distance_last_ended_at": at(8),
        "calories_reached_at": at(8),
        "points_reached_at": at(8),
    }
    await insert_at_0005(old_url, daily_rollups, [*old_rows, eve_row])
    wrong = [key for key, row in keyed(old_rows).items() if row != expected[key]]
    # Everyone's but Dan's: each case below makes at least one moment wrong.
    assert len(wrong) == len(expected) - 1

    caplog.set_level(logging.INFO, logger="fitboard.migrations")
    # To the head, so the later migrations run over this data too.
    await upgrade_database(old_url)
    assert await current_revision(old_url) == HEAD

    migrated = keyed(await rows_of(old_url, daily_rollups))
    assert migrated.pop((found.eve.id, DAY, Activity.WALK.value)) == eve_row
    assert migrated == expected

    def moments(user: User, activity: Activity = Activity.RUN, day: date = DAY) -> dict[str, Any]:
        row = migrated[(user.id, day, activity.value)]
        return {name: row[name] for name in MOMENTS}

    morning, evening = found.arrivals[0].submission, found.arrivals[1].submission
    assert moments(found.ada) == {
        "first_ended_at": morning.submitted_at,
        "last_ended_at": evening.submitted_at,
        # The 0-point evening run moved neither points nor distance, but did add calories.
        "distance_last_ended_at": morning.submitted_at,
        "calories_reached_at": evening.submitted_at,
        "points_reached_at": morning.submitted_at,
    }
    on_time, backdated = found.arrivals[4].submission, found.arrivals[5].submission
    assert backdated.ended_at < on_time.ended_at
    assert moments(found.bob) == {
        "first_ended_at": on_time.submitted_at,
        "last_ended_at": backdated.submitted_at,
        "distance_last_ended_at": backdated.submitted_at,
        "calories_reached_at": backdated.submitted_at,
        "points_reached_at": backdated.submitted_at,
    }
    strength = found.arrivals[6].submission
    assert moments(found.cleo, Activity.STRENGTH) == {
        "first_ended_at": strength.submitted_at,
        "last_ended_at": strength.submitted_at,
        "distance_last_ended_at": None,
        "calories_reached_at": None,
        "points_reached_at": None,
    }
    # What the operator is told.
    assert f"0006: {len(expected) + 1} rows checked, {len(wrong)} corrected" in caplog.text
    assert "0006: left 1 rows as they were: no processed workout" in caplog.text


async def test_0006_on_a_record_without_rollups_does_nothing(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "empty.db")
    await migrate_to(url, "0005")
    await upgrade_database(url)
    assert await current_revision(url) == HEAD
    assert await rows_of(url, daily_rollups) == []


@pytest.mark.production
async def test_a_schema_older_than_the_code_is_waited_out_not_blamed_on_the_message() -> None:
    """A process restarted on a new release before `fitboard db upgrade` names columns
    the database lacks: the store says it cannot serve (uncounted waits), so the messages
    in flight are not dead-lettered one after another (found by the chaos suite)."""
    name, url = new_postgres_database()
    try:
        await migrate_to(url, "0006")  # before users.token_generation (0007)
        store = SqlStore(url)
        try:
            with pytest.raises(StoreUnavailable):
                async with store.unit_of_work(read_only=True) as uow:
                    await uow.users.get(make_user("ada").id)
        finally:
            await store.close()
    finally:
        drop_postgres_database(name)
