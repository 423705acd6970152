"""The achievements part of the store port, the same assertions on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import date, timedelta
from uuid import uuid4

from fitboard.adapters.sql import SqlStore
from fitboard.domain.achievements import Award, Measure, PersonalRecord
from fitboard.domain.activities import Activity
from fitboard.domain.workouts import WorkoutStatus

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    migrated_postgres_url_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import T0, add_users, make_user, make_workout

LONGEST = PersonalRecord("longest", "Longest", "d", frozenset({Activity.RUN}), Measure.DISTANCE)
PACE = PersonalRecord("pace", "Pace", "d", frozenset({Activity.RUN}), Measure.PACE, 5000)
CALORIES = PersonalRecord("burn", "Burn", "d", None, Measure.CALORIES)


async def test_an_award_is_held_once_per_period_key(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)
    workout_id = uuid4()
    async with store.unit_of_work() as uow:
        assert await uow.achievements.award(ada.id, Award("run-5k", "all", 5000.0), T0, workout_id)
        assert not await uow.achievements.award(ada.id, Award("run-5k", "all"), T0, uuid4())
        assert await uow.achievements.award(ada.id, Award("longest", "w1", 10.0), T0, workout_id)
        assert await uow.achievements.award(ada.id, Award("longest", "w2"), T0 + timedelta(1), None)
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        held = await uow.achievements.for_user(ada.id)
        assert [(h.achievement_id, h.period_key) for h in held] == [
            ("longest", "w2"), ("longest", "w1"), ("run-5k", "all")]  # fmt: skip
        assert held[2].workout_id == workout_id
        assert held[2].value == 5000.0
        assert await uow.achievements.for_workout(workout_id) == ["longest", "run-5k"]


async def test_concurrent_awards_of_the_same_achievement_give_exactly_one(
    store: SqlStore,
) -> None:
    ada = make_user()
    await add_users(store, ada)

    async def try_award() -> bool:
        async with store.unit_of_work() as uow:
            won = await uow.achievements.award(ada.id, Award("first", "all"), T0, None)
            await uow.commit()
            return won

    results = await asyncio.gather(*(try_award() for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]


async def test_active_local_days_come_from_counted_workouts(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)
    days = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 2), date(2026, 3, 5)]
    async with store.unit_of_work() as uow:
        for day in days:
            w = replace(make_workout(ada.id), status=WorkoutStatus.PROCESSED, local_day=day)
            await uow.workouts.add(w)
        flagged = replace(make_workout(ada.id), local_day=date(2026, 3, 3))
        await uow.workouts.add(flagged)  # flagged: does not make a day active
        await uow.commit()
    async with store.unit_of_work(read_only=True) as uow:
        found = await uow.achievements.active_local_days(ada.id, date(2026, 3, 1), date(2026, 3, 4))
    assert found == {date(2026, 3, 1), date(2026, 3, 2)}


async def test_bests_are_judged_among_earlier_counted_workouts(store: SqlStore) -> None:
    ada = make_user()
    await add_users(store, ada)

    def run(hours: int, distance: float, duration: int, calories: float) -> object:
        w = make_workout(ada.id, started_at=T0 + timedelta(hours=hours))
        w = replace(w, submission=replace(w.submission, distance_m=distance, duration_s=duration))
        return replace(w, status=WorkoutStatus.PROCESSED, calories=calories)

    early = run(0, 8000, 2400, 500.0)  # 300 s/km
    later = run(48, 12000, 3300, 900.0)  # 275 s/km
    flagged = replace(run(24, 50000, 3600, 5000.0), status=WorkoutStatus.FLAGGED)
    walk = replace(run(12, 20000, 14400, 700.0))
    walk = replace(walk, submission=replace(walk.submission, activity=Activity.WALK))
    async with store.unit_of_work() as uow:
        for w in (early, later, flagged, walk):
            await uow.workouts.add(w)  # type: ignore[arg-type]
        await uow.commit()
    probe = uuid4()
    async with store.unit_of_work(read_only=True) as uow:
        a = uow.achievements
        # A workout that happened between the two runs is judged against the first only,
        # even though it arrives after the second.
        between = T0 + timedelta(hours=30)
        assert await a.best_before(ada.id, LONGEST, between, probe) == 8000
        assert await a.best_before(ada.id, LONGEST, T0 + timedelta(days=5), probe) == 12000
        assert await a.best_before(ada.id, PACE, T0 + timedelta(days=5), probe) == 275
        assert await a.best_before(ada.id, CALORIES, between, probe) == 700
        assert await a.best_before(ada.id, LONGEST, T0, probe) is None
        # The workout being judged never counts against itself.
        assert await a.best_before(ada.id, LONGEST, T0 + timedelta(days=5), later.id) == 8000  # type: ignore[attr-defined]


async def test_a_scheduled_run_is_claimed_once(store: SqlStore) -> None:
    async def claim() -> bool:
        async with store.unit_of_work() as uow:
            won = await uow.achievements.claim_run("placement:weekly-podium", "2026-W47", T0)
            await uow.commit()
            return won

    assert sorted(await asyncio.gather(*(claim() for _ in range(5)))) == [False] * 4 + [True]
    async with store.unit_of_work() as uow:
        assert await uow.achievements.claim_run("placement:weekly-podium", "2026-W48", T0)
