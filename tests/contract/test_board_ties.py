"""Ties on boards: among equal scores, whoever reached the score first is listed first,
where a score is reached when the board learns of the workout that raised it (the later of
its end and its submission) and only a workout that adds to a metric moves its moment.
Through the worker's use case, on both ranking adapters and both engines, and the record's
rebuild agrees."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import pytest

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.sql import SqlStore
from fitboard.application.boards.ports import RankingIndex
from fitboard.application.workouts.processing import Processing
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope
from fitboard.domain.evaluation import Rules
from fitboard.domain.periods import period_key, period_range
from fitboard.domain.ranking import ranked
from fitboard.domain.workouts import WorkoutSubmission

from .ranking_adapters import ranking_fixture  # noqa: F401  (found by its `name`)
from .store_adapters import (  # noqa: F401
    migrated_postgres_url_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import T0, add_users, make_user

RULES = Rules(board_zone=ZoneInfo("UTC"), default_body_mass_kg=70.0)
WEEK_KEY = period_key(Period.WEEK, T0.date())


class Clock:
    def __init__(self) -> None:
        self.moment = T0 + timedelta(days=3)

    def now(self) -> datetime:
        return self.moment


class Worker:
    """The worker's use case on one store and one ranking index."""

    def __init__(self, store: SqlStore, ranking: RankingIndex, tmp_path: Path) -> None:
        self.store, self.ranking = store, ranking
        self.inflight = SqliteInFlight(tmp_path / "inflight.db")
        self.clock = Clock()

    async def athlete(self, name: str) -> UUID:
        user = make_user(name)
        await add_users(self.store, user)
        return user.id

    async def log(
        self,
        user_id: UUID,
        ended: datetime,
        duration_s: int,
        submitted: datetime,
        activity: Activity = Activity.YOGA,
    ) -> None:
        self.clock.moment = submitted
        submission = WorkoutSubmission(
            id=uuid4(),
            user_id=user_id,
            activity=activity,
            started_at=ended - timedelta(seconds=duration_s),
            duration_s=duration_s,
            submitted_at=submitted,
        )
        processing = Processing(self.store, self.ranking, self.inflight, self.clock, RULES)
        await processing.process_submission(submission)

    async def board(self, metric: Metric) -> list[tuple[UUID, int]]:
        """The weekly global board as the ranking index lists it, checked against the
        record's rebuild of the same board."""
        board = BoardId(metric, Period.WEEK, Scope.global_())
        page = await self.ranking.page(BoardKey(board, WEEK_KEY), 0, 10)
        listed = [(e.user_id, e.score) for e in page.entries]
        rng = period_range(Period.WEEK, WEEK_KEY)
        async with self.store.unit_of_work(read_only=True) as uow:
            standings = await uow.rollups.standings(board, rng.first, rng.last)
        rebuilt = [(s.user_id, s.score) for _, s in ranked(v.standing for v in standings)]
        assert listed == rebuilt
        return listed


@pytest.fixture(name="worker")
async def worker_fixture(
    store: SqlStore, ranking: RankingIndex, tmp_path: Path
) -> AsyncIterator[Worker]:
    worker = Worker(store, ranking, tmp_path)
    # The weekly global boards the tests read, loaded (empty, as the record is) before any
    # workout: a board neither loaded nor being loaded takes no write.
    for metric in Metric:
        await ranking.load(BoardKey(BoardId(metric, Period.WEEK, Scope.global_()), WEEK_KEY), [])
    yield worker
    await worker.inflight.close()


async def test_a_workout_that_adds_no_points_keeps_the_athletes_place(worker: Worker) -> None:
    ana, ben = await worker.athlete("ana"), await worker.athlete("ben")
    morning = T0 + timedelta(hours=2)
    # An hour of Hatha yoga each (2.5 MET, 25 points); Ana's reached the board first.
    await worker.log(ana, morning, 3600, morning + timedelta(minutes=5))
    await worker.log(ben, morning, 3600, morning + timedelta(minutes=10))
    assert await worker.board(Metric.POINTS) == [(ana, 25), (ben, 25)]
    # Ana's 60-second stretch adds 0 points (2.5 x 1/60 h x 10 = 0.4): her place holds.
    evening = T0 + timedelta(hours=12)
    await worker.log(ana, evening, 60, evening + timedelta(minutes=1))
    assert await worker.board(Metric.POINTS) == [(ana, 25), (ben, 25)]
    # On the workouts board she did add one, and leads by it.
    assert await worker.board(Metric.WORKOUTS) == [(ana, 2), (ben, 1)]


async def test_a_backdated_workout_does_not_win_a_tie_it_did_not_reach_first(
    worker: Worker,
) -> None:
    ana, ben = await worker.athlete("ana"), await worker.athlete("ben")
    # Ana's run ended at 09:00 and reached the board at 09:05. Ben's identical run ended
    # at 07:00 but was synced only at 20:00: Ana got to 25 points first.
    nine = T0 + timedelta(hours=3)
    await worker.log(ana, nine, 3600, nine + timedelta(minutes=5))
    seven, eight_pm = T0 + timedelta(hours=1), T0 + timedelta(hours=14)
    await worker.log(ben, seven, 3600, eight_pm)
    assert await worker.board(Metric.POINTS) == [(ana, 25), (ben, 25)]
    assert await worker.board(Metric.DURATION) == [(ana, 3600), (ben, 3600)]
