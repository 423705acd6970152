"""The store port's contract, run unchanged against SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from uuid import UUID, uuid4

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import StatementError

from fitboard.adapters.sql import SqlStore, current_revision, upgrade_database
from fitboard.adapters.sql.store import SqlUnitOfWork
from fitboard.adapters.sql.tables import metadata
from fitboard.application.accounts.ports import UsernameTaken
from fitboard.application.ports import StoreUnavailable
from fitboard.application.workouts.ports import WorkoutCursor, WorkoutIdTaken
from fitboard.domain import evaluation
from fitboard.domain.activities import Activity, Sex
from fitboard.domain.boards import BoardId, Metric, Period, Scope, Standing, VersionedStanding
from fitboard.domain.challenges import Challenge
from fitboard.domain.groups import Group
from fitboard.domain.periods import PeriodRange, keys_for_day, period_range
from fitboard.domain.standings import METRICS, combined, score_on, whole
from fitboard.domain.users import User
from fitboard.domain.workouts import (
    ActivityTotals,
    CaloriesMethod,
    DailyContribution,
    Totals,
    Workout,
    WorkoutStatus,
    WorkoutSubmission,
)

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    STORE_ENGINES,
    StatementLog,
    migrated_postgres_url_fixture,
    plan_of,
    sqlite_url,
    statement_log_fixture,
    store_fixture,
    store_url_fixture,
)

T0 = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
DAY0 = date(2026, 3, 2)
# A zone east of UTC: values given in it must come back as the same instant, in UTC.
PARIS_WINTER = timezone(timedelta(hours=1))


def make_user(username: str = "Ada", **changes: object) -> User:
    user = User(
        id=uuid4(),
        username=username,
        display_name=f"{username} L.",
        password_hash="argon2$hash",
        created_at=T0,
    )
    for name, value in changes.items():
        setattr(user, name, value)
    return user


def make_workout(
    user_id: UUID,
    started_at: datetime = T0,
    workout_id: UUID | None = None,
    activity: Activity = Activity.RUN,
) -> Workout:
    submission = WorkoutSubmission(
        id=workout_id or uuid4(),
        user_id=user_id,
        activity=activity,
        started_at=started_at,
        duration_s=1800,
        submitted_at=started_at + timedelta(minutes=31),
        distance_m=5012.5,
        elevation_gain_m=31.0,
        avg_heart_rate=151,
        device_calories=402.0,
        notes="easy run",
        source="gpx",
        indoor=True,
    )
    return Workout(
        submission=submission,
        status=WorkoutStatus.FLAGGED,
        board_day=started_at.date(),
        calories=398.125,
        calories_method=CaloriesMethod.HEART_RATE,
        met=9.8,
        body_mass_kg=61.5,
        points=45,
        processed_at=started_at + timedelta(minutes=32),
        flag_reason="pace beyond the elite record",
    )


def contribution(
    ended_at: datetime,
    calories: float = 100.0,
    distance_m: float = 0.0,
    duration_s: int = 600,
    points: int = 10,
) -> DailyContribution:
    return DailyContribution(
        calories=calories,
        distance_m=distance_m,
        duration_s=duration_s,
        workouts=1,
        points=points,
        ended_at=ended_at,
    )


async def bump_version(uow: SqlUnitOfWork, user_id: UUID) -> int:
    """The user's new projection version, after bumping it (as the worker does)."""
    bumped = await uow.users.lock_and_bump_version(user_id)
    assert bumped is not None
    return bumped.projection_version


async def add_users(store: SqlStore, *users: User) -> None:
    async with store.unit_of_work() as uow:
        for user in users:
            await uow.users.add(user)
        await uow.commit()


# --------------------------------------------------------------------------- schema


async def test_migrations_reach_head_and_build_exactly_the_tables(store: SqlStore) -> None:
    url = store.engine.url
    assert await current_revision(url) == "0016"
    await upgrade_database(url)  # a second run at start-up changes nothing

    def differences(connection: Connection) -> list[object]:
        return list(compare_metadata(MigrationContext.configure(connection), metadata))

    async with store.engine.connect() as connection:
        assert await connection.run_sync(differences) == []


async def test_a_new_database_has_no_revision(tmp_path: Path) -> None:
    assert await current_revision(sqlite_url(tmp_path / "empty.db")) is None


# --------------------------------------------------------------------------- users


async def test_a_user_comes_back_as_stored(store: SqlStore) -> None:
    user = make_user(
        created_at=datetime(2026, 3, 2, 7, 30, 15, 123456, tzinfo=PARIS_WINTER),
        timezone="Europe/Paris",
        weight_kg=61.5,
        birth_year=1990,
        sex=Sex.FEMALE,
        show_on_leaderboards=False,
        is_admin=True,
    )
    await add_users(store, user)
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.users.get(user.id)
    assert found == user
    assert found is not None
    assert found.created_at.tzinfo is UTC
    assert found.sex is Sex.FEMALE


async def test_an_unknown_user_is_none(store: SqlStore) -> None:
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.users.get(uuid4()) is None
        assert await uow.users.get_by_username("nobody") is None
    async with store.unit_of_work() as uow:
        assert await uow.users.lock(uuid4()) is None


async def test_usernames_are_unique_case_insensitively_and_the_unit_stays_usable(
    store: SqlStore,
) -> None:
    await add_users(store, make_user("Ada"))
    async with store.unit_of_work() as uow:
        with pytest.raises(UsernameTaken):
            await uow.users.add(make_user("aDA"))
        # On PostgreSQL a failed statement would poison the transaction; it must not.
        other = make_user("Grace")
        await uow.users.add(other)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.users.get(other.id) == other


async def test_lookup_by_username_ignores_case(store: SqlStore) -> None:
    user = make_user("GraceHopper")
    await add_users(store, user)
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.users.get_by_username("gracehopper") == user
        assert await uow.users.get_by_username("GRACEHOPPER") == user


async def test_update_profile_writes_the_profile_but_never_the_projection_version(
    store: SqlStore,
) -> None:
    user = make_user()
    await add_users(store, user)
    async with store.unit_of_work() as uow:
        bumped = await uow.users.lock_and_bump_version(user.id)
        assert bumped is not None
        assert bumped.projection_version == 1
        user.display_name = "Countess"
        user.timezone = "Europe/London"
        user.weight_kg = 60.0
        user.birth_year = 1815
        user.sex = Sex.FEMALE
        user.show_on_leaderboards = False
        user.is_admin = True
        user.password_hash = "argon2$new"
        user.projection_version = 99
        await uow.users.update_profile(user)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.users.get(user.id)
    assert found is not None
    assert found.projection_version == 1
    user.projection_version = 1
    assert found == user


async def test_projection_versions_count_up(store: SqlStore) -> None:
    user = make_user()
    await add_users(store, user)

    async with store.unit_of_work() as uow:
        assert await bump_version(uow, user.id) == 1
        assert await bump_version(uow, user.id) == 2
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await bump_version(uow, user.id) == 3
        locked = await uow.users.lock(user.id)
        assert locked is not None
        assert locked.projection_version == 3
        assert await uow.users.lock_and_bump_version(uuid4()) is None


async def test_lock_and_bump_returns_the_user_with_the_new_version_in_one_statement(
    store: SqlStore, statement_log: StatementLog
) -> None:
    user, other = make_user("Ada"), make_user("Grace")
    await add_users(store, user, other)
    async with store.unit_of_work() as uow:
        statement_log.clear()
        locked = await uow.users.lock_and_bump_version(user.id)
        # On PostgreSQL the athlete's board-write lock is taken by the same statement.
        assert len(statement_log.queries()) == 1
        assert await uow.users.lock_and_bump_version(uuid4()) is None
        assert (await uow.users.lock_and_bump_version(user.id)) == replace(
            user, projection_version=2
        )
        await uow.commit()
    assert locked == replace(user, projection_version=1)
    async with store.unit_of_work() as uow:
        assert await uow.users.lock_and_bump_version(user.id) == replace(user, projection_version=3)
        # Left without commit: rolled back with the rest.
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.users.get(user.id) == replace(user, projection_version=2)
        assert await uow.users.get(other.id) == other


async def test_lock_and_bump_serialises_one_athletes_writers(store: SqlStore) -> None:
    user = make_user()
    await add_users(store, user)
    ended_at = datetime(2026, 3, 2, 12, tzinfo=UTC)

    async def process_one_workout() -> int:
        async with store.unit_of_work() as uow:
            locked = await uow.users.lock_and_bump_version(user.id)
            assert locked is not None
            # Everything committed before the lock was taken is seen, nothing after it.
            totals = await uow.rollups.totals(user.id, DAY0, DAY0)
            seen = sum(part.workouts for part in totals.by_activity.values())
            assert seen == locked.projection_version - 1
            await asyncio.sleep(0.02)
            await uow.rollups.add(user.id, DAY0, Activity.RUN, contribution(ended_at, 1.5))
            await uow.commit()
            return locked.projection_version

    versions = await asyncio.gather(*(process_one_workout() for _ in range(6)))
    assert sorted(versions) == list(range(1, 7))
    async with store.unit_of_work(read_only=True) as uow:
        totals = await uow.rollups.totals(user.id, None, None)
    assert totals.by_activity[Activity.RUN].workouts == 6


async def test_display_names_take_one_query(store: SqlStore, statement_log: StatementLog) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    async with store.unit_of_work(read_only=True) as uow:
        statement_log.clear()
        names = await uow.users.display_names([ada.id, grace.id, uuid4(), ada.id])
        assert len(statement_log.queries()) == 1
        assert await uow.users.display_names([]) == {}
    assert names == {ada.id: "Ada L.", grace.id: "Grace L."}


async def test_naive_datetimes_are_refused(store: SqlStore) -> None:
    async with store.unit_of_work() as uow:
        with pytest.raises(StatementError, match="naive"):
            await uow.users.add(make_user(created_at=datetime(2026, 3, 2, 6, 0)))


# --------------------------------------------------------------------------- workouts


async def test_a_workout_comes_back_as_the_same_domain_object(store: SqlStore) -> None:
    user = make_user()
    await add_users(store, user)
    workout = make_workout(user.id, datetime(2026, 3, 2, 7, 0, 0, 250000, tzinfo=PARIS_WINTER))
    async with store.unit_of_work() as uow:
        await uow.workouts.add(workout)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.workouts.get(workout.id)
        assert await uow.workouts.get(uuid4()) is None
    assert found == workout
    assert found is not None
    for moment in (found.submission.started_at, found.submission.submitted_at, found.processed_at):
        assert moment.tzinfo is UTC
    assert found.status is WorkoutStatus.FLAGGED
    assert found.calories_method is CaloriesMethod.HEART_RATE
    assert found.submission.activity is Activity.RUN


async def test_a_workout_with_only_required_fields_round_trips(store: SqlStore) -> None:
    user = make_user()
    await add_users(store, user)
    submission = WorkoutSubmission(
        id=uuid4(),
        user_id=user.id,
        activity=Activity.YOGA,
        started_at=T0,
        duration_s=3600,
        submitted_at=T0 + timedelta(hours=1),
    )
    workout = Workout(
        submission=submission,
        status=WorkoutStatus.PROCESSED,
        board_day=DAY0,
        calories=180.0,
        calories_method=CaloriesMethod.MET,
        met=2.5,
        body_mass_kg=70.0,
        points=12,
        processed_at=T0 + timedelta(hours=1, seconds=1),
    )
    async with store.unit_of_work() as uow:
        await uow.workouts.add(workout)
        assert await uow.workouts.get(workout.id) == workout


async def test_a_duplicate_workout_id_is_refused_and_the_unit_stays_usable(
    store: SqlStore,
) -> None:
    user = make_user()
    await add_users(store, user)
    workout = make_workout(user.id)
    async with store.unit_of_work() as uow:
        await uow.workouts.add(workout)
        await uow.commit()
    async with store.unit_of_work() as uow:
        with pytest.raises(WorkoutIdTaken):
            await uow.workouts.add(make_workout(user.id, workout_id=workout.id))
        # The caller checks who owns the id, in the same transaction.
        existing = await uow.workouts.get(workout.id)
        assert existing is not None
        assert existing.user_id == user.id


async def test_add_new_inserts_a_new_id_and_leaves_a_stored_one_as_it_is(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace = make_user("Ada"), make_user("Grace")
    await add_users(store, ada, grace)
    workout = make_workout(ada.id)
    async with store.unit_of_work() as uow:
        statement_log.clear()
        assert await uow.workouts.add_new([workout]) == {workout.id}
        assert len(statement_log.queries()) == 1
        await uow.commit()
    again = replace(workout, calories=1.0, points=1)
    stolen = replace(workout, submission=replace(workout.submission, user_id=grace.id))
    async with store.unit_of_work() as uow:
        assert await uow.workouts.add_new([again]) == set()
        # Another athlete's workout under the same id: not stored, and no harm done.
        assert await uow.workouts.add_new([stolen]) == set()
        assert await uow.workouts.get(workout.id) == workout
        # The unit of work is still usable (on PostgreSQL a failed statement would abort it).
        fresh = make_workout(grace.id)
        assert await uow.workouts.add_new([fresh]) == {fresh.id}
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.workouts.get(workout.id) == workout
        assert await uow.workouts.get(fresh.id) == fresh
        assert await uow.workouts.list_for_user(grace.id, 10) == [fresh]


async def test_workouts_are_listed_newest_first_with_ties_by_id_and_a_cursor(
    store: SqlStore,
) -> None:
    user, other = make_user("Ada"), make_user("Grace")
    await add_users(store, user, other)
    starts = [T0 + timedelta(hours=h) for h in (0, 5, 5, 5, 2, 9, 1)]
    mine = [make_workout(user.id, start) for start in starts]
    async with store.unit_of_work() as uow:
        for workout in [*mine, make_workout(other.id, T0 + timedelta(hours=3))]:
            await uow.workouts.add(workout)
        await uow.commit()
    expected = sorted(mine, key=lambda w: (w.submission.started_at, w.id), reverse=True)

    pages: list[list[Workout]] = []
    cursor: WorkoutCursor | None = None
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.workouts.list_for_user(user.id, 100) == expected
        assert await uow.workouts.list_for_user(user.id, 0) == []
        while True:
            page = await uow.workouts.list_for_user(user.id, 3, after=cursor)
            if not page:
                break
            pages.append(page)
            cursor = WorkoutCursor(page[-1].submission.started_at, page[-1].id)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [w for page in pages for w in page] == expected


async def test_workouts_of_a_status_are_listed_newest_first_the_uncounted_by_their_index(
    store: SqlStore,
) -> None:
    user, other = make_user("Ada"), make_user("Grace")
    await add_users(store, user, other)
    statuses = [WorkoutStatus.FLAGGED, WorkoutStatus.PROCESSED, WorkoutStatus.REJECTED] * 4
    added = [
        replace(make_workout((user, other)[n % 2].id, T0 + timedelta(hours=n % 5)), status=status)
        for n, status in enumerate(statuses)
    ]
    async with store.unit_of_work() as uow:
        await uow.workouts.add_new(added)
        await uow.commit()

    async with store.unit_of_work(read_only=True) as uow:
        for status in (WorkoutStatus.FLAGGED, WorkoutStatus.PROCESSED, WorkoutStatus.REJECTED):
            expected = sorted(
                (w for w in added if w.status is status),
                key=lambda w: (w.submission.started_at, w.id),
                reverse=True,
            )
            assert await uow.workouts.list_by_status(status, 100) == expected
            first = await uow.workouts.list_by_status(status, 3)
            cursor = WorkoutCursor(first[-1].submission.started_at, first[-1].id)
            rest = await uow.workouts.list_by_status(status, 100, cursor)
            assert [*first, *rest] == expected

    async def review_list() -> None:
        async with store.unit_of_work(read_only=True) as uow:
            await uow.workouts.list_by_status(WorkoutStatus.FLAGGED, 21)

    # The admin's review list walks the index of the workouts not counted (migration 0016),
    # in its order: on SQLite only if the statement spells out the index's predicate.
    plan = await plan_of(store, review_list, "ORDER BY", seqscan=False)
    assert "ix_workouts_review_status_started_at_id" in plan, plan


async def test_a_cursor_in_another_zone_means_the_same_instant(store: SqlStore) -> None:
    user = make_user()
    await add_users(store, user)
    early, late = make_workout(user.id, T0), make_workout(user.id, T0 + timedelta(hours=1))
    async with store.unit_of_work() as uow:
        await uow.workouts.add(early)
        await uow.workouts.add(late)
        cursor = WorkoutCursor(late.submission.started_at.astimezone(PARIS_WINTER), late.id)
        assert await uow.workouts.list_for_user(user.id, 10, after=cursor) == [early]


# --------------------------------------------------------------------------- rollups


async def test_rollup_rows_add_up_contributions(store: SqlStore) -> None:
    user = make_user()
    await add_users(store, user)
    noon = datetime(2026, 3, 2, 12, tzinfo=UTC)
    async with store.unit_of_work() as uow:
        await uow.rollups.add(user.id, DAY0, Activity.RUN, contribution(noon, 100.25, 0.0, 600, 7))
        totals = await uow.rollups.totals(user.id, DAY0, DAY0)
        assert totals.by_activity[Activity.RUN].distance_last_ended_at is None
        await uow.rollups.add(
            user.id, DAY0, Activity.RUN, contribution(noon - timedelta(hours=3), 50.5, 3000.0)
        )
        await uow.rollups.add(
            user.id, DAY0, Activity.RUN, contribution(noon + timedelta(hours=2), 1.0, 0.0)
        )
        await uow.rollups.add(
            user.id, DAY0, Activity.RUN, contribution(noon - timedelta(hours=1), 2.0, 1000.0)
        )
        # No calories and no points: only duration and workouts move their moment.
        nothing = contribution(noon + timedelta(hours=3), 0.0, 0.0, 60, 0)
        await uow.rollups.add(user.id, DAY0, Activity.RUN, nothing)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        totals = await uow.rollups.totals(user.id, None, None)
    assert totals == Totals(
        by_activity={
            Activity.RUN: ActivityTotals(
                calories=153.75,
                distance_m=4000.0,
                duration_s=2460,
                workouts=5,
                points=37,
                active_days=1,
                last_ended_at=noon + timedelta(hours=3),
                distance_last_ended_at=noon - timedelta(hours=1),
                active_day_reached_at=noon - timedelta(hours=3),
                calories_reached_at=noon + timedelta(hours=2),
                points_reached_at=noon + timedelta(hours=2),
            )
        },
        active_days=1,
        active_day_reached_at=noon - timedelta(hours=3),
    )


async def test_totals_count_days_per_activity_and_distinct_days_overall(
    store: SqlStore, statement_log: StatementLog
) -> None:
    user, other = make_user("Ada"), make_user("Grace")
    await add_users(store, user, other)
    d1, d2, d3 = DAY0, DAY0 + timedelta(days=1), DAY0 + timedelta(days=2)

    def at(day: date, hour: int) -> datetime:
        return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)

    async with store.unit_of_work() as uow:
        await uow.rollups.add(user.id, d1, Activity.RUN, contribution(at(d1, 18), 10.0, 5.0))
        await uow.rollups.add(user.id, d1, Activity.SWIM, contribution(at(d1, 7), 20.0))
        await uow.rollups.add(user.id, d2, Activity.SWIM, contribution(at(d2, 9), 30.0))
        await uow.rollups.add(user.id, d3, Activity.RUN, contribution(at(d3, 20), 40.0))
        await uow.rollups.add(user.id, d3, Activity.SWIM, contribution(at(d3, 6), 50.0))
        await uow.rollups.add(other.id, d2, Activity.RUN, contribution(at(d2, 23), 99.0))
        await uow.commit()

    async with store.unit_of_work(read_only=True) as uow:
        statement_log.clear()
        everything = await uow.rollups.totals(user.id, None, None)
        assert len(statement_log.queries()) <= 2
        first_two = await uow.rollups.totals(user.id, d1, d2)
        from_d2 = await uow.rollups.totals(user.id, d2, None)
        nothing = await uow.rollups.totals(user.id, d3 + timedelta(days=1), None)
        days = await uow.rollups.days(user.id)

    run, swim = everything.by_activity[Activity.RUN], everything.by_activity[Activity.SWIM]
    assert (run.calories, run.workouts, run.active_days) == (50.0, 2, 2)
    assert run.last_ended_at == at(d3, 20)
    assert run.distance_last_ended_at == at(d1, 18)
    assert run.active_day_reached_at == at(d3, 20)
    assert (swim.calories, swim.workouts, swim.active_days) == (100.0, 3, 3)
    assert swim.distance_last_ended_at is None
    assert swim.active_day_reached_at == at(d3, 6)
    assert everything.active_days == 3
    # Day 3 became active with its 6:00 swim, the latest of the days' first workouts.
    assert everything.active_day_reached_at == at(d3, 6)

    assert first_two.active_days == 2
    assert first_two.active_day_reached_at == at(d2, 9)
    assert first_two.by_activity[Activity.RUN].active_days == 1
    assert from_d2.active_days == 2
    assert from_d2.by_activity[Activity.SWIM].calories == 80.0
    assert nothing == Totals(by_activity={})
    assert days == [d1, d2, d3]


# Around ISO week 2026-W53 (Monday 2026-12-28 to Sunday 2027-01-03), which spans a month
# and a year boundary, plus the weeks around it and a day a year earlier.
PERIODS_SPAN = [date(2026, 12, 7) + timedelta(days=n) for n in range(42)] + [date(2025, 12, 30)]
BIG = 2.0**53  # BIG + 1.0 == BIG: a sum of 1.0s and BIGs depends on the order of its terms

RowKey = tuple[UUID, date, Activity]


async def _rollups_around_new_year(
    store: SqlStore, rng: random.Random, *users: User
) -> dict[RowKey, float]:
    """Irregular rollups of several activities over PERIODS_SPAN, added out of day order,
    several contributions to some rows, and calories whose sums depend on their order.
    Returns each row's calories, added up in the order the contributions were added."""
    adds: list[tuple[User, date, Activity, DailyContribution]] = []
    for user in users:
        for day in PERIODS_SPAN:
            for activity in (Activity.RUN, Activity.SWIM, Activity.CYCLE):
                if rng.random() < 0.4:
                    continue
                for _ in range(rng.choice([1, 1, 2, 3])):
                    ended_at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                        seconds=rng.randint(0, 86399), microseconds=rng.randint(0, 999999)
                    )
                    calories = rng.choice([BIG, 1.0, 1.0, 0.1, rng.uniform(0, 900)])
                    distance = rng.choice([0.0, 0.1, rng.uniform(0, 20000)])
                    part = contribution(ended_at, calories, distance, rng.randint(60, 7200))
                    adds.append((user, day, activity, part))
    rng.shuffle(adds)
    totals: dict[RowKey, float] = {}
    async with store.unit_of_work() as uow:
        for user, day, activity, part in adds:
            await uow.rollups.add(user.id, day, activity, part)
            key = (user.id, day, activity)
            totals[key] = totals[key] + part.calories if key in totals else part.calories
        await uow.commit()
    return totals


def _calories_in_day_order(
    rows: dict[RowKey, float], user: User, activity: Activity, rng: PeriodRange, *, reverse: bool
) -> float:
    days = sorted(
        (day for (who, day, what) in rows if who == user.id and what == activity),
        reverse=reverse,
    )
    total = 0.0
    for day in days:
        if (rng.first is None or day >= rng.first) and (rng.last is None or day <= rng.last):
            total += rows[(user.id, day, activity)]
    return total


async def test_totals_by_period_equal_totals_over_each_range(
    store: SqlStore, statement_log: StatementLog
) -> None:
    ada, grace, idle = make_user("Ada"), make_user("Grace"), make_user("Idle")
    await add_users(store, ada, grace, idle)
    rows = await _rollups_around_new_year(store, random.Random(53), ada, grace)
    # Ranges of every shape: bounded, open on either side, unbounded, and empty ones.
    odd_shapes = {
        Period.DAY: PeriodRange(date(2026, 12, 31), None),
        Period.WEEK: PeriodRange(None, date(2026, 12, 20)),
        Period.MONTH: PeriodRange(date(2027, 1, 2), date(2026, 12, 30)),  # first > last
        Period.YEAR: PeriodRange(date(2030, 1, 1), date(2030, 12, 31)),
        Period.ALL: PeriodRange(None, None),
    }
    days = [*PERIODS_SPAN, date(2026, 12, 6), date(2024, 6, 1)]
    cases = [{p: period_range(p, k) for p, k in keys_for_day(day).items()} for day in days]
    cases += [odd_shapes, {Period.WEEK: odd_shapes[Period.WEEK]}, {}]
    assert cases[21][Period.WEEK] == PeriodRange(date(2026, 12, 28), date(2027, 1, 3))
    compared, order_matters = 0, 0
    async with store.unit_of_work(read_only=True) as uow:
        for user in (ada, grace, idle):
            for ranges in cases:
                statement_log.clear()
                found = await uow.rollups.totals_by_period(user.id, ranges)
                assert len(statement_log.queries()) == (1 if ranges else 0)
                assert list(found) == list(ranges)
                for period, rng in ranges.items():
                    expected = await uow.rollups.totals(user.id, rng.first, rng.last)
                    assert found[period] == expected, (user.username, period, rng)
                    compared += bool(expected.by_activity)
                    # Each activity's days are summed in day order, on every engine.
                    for activity, part in expected.by_activity.items():
                        in_order = _calories_in_day_order(rows, user, activity, rng, reverse=False)
                        assert part.calories == in_order, (user.username, period, rng, activity)
                        reverse = _calories_in_day_order(rows, user, activity, rng, reverse=True)
                        order_matters += in_order != reverse
    assert compared > 2 * len(days)
    # The record is one where summing in another order would have shown.
    assert order_matters > len(days)


# --------------------------------------------------------------------------- standings

BOARD_ACTIVITIES = [Activity.RUN, Activity.CYCLE, Activity.SWIM, Activity.STRENGTH]


async def _random_record(store: SqlStore) -> tuple[list[User], UUID]:
    """Several athletes with irregular rollups over six weeks; one hidden from boards,
    one with no rollups; three in a group. Returns the users and the group id."""
    rng = random.Random(20260302)
    users = [make_user(f"athlete{i}") for i in range(6)]
    users[2].show_on_leaderboards = False
    await add_users(store, *users)
    group = Group(uuid4(), "club", "INVITE1", users[0].id, T0)
    async with store.unit_of_work() as uow:
        await uow.groups.add(group)
        await uow.groups.add_member(group.id, users[1].id, T0)
        await uow.groups.add_member(group.id, users[2].id, T0)
        for user in users[:5]:
            for _ in range(rng.randint(1, 4)):
                await bump_version(uow, user.id)
            # Day 20 for everyone, so that the one-day period has a board to check.
            days = [20] + [rng.randint(0, 41) for _ in range(rng.randint(15, 40))]
            for day in (DAY0 + timedelta(days=n) for n in days):
                activity = rng.choice(BOARD_ACTIVITIES)
                ended_at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
                    seconds=rng.randint(0, 86399), microseconds=rng.randint(0, 999999)
                )
                distance = 0.0 if activity is Activity.STRENGTH else rng.uniform(0, 20000)
                await uow.rollups.add(
                    user.id,
                    day,
                    activity,
                    DailyContribution(
                        # Halves too, so that banker's rounding gets exercised.
                        calories=rng.choice([rng.uniform(0, 900), rng.randint(0, 900) + 0.5]),
                        distance_m=distance,
                        duration_s=rng.randint(60, 7200),
                        workouts=1,
                        points=rng.randint(0, 120),
                        ended_at=ended_at,
                    ),
                )
        await uow.commit()
    return users, group.id


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (None, None),
        (DAY0 + timedelta(days=7), DAY0 + timedelta(days=13)),
        (DAY0 + timedelta(days=20), DAY0 + timedelta(days=20)),
        (None, DAY0 + timedelta(days=9)),
        (DAY0 + timedelta(days=30), None),
        (DAY0 + timedelta(days=100), DAY0 + timedelta(days=130)),
    ],
)
async def test_standings_equal_the_domain_score_of_each_athletes_totals(
    store: SqlStore, statement_log: StatementLog, first: date | None, last: date | None
) -> None:
    users, group_id = await _random_record(store)
    scopes = [
        Scope.global_(),
        *(Scope.for_activity(a) for a in [*BOARD_ACTIVITIES, Activity.YOGA]),
        Scope.for_group(group_id),
        Scope.for_group(uuid4()),
    ]
    members = {users[0].id, users[1].id, users[2].id}
    checked = 0
    async with store.unit_of_work(read_only=True) as uow:
        totals = {user.id: await uow.rollups.totals(user.id, first, last) for user in users}
        stored = [await uow.users.get(user.id) for user in users]
        versions = {user.id: user.projection_version for user in stored if user is not None}
        for scope in scopes:
            for metric in Metric:
                board = BoardId(metric, Period.ALL, scope)
                expected: list[VersionedStanding] = []
                for user in users:
                    if not user.show_on_leaderboards:
                        continue
                    if scope.group_id is not None and (
                        scope.group_id != group_id or user.id not in members
                    ):
                        continue
                    score, reached_at = score_on(board, totals[user.id])
                    if score > 0 and reached_at is not None:
                        expected.append(
                            VersionedStanding(
                                Standing(user.id, score, reached_at), versions[user.id]
                            )
                        )
                statement_log.clear()
                found = await uow.rollups.standings(board, first, last)
                assert len(statement_log.queries()) == 1
                assert sorted(found, key=_by_user) == sorted(expected, key=_by_user), board.name
                checked += len(expected)
    assert (checked > 0) == (first is None or first < DAY0 + timedelta(days=42))


def _by_user(standing: VersionedStanding) -> UUID:
    return standing.standing.user_id


async def test_standings_round_half_up_and_leave_out_zero_scores(store: SqlStore) -> None:
    low, even, odd, zero, half = (
        make_user(name) for name in ("low", "even", "odd", "zero", "half")
    )
    await add_users(store, low, even, odd, zero, half)
    noon = datetime(2026, 3, 2, 12, tzinfo=UTC)
    async with store.unit_of_work() as uow:
        for user, kcal in ((low, 0.4), (even, 2.0), (odd, 3.0), (zero, 0.0), (half, 0.5)):
            await uow.rollups.add(user.id, DAY0, Activity.ROW, contribution(noon, kcal))
        # A half on another activity and day: 2.5 and 3.5 in all.
        next_day, later = DAY0 + timedelta(days=1), noon + timedelta(days=1)
        for user in (even, odd):
            await uow.rollups.add(user.id, next_day, Activity.RUN, contribution(later, 0.5))
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        calories = await uow.rollups.standings(
            BoardId(Metric.CALORIES, Period.ALL, Scope.global_()), None, None
        )
        distance = await uow.rollups.standings(
            BoardId(Metric.DISTANCE, Period.ALL, Scope.global_()), None, None
        )
    # Half up: 0.5 kcal is 1 and stays on the board (half to even made it 0 and dropped it).
    scores = {s.standing.user_id: s.standing.score for s in calories}
    assert scores == {even.id: 3, odd.id: 4, half.id: 1}
    assert distance == []


# --------------------------------------------------------------------------- challenges

CHALLENGE_STARTS = datetime(2026, 3, 7, tzinfo=UTC)
CHALLENGE_ENDS = datetime(2026, 3, 27, tzinfo=UTC)


def _random_workouts(rng: random.Random, user: User) -> list[Workout]:
    """Workouts around the challenge window, some not counted (flagged), some
    without a distance. Calories and distances are quarters and halves: their sums are
    exact in any order, and totals that end in .5 tell half up from half to even."""
    found = []
    # The window's bounds themselves: the first instant is in, the end is out.
    starts = [CHALLENGE_STARTS, CHALLENGE_ENDS]
    starts += [
        T0 + timedelta(days=rng.randint(0, 30), seconds=rng.randint(0, 86399))
        for _ in range(rng.randint(5, 25))
    ]
    for started_at in starts:
        activity = rng.choice(BOARD_ACTIVITIES)
        has_distance = activity is not Activity.STRENGTH and rng.random() < 0.8
        submission = WorkoutSubmission(
            id=uuid4(),
            user_id=user.id,
            activity=activity,
            started_at=started_at,
            duration_s=rng.randint(60, 7200),
            submitted_at=started_at + timedelta(hours=2),
            distance_m=rng.randint(0, 40000) / 2 if has_distance else None,
        )
        found.append(
            Workout(
                submission=submission,
                status=rng.choice([WorkoutStatus.PROCESSED] * 4 + [WorkoutStatus.FLAGGED]),
                board_day=started_at.date(),
                calories=rng.randint(0, 3600) / 4,
                calories_method=CaloriesMethod.MET,
                met=8.0,
                body_mass_kg=70.0,
                points=rng.randint(0, 120),
                processed_at=started_at + timedelta(hours=2),
            )
        )
    return found


def _totals_of(counted: list[Workout]) -> Totals:
    """An athlete's totals over `counted`, from the domain's own statement of what a
    workout adds (`evaluation.contribution`); only the totals, not their moments."""
    by_activity: dict[Activity, ActivityTotals] = {}
    for activity in {w.submission.activity for w in counted}:
        mine = [w for w in counted if w.submission.activity is activity]
        parts = [evaluation.contribution(w) for w in mine]
        by_activity[activity] = ActivityTotals(
            calories=sum(p.calories for p in parts),
            distance_m=sum(p.distance_m for p in parts),
            duration_s=sum(p.duration_s for p in parts),
            workouts=sum(p.workouts for p in parts),
            points=sum(p.points for p in parts),
            active_days=len({w.board_day for w in mine}),
        )
    return Totals(by_activity, active_days=len({w.board_day for w in counted}))


async def test_challenge_standings_equal_the_domain_score_of_the_same_workouts(
    store: SqlStore,
) -> None:
    """Every metric in every kind of scope: a challenge's SQL sums and the worker's domain
    rule (`score_on`) must give each athlete the same score."""
    rng = random.Random(20260307)
    users = [make_user(f"challenger{i}") for i in range(6)]
    users[2].show_on_leaderboards = False
    await add_users(store, *users)
    group = Group(uuid4(), "club", "INVITE2", users[0].id, T0)
    members = {users[0].id, users[1].id, users[2].id}
    workouts = {user.id: _random_workouts(rng, user) for user in users[:5]}
    async with store.unit_of_work() as uow:
        await uow.groups.add(group)
        for member in sorted(members - {users[0].id}):
            await uow.groups.add_member(group.id, member, T0)
        for user_workouts in workouts.values():
            for workout in user_workouts:
                await uow.workouts.add(workout)
        await uow.commit()
    scopes = [
        Scope.global_(),
        *(Scope.for_activity(a) for a in [*BOARD_ACTIVITIES, Activity.YOGA]),
        Scope.for_group(group.id),
        Scope.for_group(uuid4()),
    ]
    checked, halves_to_even = 0, 0
    async with store.unit_of_work(read_only=True) as uow:
        for scope in scopes:
            for metric in Metric:
                challenge = Challenge(
                    uuid4(), "March", metric, scope, CHALLENGE_STARTS, CHALLENGE_ENDS,
                    users[0].id, T0,
                )  # fmt: skip
                expected: list[Standing] = []
                for user in users:
                    if not user.show_on_leaderboards:
                        continue
                    if scope.group_id is not None and (
                        scope.group_id != group.id or user.id not in members
                    ):
                        continue
                    counted = [
                        w
                        for w in workouts.get(user.id, [])
                        if w.counts_on_boards
                        and challenge.starts_at <= w.submission.started_at < challenge.ends_at
                        and scope.activity in (None, w.submission.activity)
                    ]
                    totals = _totals_of(counted)
                    score, _ = score_on(BoardId(metric, Period.ALL, scope), totals)
                    if score > 0:
                        reached = max(w.submission.started_at for w in counted)
                        expected.append(Standing(user.id, score, reached))
                    if METRICS[metric].rounded:
                        activity = scope.activity
                        part = (
                            combined(totals)
                            if activity is None
                            else totals.by_activity.get(activity, ActivityTotals())
                        )
                        total = getattr(part, METRICS[metric].total)
                        halves_to_even += round(total) != whole(total)
                found = await uow.challenges.standings(challenge)
                assert sorted(found, key=_standing_user) == sorted(expected, key=_standing_user), (
                    metric,
                    scope,
                )
                checked += len(expected)
    assert checked > 0
    # The record is one where rounding half to even (Python's round) would have shown.
    assert halves_to_even > 0


def _standing_user(standing: Standing) -> UUID:
    return standing.user_id


# --------------------------------------------------------------------------- groups


async def test_groups_and_their_members(store: SqlStore) -> None:
    owner, member = make_user("owner"), make_user("member")
    await add_users(store, owner, member)
    group = Group(uuid4(), "Tuesday runners", "ABCD1234", owner.id, T0.astimezone(PARIS_WINTER))
    second = Group(uuid4(), "Swimmers", "EFGH5678", member.id, T0)
    joined = T0 + timedelta(days=1)
    async with store.unit_of_work() as uow:
        await uow.groups.add(group)
        await uow.groups.add(second)
        assert await uow.groups.is_member(group.id, owner.id)
        assert not await uow.groups.is_member(group.id, member.id)
        assert await uow.groups.add_member(group.id, member.id, joined)
        assert not await uow.groups.add_member(group.id, member.id, joined)
        await uow.commit()
    async with store.unit_of_work() as uow:
        assert await uow.groups.get(group.id) == group
        assert await uow.groups.get(uuid4()) is None
        assert await uow.groups.is_member(group.id, member.id)
        assert await uow.groups.group_ids_of(member.id) == [second.id, group.id]
        assert await uow.groups.group_ids_of(owner.id) == [group.id]
        assert await uow.groups.remove_member(group.id, member.id)
        assert not await uow.groups.remove_member(group.id, member.id)
        assert not await uow.groups.is_member(group.id, member.id)
        assert await uow.groups.group_ids_of(member.id) == [second.id]


# --------------------------------------------------------------------------- units of work


async def test_leaving_without_commit_rolls_back(store: SqlStore) -> None:
    kept, dropped, rolled_back = make_user("kept"), make_user("dropped"), make_user("undone")
    async with store.unit_of_work() as uow:
        await uow.users.add(kept)
        await uow.commit()
        await uow.users.add(rolled_back)
        await uow.rollback()
    async with store.unit_of_work() as uow:
        await uow.users.add(dropped)

    async def fail_midway() -> None:
        async with store.unit_of_work() as uow:
            await uow.users.add(make_user("failed"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await fail_midway()
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.users.get(kept.id) == kept
        assert await uow.users.get(dropped.id) is None
        assert await uow.users.get(rolled_back.id) is None
        assert await uow.users.get_by_username("failed") is None


async def test_a_reader_does_not_hold_up_a_writer(store: SqlStore) -> None:
    user = make_user()
    await add_users(store, user)
    async with store.unit_of_work(read_only=True) as reader:
        assert await reader.users.get(user.id) == user
        async with asyncio.timeout(5), store.unit_of_work() as writer:
            await bump_version(writer, user.id)
            await writer.commit()
    # Pooled connections that served a reader must not stay read-only; two writers in a
    # row check out both connections of the pool.
    for expected in (2, 3):
        async with store.unit_of_work() as writer:
            assert await bump_version(writer, user.id) == expected
            await writer.commit()


async def test_concurrent_writers_to_one_athlete_lose_no_update(store: SqlStore) -> None:
    user = make_user()
    await add_users(store, user)
    ended_at = datetime(2026, 3, 2, 12, tzinfo=UTC)

    async def process_one_workout() -> int:
        async with store.unit_of_work() as uow:
            locked = await uow.users.lock(user.id)
            assert locked is not None
            # Read, then write later, as the worker does: the classic lost-update window.
            await uow.rollups.totals(user.id, DAY0, DAY0)
            await asyncio.sleep(0.02)
            version = await bump_version(uow, user.id)
            assert version == locked.projection_version + 1
            await uow.rollups.add(user.id, DAY0, Activity.RUN, contribution(ended_at, 1.5))
            await uow.commit()
            return version

    versions = await asyncio.gather(*(process_one_workout() for _ in range(2)))
    assert sorted(versions) == [1, 2]
    more = await asyncio.gather(*(process_one_workout() for _ in range(6)))
    assert sorted(more) == list(range(3, 9))
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.users.get(user.id)
        totals = await uow.rollups.totals(user.id, None, None)
    assert found is not None
    assert found.projection_version == 8
    assert totals.by_activity[Activity.RUN].workouts == 8
    assert totals.by_activity[Activity.RUN].calories == 12.0


# --------------------------------------------------------------------------- availability


async def test_ping_succeeds_on_a_reachable_database(store: SqlStore) -> None:
    await store.ping()


@pytest.mark.parametrize("engine", STORE_ENGINES)
async def test_an_unreachable_database_is_store_unavailable(engine: str, tmp_path: Path) -> None:
    if engine == "sqlite":
        # A directory where the database file should be: SQLite cannot open it.
        url = sqlite_url(tmp_path)
    else:
        url = "postgresql+asyncpg://fitboard:fitboard@127.0.0.1:1/fitboard"
    threads_before = set(threading.enumerate())
    unreachable = SqlStore(url)
    try:
        with pytest.raises(StoreUnavailable):
            await unreachable.ping()
        with pytest.raises(StoreUnavailable):
            async with unreachable.unit_of_work():
                pass
    finally:
        await unreachable.close()
        # aiosqlite stops the worker thread of a failed connect in the background, and the
        # thread reports back to this event loop: let it finish while the loop still runs.
        for thread in set(threading.enumerate()) - threads_before:
            await asyncio.to_thread(thread.join, 5)


# --------------------------------------------------------------------------- SQLite engine


async def test_sqlite_connections_are_durable_and_serialise_writers(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "record.db"
    url = sqlite_url(path)
    await upgrade_database(url)
    assert path.exists()
    sqlite_store = SqlStore(url)
    try:
        async with sqlite_store.engine.connect() as connection:
            pragmas = {
                name: (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        assert pragmas == {
            "journal_mode": "wal",
            "synchronous": 2,
            "busy_timeout": 10000,
            "foreign_keys": 1,
        }
        statements: list[str] = []

        def record(_conn: Connection, _cursor: object, statement: str, *_args: object) -> None:
            statements.append(statement)

        event.listen(sqlite_store.engine.sync_engine, "before_cursor_execute", record)
        async with sqlite_store.unit_of_work() as uow:
            await uow.users.get(uuid4())
        async with sqlite_store.unit_of_work(read_only=True) as uow:
            await uow.users.get(uuid4())
        assert [s for s in statements if s.startswith("BEGIN")] == ["BEGIN IMMEDIATE", "BEGIN"]
        # Foreign keys are enforced.
        async with sqlite_store.unit_of_work() as uow:
            with pytest.raises(Exception, match="FOREIGN KEY"):
                await uow.workouts.add(make_workout(uuid4()))
        async with sqlite_store.engine.connect() as connection:
            assert (await connection.execute(text("SELECT count(*) FROM users"))).scalar() == 0
    finally:
        await sqlite_store.close()
