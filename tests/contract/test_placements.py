"""Placement awards when a period closes: once per period, whatever runs them, on both
engines of the record."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fitboard.adapters.clock_system import SystemClock
from fitboard.adapters.sql import SqlStore
from fitboard.application.achievements.judging import Achievements
from fitboard.domain.achievements import Placement
from fitboard.domain.activities import Activity
from fitboard.domain.boards import Metric, Period
from fitboard.domain.workouts import DailyContribution

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    migrated_postgres_url_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import add_users, make_user

PODIUM = Placement("weekly-podium", "Podium", "d", None, Metric.POINTS, Period.WEEK, 3)
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)  # Monday of 2026-W48


async def test_the_closed_week_is_awarded_once_with_ties(store: SqlStore) -> None:
    from zoneinfo import ZoneInfo

    utc = ZoneInfo("UTC")
    athletes = [make_user(name) for name in ("ana", "ben", "cai", "dee", "eve")]
    await add_users(store, *athletes)
    points = {"ana": 300, "ben": 200, "cai": 200, "dee": 100, "eve": 50}
    last_week = datetime(2026, 11, 18, 7, 0, tzinfo=UTC)
    async with store.unit_of_work() as uow:
        for i, user in enumerate(athletes):
            ended = last_week + timedelta(minutes=i)
            contribution = DailyContribution(
                calories=1.0, distance_m=0.0, duration_s=60, workouts=1,
                points=points[user.username], ended_at=ended,
            )  # fmt: skip
            await uow.rollups.add(user.id, last_week.date(), Activity.RUN, contribution)
        await uow.commit()

    rounds = await asyncio.gather(
        *(
            Achievements(store, [PODIUM], SystemClock(), utc).award_closed_placements(now=NOW)
            for _ in range(4)
        )
    )
    awarded = [a for round_ in rounds for a in round_]
    by_name = {u.id: u.username for u in athletes}
    assert sorted((by_name[a.user_id], a.award.value) for a in awarded) == [
        ("ana", 1.0), ("ben", 2.0), ("cai", 2.0)]  # fmt: skip
    assert {a.award.period_key for a in awarded} == {"2026-W47"}
    # Running again later in the same week awards nothing more.
    assert (
        await Achievements(store, [PODIUM], SystemClock(), utc).award_closed_placements(now=NOW)
        == []
    )
    async with store.unit_of_work(read_only=True) as uow:
        held = await uow.achievements.for_user(athletes[0].id)
    assert [(h.achievement_id, h.period_key) for h in held] == [("weekly-podium", "2026-W47")]


async def add_points(store: SqlStore, user_id: UUID, ended: datetime, points: int) -> None:
    async with store.unit_of_work() as uow:
        contribution = DailyContribution(
            calories=1.0, distance_m=0.0, duration_s=60, workouts=1,
            points=points, ended_at=ended,
        )  # fmt: skip
        await uow.rollups.add(user_id, ended.date(), Activity.RUN, contribution)
        await uow.commit()


async def test_a_sunday_night_workout_synced_on_monday_counts(store: SqlStore) -> None:
    from zoneinfo import ZoneInfo

    utc = ZoneInfo("UTC")
    grace = timedelta(hours=24)
    ana, ben = make_user("ana"), make_user("ben")
    await add_users(store, ana, ben)
    top = Placement("weekly-top", "Top", "d", None, Metric.POINTS, Period.WEEK, 1)
    await add_points(store, ana.id, datetime(2026, 11, 18, 7, 0, tzinfo=UTC), 100)
    # Monday 09:00, inside the grace window: 2026-W47 is not judged yet.
    assert (
        await Achievements(store, [top], SystemClock(), utc).award_closed_placements(
            now=NOW, grace=grace
        )
        == []
    )
    # Ben's Sunday 23:00 ride arrives on Monday at 10:00.
    await add_points(store, ben.id, datetime(2026, 11, 22, 23, 0, tzinfo=UTC), 150)
    tuesday = datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC)
    awarded = await Achievements(store, [top], SystemClock(), utc).award_closed_placements(
        now=tuesday, grace=grace
    )
    assert [(a.user_id, a.award.period_key) for a in awarded] == [(ben.id, "2026-W47")]


async def test_every_week_missed_while_no_worker_ran_is_judged(store: SqlStore) -> None:
    from zoneinfo import ZoneInfo

    utc = ZoneInfo("UTC")
    ana = make_user("ana")
    await add_users(store, ana)
    top = Placement("weekly-top", "Top", "d", None, Metric.POINTS, Period.WEEK, 1)
    for week in range(3):  # 2026-W45, W46, W47
        await add_points(store, ana.id, datetime(2026, 11, 4 + 7 * week, 7, tzinfo=UTC), 10)
    awarded = await Achievements(store, [top], SystemClock(), utc).award_closed_placements(now=NOW)
    assert [a.award.period_key for a in awarded] == ["2026-W45", "2026-W46", "2026-W47"]
    assert (
        await Achievements(store, [top], SystemClock(), utc).award_closed_placements(now=NOW) == []
    )
