"""Monthly reports: a consumer of `workout.processed`, separate from the ingest path.

Nothing that saves a workout knows this module exists: it subscribes to the exchange with
a queue of its own, so it can be stopped, redeployed or fall behind without touching
ingest, and catches up from its durable queue when it comes back. Each message rebuilds
the athlete's report for that month from the record (absolute, so redelivery is harmless);
a batch of messages rebuilds each (athlete, month) it names once, in one transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.messaging.errors import PartlyHandled, PermanentFailure
from fitboard.application.messaging.ports import Delivery
from fitboard.application.ports import Clock, Store
from fitboard.application.reports.ports import ReportsUnit
from fitboard.domain.boards import BoardId, Metric, Period, Scope
from fitboard.domain.errors import InvalidField, NotFound
from fitboard.domain.periods import (
    PeriodRange,
    board_day,
    judgeable_keys,
    period_key,
    period_range,
)
from fitboard.domain.ranking import ranked
from fitboard.domain.standings import combined
from fitboard.domain.workouts import Totals, Workout

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
# The board a month's final rank is read from: points let every activity compete.
RANK_BOARD_METRIC = Metric.POINTS


def check_month(month: str) -> str:
    if not MONTH.match(month):
        raise InvalidField("month", f"{month!r} is not a month; expected YYYY-MM, e.g. 2026-11")
    return month


def last_closed_month(now: datetime, zone: ZoneInfo) -> str:
    first_of_this_month = board_day(now, zone).replace(day=1)
    return period_key(Period.MONTH, first_of_this_month - timedelta(days=1))


FINAL_RANKS_JOB = "report-final-ranks"


def processed_report(body: bytes) -> tuple[UUID, str]:
    """The athlete and month whose report a `workout.processed` message's body asks for."""
    try:
        data = json.loads(body)
        user_id = UUID(data["user_id"])
        month = str(data["board_day"])[:7]
        check_month(month)
    except (ValueError, KeyError, TypeError, InvalidField) as exc:
        raise PermanentFailure(f"malformed workout.processed message: {exc!r}") from exc
    return user_id, month


def month_days(rng: PeriodRange) -> tuple[date, date]:
    """A month's first and last day (a month's range has both)."""
    assert rng.first is not None
    assert rng.last is not None
    return rng.first, rng.last


def report_body(month: str, totals: Totals, best: Workout | None) -> dict[str, Any]:
    """An athlete's report for `month`, from their totals and best workout of it."""
    overall = combined(totals)
    return {
        "month": month,
        "workouts": overall.workouts,
        "active_days": totals.active_days,
        "distance_m": round(overall.distance_m, 1),
        "duration_s": overall.duration_s,
        "calories": round(overall.calories, 1),
        "points": overall.points,
        "by_activity": {
            activity.value: {
                "workouts": t.workouts,
                "active_days": t.active_days,
                "distance_m": round(t.distance_m, 1),
                "duration_s": t.duration_s,
                "calories": round(t.calories, 1),
                "points": t.points,
            }
            for activity, t in sorted(totals.by_activity.items())
        },
        "best_workout": None
        if best is None
        else {
            "id": str(best.id),
            "activity": best.submission.activity.value,
            "started_at": best.submission.started_at.isoformat(),
            "distance_m": best.submission.distance_m,
            "duration_s": best.submission.duration_s,
            "calories": best.calories,
            "points": best.points,
        },
    }


class MonthlyReports:
    """Keeping each athlete's monthly reports, ranking closed months, and reading them."""

    def __init__(self, store: Store[ReportsUnit], clock: Clock, zone: ZoneInfo) -> None:
        self._store = store
        self._clock = clock
        self._zone = zone

    async def rebuild_month(self, user_id: UUID, month: str) -> dict[str, Any]:
        """Recompute one athlete's report for one month from the record, and store it."""
        rebuilt, missing = await self.rebuild_months([(user_id, month)])
        if missing:
            raise PermanentFailure(f"no athlete with id {user_id}")
        return rebuilt[user_id, month]

    async def rebuild_months(
        self, wanted: Iterable[tuple[UUID, str]]
    ) -> tuple[dict[tuple[UUID, str], dict[str, Any]], set[UUID]]:
        """`rebuild_month` of every distinct (athlete, month) of `wanted`, in one transaction:
        the reports rebuilt, by (athlete, month), and the athletes with no row (deleted
        accounts), whose reports are neither built nor stored."""
        pairs = sorted(set(wanted))
        rebuilt: dict[tuple[UUID, str], dict[str, Any]] = {}
        async with self._store.unit_of_work() as uow:
            # The athletes' row locks make rebuilds of one athlete take turns, across
            # consumers too: a rebuild that read older totals cannot commit after a newer
            # one. They are taken in the order of the athletes' ids, as the worker takes
            # them, so two batches that share athletes never deadlock.
            ids = sorted({user_id for user_id, _ in pairs})
            present = await uow.users.lock_many(ids)
            kept = [(user_id, month) for user_id, month in pairs if user_id in present]
            months = {month: period_range(Period.MONTH, month) for _, month in kept}
            totals = await uow.rollups.totals_by_period_many(
                [(user_id, {Period.MONTH: months[month]}) for user_id, month in kept]
            )
            bests = await uow.reports.best_workouts(
                [(user_id, *month_days(months[month])) for user_id, month in kept]
            )
            for (user_id, month), found, best in zip(kept, totals, bests, strict=True):
                rebuilt[user_id, month] = report_body(month, found[Period.MONTH], best)
            await uow.reports.save_many(
                [(user_id, month, json.dumps(body)) for (user_id, month), body in rebuilt.items()],
                self._clock.now(),
            )
            await uow.commit()
        return rebuilt, set(ids) - present

    async def handle_processed_batch(self, deliveries: Sequence[Delivery]) -> None:
        """Rebuild the reports a batch of `workout.processed` asks for, each distinct
        (athlete, month) once, in one transaction.

        A message that cannot be read, or whose athlete deleted the account, is refused on
        its own (`PartlyHandled`, so it is dead-lettered as it was when messages came one at
        a time) after the others' reports are committed: the valid ones are rebuilt once,
        where raising for the whole batch would have the consumer split it and rebuild
        them again half by half."""
        failures: dict[int, Exception] = {}
        wanted: dict[int, tuple[UUID, str]] = {}
        for index, delivery in enumerate(deliveries):
            try:
                wanted[index] = processed_report(delivery.message.body)
            except PermanentFailure as exc:
                failures[index] = exc
        if wanted:
            _, missing = await self.rebuild_months(wanted.values())
            for index, (user_id, _) in wanted.items():
                if user_id in missing:
                    failures[index] = PermanentFailure(f"no athlete with id {user_id}")
        if failures:
            raise PartlyHandled(failures)

    async def finalize_closed_months(self, grace: timedelta) -> dict[str, int]:
        """`finalize_month` for every month that closed at least `grace` ago and has no final
        ranks yet, oldest first: a late sync inside the grace window still counts, and a month
        that closed while no consumer ran is ranked when one runs again. Returns how many
        reports each month ranked."""
        async with self._store.unit_of_work(read_only=True) as uow:
            first_day = await uow.rollups.first_day()
            done = await uow.runs.claimed(FINAL_RANKS_JOB)
        if first_day is None:
            return {}
        now = self._clock.now()
        return {
            month: await self.finalize_month(month)
            for month in judgeable_keys(Period.MONTH, first_day, now, self._zone, grace)
            if month not in done
        }

    async def finalize_month(self, month: str) -> int:
        """Write each reported athlete's final rank on the month's points board, once per
        month however many report consumers run. Returns how many reports were ranked."""
        rng = period_range(Period.MONTH, month)
        board = BoardId(RANK_BOARD_METRIC, Period.MONTH, Scope.global_())
        async with self._store.unit_of_work() as uow:
            if not await uow.runs.claim_run(FINAL_RANKS_JOB, month, self._clock.now()):
                return 0
            standings = await uow.rollups.standings(board, rng.first, rng.last)
            ranks = {s.user_id: rank for rank, s in ranked(v.standing for v in standings)}
            reported = await uow.reports.users_with_reports(month)
            # In the order of the athletes' ids, the order a batch of rebuilds writes the
            # month's reports in (save_many): the two never wait on each other in a cycle.
            for user_id in sorted(reported):
                await uow.reports.set_final_rank(user_id, month, ranks.get(user_id))
            await uow.commit()
        return len(reported)

    async def read_report(self, user_id: UUID, month: str) -> dict[str, Any]:
        """The athlete's report for `month`, saying whether the month has closed."""
        check_month(month)
        today = board_day(self._clock.now(), self._zone)
        async with self._store.unit_of_work(read_only=True) as uow:
            stored = await uow.reports.get(user_id, month)
        if stored is None:
            raise NotFound(f"no report for {month}: no workout of yours was processed that month")
        body: dict[str, Any] = json.loads(stored.body)
        rng = period_range(Period.MONTH, month)
        body["closed"] = rng.last is not None and rng.last < today
        body["final_rank"] = stored.final_rank
        body["updated_at"] = stored.updated_at.isoformat()
        return body
