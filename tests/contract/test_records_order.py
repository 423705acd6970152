"""Personal records do not depend on arrival order: after every workout of a set is
processed, in whatever order they arrived, the athlete holds exactly the records that
date order gives. Through the worker's use case, on SQLite and PostgreSQL."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.adapters.sql import SqlStore
from fitboard.application.achievements.catalog import load_catalog
from fitboard.application.workouts.processing import Processed, Processing
from fitboard.domain.achievements import AnyRule, Measure, PersonalRecord, pace_s_per_km
from fitboard.domain.activities import Activity
from fitboard.domain.evaluation import Rules
from fitboard.domain.workouts import WorkoutSubmission

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    migrated_postgres_url_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import T0, add_users, make_user

LONGEST = PersonalRecord("longest", "Longest run", "d", frozenset({Activity.RUN}), Measure.DISTANCE)
PACE = PersonalRecord("pace-5k", "Fastest pace", "d", frozenset({Activity.RUN}), Measure.PACE, 5000)
BURN = PersonalRecord("burn", "Biggest burn", "d", None, Measure.CALORIES)
RECORDS = (LONGEST, PACE, BURN)
# The shipped catalog too (thresholds, totals, streaks, early bird, its own records): what
# an athlete holds at the end must not depend on arrival order either.
CATALOG = tuple(load_catalog(None))
RULES = Rules(board_zone=ZoneInfo("UTC"), default_body_mass_kg=70.0)
NOW = T0 + timedelta(days=30)


class FixedClock:
    def now(self) -> datetime:
        return NOW


@dataclass(frozen=True)
class Run:
    """One workout of a set, the same for every athlete that replays the set."""

    day: int
    minute: int
    distance_m: float
    duration_s: int
    rank: int  # orders ids: two runs that start together are ordered by id


class Replayer:
    def __init__(self, store: SqlStore, tmp_path: Path) -> None:
        self.store = store
        self.ranking = MemoryRanking()
        self.inflight = SqliteInFlight(tmp_path / "inflight.db")

    async def athlete(self) -> UUID:
        user = make_user(f"a{uuid4().hex[:12]}")
        await add_users(self.store, user)
        return user.id

    def submission(self, user_id: UUID, prefix: int, run: Run) -> WorkoutSubmission:
        started = T0 + timedelta(days=run.day, minutes=run.minute)
        return WorkoutSubmission(
            # The same order of ids for every athlete: the prefix is the athlete's.
            id=UUID(int=(prefix << 64) | run.rank),
            user_id=user_id,
            activity=Activity.RUN,
            started_at=started,
            duration_s=run.duration_s,
            submitted_at=NOW,
            distance_m=run.distance_m,
        )

    async def process(
        self, submission: WorkoutSubmission, rules: Sequence[AnyRule] = RECORDS
    ) -> Processed:
        processing = Processing(
            self.store, self.ranking, self.inflight, FixedClock(), RULES, achievement_rules=rules
        )
        return await processing.process_submission(submission)

    async def replay(
        self, runs: Sequence[Run], order: Sequence[int], rules: Sequence[AnyRule] = RECORDS
    ) -> set[tuple[str, int | str]]:
        """Process the runs in `order` for a new athlete; the achievements held at the
        end, as (rule, index of the run) for records and (rule, period key) for others."""
        user_id = await self.athlete()
        prefix = uuid4().int >> 64
        subs = [self.submission(user_id, prefix, run) for run in runs]
        for i in order:
            await self.process(subs[i], rules)
        index = {str(s.id): i for i, s in enumerate(subs)}
        async with self.store.unit_of_work(read_only=True) as uow:
            held = await uow.achievements.for_user(user_id)
        return {(h.achievement_id, index.get(h.period_key, h.period_key)) for h in held}


@pytest.fixture(name="replayer")
async def replayer_fixture(store: SqlStore, tmp_path: Path) -> AsyncIterator[Replayer]:
    replayer = Replayer(store, tmp_path)
    yield replayer
    await replayer.inflight.close()


def date_order_records(runs: Sequence[Run]) -> set[tuple[str, int | str]]:
    """The oracle, written out independently: walk the runs by (start, id) and keep each
    rule's best so far; a run holds a record when it strictly beats it."""
    order = sorted(range(len(runs)), key=lambda i: (runs[i].day, runs[i].minute, runs[i].rank))
    held: set[tuple[str, int | str]] = set()
    longest: float | None = None
    fastest: float | None = None
    for i in order:
        run = runs[i]
        if longest is not None and run.distance_m > longest:
            held.add((LONGEST.id, i))
        longest = run.distance_m if longest is None else max(longest, run.distance_m)
        if run.distance_m >= 5000:
            pace = pace_s_per_km(run.duration_s, run.distance_m)
            if fastest is not None and pace < fastest:
                held.add((PACE.id, i))
            fastest = pace if fastest is None else min(fastest, pace)
    return held


def without_burn(held: set[tuple[str, int | str]]) -> set[tuple[str, int | str]]:
    return {(rule, i) for rule, i in held if rule != BURN.id}


async def test_mon_10_tue_15_wed_12_gives_tuesday_the_record_in_every_order(
    replayer: Replayer,
) -> None:
    # The case: the 15 km on Tuesday is the one longest-run record, whether the
    # three arrive in date order, newest first (a device syncing its backlog) or mixed.
    runs = [Run(0, 0, 10000, 3000, 1), Run(1, 0, 15000, 4500, 2), Run(2, 0, 12000, 3600, 3)]
    for order in itertools.permutations(range(3)):
        held = await replayer.replay(runs, order)
        assert {i for rule, i in held if rule == LONGEST.id} == {1}, order


async def test_a_late_workout_takes_a_record_back_and_says_so(replayer: Replayer) -> None:
    user_id = await replayer.athlete()
    mon, tue, wed = (
        replayer.submission(user_id, 7, Run(day, 0, km * 1000.0, 3600, day + 1))
        for day, km in ((0, 10), (1, 15), (2, 12))
    )
    await replayer.process(mon)
    by_wed = await replayer.process(wed)
    assert [(a.rule.id, a.workout_id) for a in by_wed.awarded if a.rule is LONGEST] == [
        (LONGEST.id, wed.id)
    ]
    by_tue = await replayer.process(tue)
    assert [(a.rule.id, a.workout_id) for a in by_tue.awarded if a.rule is LONGEST] == [
        (LONGEST.id, tue.id)
    ]
    revoked = [(r.rule.id, r.workout_id) for r in by_tue.revoked if r.rule is LONGEST]
    assert revoked == [(LONGEST.id, wed.id)]
    async with replayer.store.unit_of_work(read_only=True) as uow:
        assert LONGEST.id not in await uow.achievements.for_workout(wed.id)


async def test_the_same_run_again_is_not_a_pace_record(replayer: Replayer) -> None:
    # Distances whose pace Python and SQL used to round differently (duration / (d / 1000)
    # against duration * 1000.0 / d): equal is never better, in either order.
    for distance in (5012.7, 7777.7, 10001.3, 21097.5, 42195.0, 5000.1):
        runs = [Run(0, 0, distance, 2345, 1), Run(1, 0, distance, 2345, 2)]
        for order in ((0, 1), (1, 0)):
            assert without_burn(await replayer.replay(runs, order)) == set()


async def test_two_runs_started_together_do_not_both_take_a_record(replayer: Replayer) -> None:
    runs = [Run(0, 0, 5000, 1800, 1), Run(1, 0, 8000, 2700, 2), Run(1, 0, 8000, 2700, 3)]
    for order in itertools.permutations(range(3)):
        held = await replayer.replay(runs, order)
        assert {i for rule, i in held if rule == LONGEST.id} == {1}, order


runs_strategy = st.lists(
    st.builds(
        Run,
        day=st.integers(0, 3),
        minute=st.sampled_from([0, 30]),
        distance_m=st.sampled_from([3000.0, 5000.0, 5012.7, 8000.0, 10000.0, 12000.0]),
        # Speeds stay below the world records, so no run is flagged.
        duration_s=st.sampled_from([2400, 2700, 3001, 3600]),
        rank=st.just(0),
    ),
    min_size=1,
    max_size=6,
).map(
    lambda runs: [
        Run(r.day, r.minute, r.distance_m, r.duration_s, i + 1) for i, r in enumerate(runs)
    ]
)


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(runs=runs_strategy, data=st.data())
async def test_records_are_those_of_date_order_whatever_the_arrival_order(
    replayer: Replayer, runs: list[Run], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(runs))), label="arrival order")
    in_date_order = sorted(range(len(runs)), key=lambda i: (runs[i].day, runs[i].minute, i))
    expected = await replayer.replay(runs, in_date_order)
    assert without_burn(expected) == date_order_records(runs)
    assert await replayer.replay(runs, order) == expected


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(runs=runs_strategy, data=st.data())
async def test_every_award_of_the_catalog_is_that_of_date_order_whatever_the_arrival_order(
    replayer: Replayer, runs: list[Run], data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(runs))), label="arrival order")
    in_date_order = sorted(range(len(runs)), key=lambda i: (runs[i].day, runs[i].minute, i))
    expected = await replayer.replay(runs, in_date_order, CATALOG)
    assert ("first-workout", "all") in expected
    assert await replayer.replay(runs, order, CATALOG) == expected
