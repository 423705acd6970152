"""Daily rollups: what the boards are computed from, per athlete, day and activity."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.metrics import metric_total
from fitboard.adapters.sql.repositories import insert_by_dialect
from fitboard.adapters.sql.tables import daily_rollups, group_members, users
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, Metric, Period, Standing, VersionedStanding
from fitboard.domain.periods import PeriodRange
from fitboard.domain.standings import METRICS, Tally, metric_totals, moments_moved, score_on
from fitboard.domain.workouts import ActivityTotals, DailyContribution, Totals

_r = daily_rollups.c


def _later_of(stored: Any, new: Any) -> Any:
    """The later of two nullable moments (a NULL is no moment: the other one wins)."""
    return case((stored.is_(None), new), (new > stored, new), else_=stored)


def _add_to_row(insert: Any) -> Any:
    """Insert the (user, day, activity) row, or add to it."""
    new = insert.excluded
    # CASE rather than LEAST/GREATEST, which SQLite lacks (its min/max(a, b) are not
    # PostgreSQL's); a NULL never wins a comparison, so the stored value is kept.
    return insert.on_conflict_do_update(
        index_elements=[_r.user_id, _r.day, _r.activity],
        set_={
            "calories": _r.calories + new.calories,
            "distance_m": _r.distance_m + new.distance_m,
            "duration_s": _r.duration_s + new.duration_s,
            "workouts": _r.workouts + new.workouts,
            "points": _r.points + new.points,
            "first_ended_at": case(
                (new.first_ended_at < _r.first_ended_at, new.first_ended_at),
                else_=_r.first_ended_at,
            ),
            "last_ended_at": case(
                (new.last_ended_at > _r.last_ended_at, new.last_ended_at),
                else_=_r.last_ended_at,
            ),
            "distance_last_ended_at": _later_of(
                _r.distance_last_ended_at, new.distance_last_ended_at
            ),
            "calories_reached_at": _later_of(_r.calories_reached_at, new.calories_reached_at),
            "points_reached_at": _later_of(_r.points_reached_at, new.points_reached_at),
        },
    )


_ADD = insert_by_dialect(daily_rollups, _add_to_row)


class SqlRollupRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(
        self, user_id: UUID, day: date, activity: Activity, contribution: DailyContribution
    ) -> None:
        # Every moment is when the board learnt of the workout (`reached_at`), and a metric's
        # moment only moves with a workout that adds to it (docs/domain.md, "Ties").
        reached = contribution.reached_at
        moved = moments_moved(contribution)

        def moment(name: str) -> datetime | None:
            return reached if name in moved else None

        values = {
            "user_id": user_id,
            "day": day,
            "activity": activity.value,
            "calories": contribution.calories,
            "distance_m": contribution.distance_m,
            "duration_s": contribution.duration_s,
            "workouts": contribution.workouts,
            "points": contribution.points,
            # The day's first workout makes it an active day.
            "first_ended_at": reached,
            "last_ended_at": moment("last_ended_at"),
            "distance_last_ended_at": moment("distance_last_ended_at"),
            "calories_reached_at": moment("calories_reached_at"),
            "points_reached_at": moment("points_reached_at"),
        }
        await self._connection.execute(_ADD[self._connection.dialect.name], values)

    async def rebuild_day(
        self,
        user_id: UUID,
        day: date,
        contributions: Sequence[tuple[Activity, DailyContribution]],
    ) -> None:
        await self._connection.execute(
            delete(daily_rollups).where(_r.user_id == user_id, _r.day == day)
        )
        for activity, contribution in contributions:
            await self.add(user_id, day, activity, contribution)

    async def totals(self, user_id: UUID, first: date | None, last: date | None) -> Totals:
        return (await self._totals(user_id, [PeriodRange(first, last)]))[0]

    async def totals_by_period(
        self, user_id: UUID, ranges: Mapping[Period, PeriodRange]
    ) -> dict[Period, Totals]:
        found = await self._totals(user_id, list(ranges.values()))
        return dict(zip(ranges, found, strict=True))

    async def _totals(self, user_id: UUID, ranges: Sequence[PeriodRange]) -> list[Totals]:
        """`totals` over each range, all read in one statement."""
        if not ranges:
            return []
        shape = tuple((r.first is not None, r.last is not None) for r in ranges)
        params: dict[str, Any] = {"user_id": user_id}
        firsts = [r.first for r in ranges if r.first is not None]
        lasts = [r.last for r in ranges if r.last is not None]
        if len(firsts) == len(ranges):
            params["hull_first"] = min(firsts)
        if len(lasts) == len(ranges):
            params["hull_last"] = max(lasts)
        for i, r in enumerate(ranges):
            if r.first is not None:
                params[f"first_{i}"] = r.first
            if r.last is not None:
                params[f"last_{i}"] = r.last
        rows = (await self._connection.execute(_totals_statement(shape), params)).all()
        found: list[Totals] = []
        for i in range(len(ranges)):
            by_activity: dict[Activity, ActivityTotals] = {}
            for row in rows:
                at = 1 + i * _PER_RANGE
                part = _activity_part(row[at : at + _PER_RANGE])
                if part is not None:
                    by_activity[Activity(row[0])] = part
            if not by_activity:
                found.append(Totals(by_activity={}))
                continue
            # The day columns are the same on every row (one row of them, cross-joined).
            at = 1 + len(ranges) * _PER_RANGE + 2 * i
            days, days_reached_at = rows[0][at : at + 2]
            found.append(
                Totals(
                    by_activity=by_activity,
                    active_days=int(days),
                    active_day_reached_at=days_reached_at,
                )
            )
        return found

    async def first_day(self) -> date | None:
        # Answered from the (day, activity) index, not a scan.
        day: date | None = (await self._connection.execute(select(func.min(_r.day)))).scalar()
        return day

    async def days(self, user_id: UUID) -> list[date]:
        statement = select(_r.day).where(_r.user_id == user_id).group_by(_r.day).order_by(_r.day)
        return list((await self._connection.execute(statement)).scalars())

    async def standings(
        self, board: BoardId, first: date | None, last: date | None
    ) -> list[VersionedStanding]:
        # The sums over days are done by the database in one statement; the last step, from
        # an athlete's per-activity sums to a board score, is domain.standings.score_on itself,
        # so a rebuilt board can never disagree with what the worker projects. Days are
        # counted by a statement of their own: a day's moment is its first workout's.
        if METRICS[board.metric].tally is Tally.DAYS:
            rows = await self._connection.execute(_active_days_statement(board, first, last))
            return _standings(board, _active_days_totals(board, rows))
        rows = await self._connection.execute(_summed_statement(board, first, last))
        return _standings(board, _summed_totals(board.metric, rows))


# Per range: the eleven per-activity columns of _totals_statement, in ActivityTotals' order.
_PER_RANGE = 11


@functools.lru_cache(maxsize=32)
def _totals_statement(shape: tuple[tuple[bool, bool], ...]) -> Select[Any]:
    """One athlete's totals over several day ranges in one statement, built once per shape
    (for each range: whether it has a first day, a last day).

    Bind parameters: user_id; first_<i> and last_<i> for the bounds a range has;
    hull_first when every range has a first day (the earliest of them), hull_last when
    every range has a last day (the latest). Every row is one activity with rows in the
    hull; per range i it has the eleven columns of ActivityTotals (active days 0: no rows of
    that activity in the range), then, after all ranges, the range's distinct active days
    and when the last of them became active, the same on every row.

    Each range is picked out of the hull by CASE; a sum over a range adds exactly the days
    a query over that range alone would. The rows come from a subquery ordered by
    (activity, day), which both engines aggregate in that order (PostgreSQL would otherwise
    sum in the order of an unstable sort), so float sums are the same to the last bit
    however many ranges are read together; the contract tests check it with sums that
    depend on the order of their terms. Activities come in name order: the order
    standings() combines them in, so sums across activities agree too."""
    user_id = bindparam("user_id", type_=_r.user_id.type)
    hull: list[ColumnElement[bool]] = []
    if all(has_first for has_first, _ in shape):
        hull.append(_r.day >= bindparam("hull_first", type_=_r.day.type))
    if all(has_last for _, has_last in shape):
        hull.append(_r.day <= bindparam("hull_last", type_=_r.day.type))

    def in_range(day: ColumnElement[date], i: int) -> ColumnElement[bool] | None:
        """Whether `day` is in range i; None where that is true of the whole hull."""
        has_first, has_last = shape[i]
        if len(shape) == 1 or not (has_first or has_last):
            return None
        bounds: list[ColumnElement[bool]] = []
        if has_first:
            bounds.append(day >= bindparam(f"first_{i}", type_=_r.day.type))
        if has_last:
            bounds.append(day <= bindparam(f"last_{i}", type_=_r.day.type))
        return and_(*bounds).label(f"in_{i}")

    def flags(day: ColumnElement[date]) -> list[Any]:
        return [flag for i in range(len(shape)) if (flag := in_range(day, i)) is not None]

    def when(rows: Any, i: int, value: ColumnElement[Any]) -> Any:
        flag = rows.c.get(f"in_{i}")
        return value if flag is None else case((flag, value))

    def count(rows: Any, i: int) -> Any:
        flag = rows.c.get(f"in_{i}")
        return func.count() if flag is None else func.count(case((flag, literal_column("1"))))

    ordered = (
        select(
            _r.activity,
            _r.calories,
            _r.distance_m,
            _r.duration_s,
            _r.workouts,
            _r.points,
            _r.first_ended_at,
            _r.last_ended_at,
            _r.distance_last_ended_at,
            _r.calories_reached_at,
            _r.points_reached_at,
            *flags(_r.day),
        )
        .where(_r.user_id == user_id, *hull)
        .order_by(_r.activity, _r.day)
        .subquery("ordered")
    )
    o = ordered.c
    per_activity_columns: list[Any] = [o.activity]
    for i in range(len(shape)):
        per_activity_columns += [
            func.sum(when(ordered, i, o.calories)).label(f"calories_{i}"),
            func.sum(when(ordered, i, o.distance_m)).label(f"distance_m_{i}"),
            func.sum(when(ordered, i, o.duration_s)).label(f"duration_s_{i}"),
            func.sum(when(ordered, i, o.workouts)).label(f"workouts_{i}"),
            func.sum(when(ordered, i, o.points)).label(f"points_{i}"),
            count(ordered, i).label(f"active_days_{i}"),
            func.max(when(ordered, i, o.last_ended_at)).label(f"last_ended_at_{i}"),
            func.max(when(ordered, i, o.distance_last_ended_at)).label(
                f"distance_last_ended_at_{i}"
            ),
            func.max(when(ordered, i, o.first_ended_at)).label(f"active_day_reached_at_{i}"),
            func.max(when(ordered, i, o.calories_reached_at)).label(f"calories_reached_at_{i}"),
            func.max(when(ordered, i, o.points_reached_at)).label(f"points_reached_at_{i}"),
        ]
    per_activity = select(*per_activity_columns).group_by(o.activity).subquery("per_activity")

    # A day counts once however many activities it has, and became active with its first
    # workout.
    per_day = (
        select(func.min(_r.first_ended_at).label("reached_at"), *flags(_r.day))
        .where(_r.user_id == user_id, *hull)
        .group_by(_r.day)
        .subquery("per_day")
    )
    day_columns: list[Any] = []
    for i in range(len(shape)):
        day_columns += [
            count(per_day, i).label(f"days_{i}"),
            func.max(when(per_day, i, per_day.c.reached_at)).label(f"days_reached_at_{i}"),
        ]
    days = select(*day_columns).subquery("days")
    return (
        select(*per_activity.c, *days.c)
        .select_from(per_activity.join(days, true()))
        .order_by(per_activity.c.activity)
    )


def _activity_part(columns: Sequence[Any]) -> ActivityTotals | None:
    """One range's eleven per-activity columns of _totals_statement; None without rows."""
    (calories, distance_m, duration_s, workouts, points, active_days,
     last_ended_at, distance_last_ended_at, reached_at,
     calories_reached_at, points_reached_at) = columns  # fmt: skip
    if not active_days:
        return None
    return ActivityTotals(
        calories=float(calories),
        distance_m=float(distance_m),
        duration_s=int(duration_s),
        workouts=int(workouts),
        points=int(points),
        active_days=int(active_days),
        last_ended_at=last_ended_at,
        distance_last_ended_at=distance_last_ended_at,
        active_day_reached_at=reached_at,
        calories_reached_at=calories_reached_at,
        points_reached_at=points_reached_at,
    )


def _day_range(first: date | None, last: date | None) -> list[ColumnElement[bool]]:
    bounds: list[ColumnElement[bool]] = []
    if first is not None:
        bounds.append(_r.day >= first)
    if last is not None:
        bounds.append(_r.day <= last)
    return bounds


def _in_scope(statement: Select[Any], board: BoardId) -> Select[Any]:
    activity = board.scope.activity
    if activity is not None:
        statement = statement.where(_r.activity == activity.value)
    group_id = board.scope.group_id
    if group_id is not None:
        statement = statement.join(
            group_members,
            and_(group_members.c.user_id == _r.user_id, group_members.c.group_id == group_id),
        )
    return statement


def _summed_statement(board: BoardId, first: date | None, last: date | None) -> Select[Any]:
    """Per visible athlete and activity: the metric's sum and when it was last raised."""
    statement = (
        select(
            _r.user_id,
            _r.activity,
            metric_total(board.metric, daily_rollups).label("value"),
            func.max(_r[METRICS[board.metric].reached_at]).label("reached_at"),
            users.c.projection_version,
        )
        .join(users, users.c.id == _r.user_id)
        .where(users.c.show_on_leaderboards.is_(True), *_day_range(first, last))
    )
    return (
        _in_scope(statement, board)
        .group_by(_r.user_id, _r.activity, users.c.projection_version)
        .order_by(_r.user_id, _r.activity)
    )


def _active_days_statement(board: BoardId, first: date | None, last: date | None) -> Select[Any]:
    """Per visible athlete: distinct active days, and when the last of them became active."""
    per_day = (
        _in_scope(
            select(_r.user_id, func.min(_r.first_ended_at).label("reached_at")).where(
                *_day_range(first, last)
            ),
            board,
        )
        .group_by(_r.user_id, _r.day)
        .subquery()
    )
    return (
        select(
            per_day.c.user_id,
            func.count().label("value"),
            func.max(per_day.c.reached_at).label("reached_at"),
            users.c.projection_version,
        )
        .join(users, users.c.id == per_day.c.user_id)
        .where(users.c.show_on_leaderboards.is_(True))
        .group_by(per_day.c.user_id, users.c.projection_version)
    )


def _summed_totals(metric: Metric, rows: Iterable[Row[Any]]) -> dict[UUID, tuple[Totals, int]]:
    found: dict[UUID, tuple[Totals, int]] = {}
    for row in rows:
        if row.user_id not in found:
            found[row.user_id] = (Totals(by_activity={}), int(row.projection_version))
        found[row.user_id][0].by_activity[Activity(row.activity)] = metric_totals(
            metric, row.value, row.reached_at
        )
    return found


def _active_days_totals(board: BoardId, rows: Iterable[Row[Any]]) -> dict[UUID, tuple[Totals, int]]:
    activity = board.scope.activity
    found: dict[UUID, tuple[Totals, int]] = {}
    for row in rows:
        if activity is None:
            totals = Totals(
                by_activity={}, active_days=int(row.value), active_day_reached_at=row.reached_at
            )
        else:
            # One row per day and activity, so within one activity rows are days.
            part = ActivityTotals(active_days=int(row.value), active_day_reached_at=row.reached_at)
            totals = Totals(by_activity={activity: part})
        found[row.user_id] = (totals, int(row.projection_version))
    return found


def _standings(
    board: BoardId, totals_by_user: dict[UUID, tuple[Totals, int]]
) -> list[VersionedStanding]:
    standings: list[VersionedStanding] = []
    for user_id, (totals, version) in totals_by_user.items():
        score, reached_at = score_on(board, totals)
        if score > 0 and reached_at is not None:
            standings.append(VersionedStanding(Standing(user_id, score, reached_at), version))
    return standings
