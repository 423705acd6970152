"""A closed month's reports get each athlete's final rank on the monthly points board,
once, on both engines of the record."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fitboard.adapters.sql import SqlStore
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.reports.monthly import (
    MonthlyReports,
    last_closed_month,
)
from fitboard.domain.activities import Activity
from fitboard.domain.workouts import DailyContribution

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    migrated_postgres_url_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_store_contract import add_users, make_user

NOW = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


class FixedClock:
    def now(self) -> datetime:
        return NOW


async def test_final_ranks_are_written_once_for_the_closed_month(store: SqlStore) -> None:
    utc = ZoneInfo("UTC")
    assert last_closed_month(NOW, utc) == "2026-11"
    athletes = [make_user(name) for name in ("ana", "ben", "cai", "dee")]
    await add_users(store, *athletes)
    points = {"ana": 120, "ben": 300, "cai": 120, "dee": 0}
    day = date(2026, 11, 14)
    async with store.unit_of_work() as uow:
        for i, user in enumerate(athletes):
            if points[user.username]:
                ended = datetime(2026, 11, 14, 8, i, tzinfo=UTC)
                contribution = DailyContribution(
                    calories=10.0, distance_m=0.0, duration_s=600, workouts=1,
                    points=points[user.username], ended_at=ended,
                )  # fmt: skip
                await uow.rollups.add(user.id, day, Activity.RUN, contribution)
            # dee has a report (say, only flagged workouts) but no score on the board.
            await uow.reports.save(user.id, "2026-11", json.dumps({"month": "2026-11"}), NOW)
        await uow.commit()

    reports = MonthlyReports(store, FixedClock(), utc)
    rounds = await asyncio.gather(*(reports.finalize_month("2026-11") for _ in range(3)))
    assert sorted(rounds) == [0, 0, 4]  # one consumer did it, the others found it claimed

    ranks = {}
    for user in athletes:
        report = await reports.read_report(user.id, "2026-11")
        assert report["closed"] is True
        ranks[user.username] = report["final_rank"]
    # ana and cai tie on points; ana reached them first, but ties share the rank.
    assert ranks == {"ben": 1, "ana": 2, "cai": 2, "dee": None}


async def test_every_closed_month_is_ranked_after_its_grace_window(store: SqlStore) -> None:
    utc = ZoneInfo("UTC")
    ana = make_user("ana")
    await add_users(store, ana)
    async with store.unit_of_work() as uow:
        for month in (9, 10, 11):  # three months closed while no consumer ran
            day = date(2026, month, 14)
            ended = datetime(2026, month, 14, 8, 0, tzinfo=UTC)
            contribution = DailyContribution(
                calories=10.0, distance_m=0.0, duration_s=600, workouts=1,
                points=50, ended_at=ended,
            )  # fmt: skip
            await uow.rollups.add(ana.id, day, Activity.RUN, contribution)
            await uow.reports.save(ana.id, f"2026-{month:02d}", json.dumps({}), NOW)
        await uow.commit()
    reports = MonthlyReports(store, FixedClock(), utc)
    # NOW is 2026-12-03 09:00: November closed 2 days 9 hours ago.
    assert await reports.finalize_closed_months(timedelta(days=3)) == {"2026-09": 1, "2026-10": 1}
    assert await reports.finalize_closed_months(timedelta(days=2)) == {"2026-11": 1}
    assert await reports.finalize_closed_months(timedelta(0)) == {}
    for closed in ("2026-09", "2026-10", "2026-11"):
        report = await reports.read_report(ana.id, closed)
        assert report["final_rank"] == 1


async def test_a_report_of_an_athlete_who_no_longer_exists_is_a_permanent_failure(
    store: SqlStore,
) -> None:
    """A report update still queued when its athlete deleted the account is given up at
    once, with the reason, instead of being retried against a refusing database."""
    reports = MonthlyReports(store, FixedClock(), ZoneInfo("UTC"))
    gone = make_user("gone")
    with pytest.raises(PermanentFailure, match=f"no athlete with id {gone.id}"):
        await reports.rebuild_month(gone.id, "2026-11")
    async with store.unit_of_work(read_only=True) as uow:
        assert await uow.reports.get(gone.id, "2026-11") is None
