"""Daily rollups: what the boards are computed from, per athlete, day and activity."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Integer,
    Row,
    Select,
    and_,
    case,
    delete,
    func,
    literal_column,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.metrics import metric_total
from fitboard.adapters.sql.repositories import insert_by_dialect
from fitboard.adapters.sql.request_rows import RequestRows, insert_rows, numbered
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


def _added_values(
    user_id: UUID, day: date, activity: Activity, contribution: DailyContribution
) -> dict[str, Any]:
    """The parameters of _ADD for one workout's contribution to its row."""
    # Every moment is when the board learnt of the workout (`reached_at`), and a metric's
    # moment only moves with a workout that adds to it (docs/domain.md, "Ties").
    reached = contribution.reached_at
    moved = moments_moved(contribution)

    def moment(name: str) -> datetime | None:
        return reached if name in moved else None

    return {
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


_ADDED_COLUMNS = tuple(c.name for c in daily_rollups.c)


@functools.lru_cache(maxsize=2)
def _add_many(dialect_name: str) -> tuple[RequestRows, Any]:
    """add_many's statement (_ADD of many rows, in _ADDED_COLUMNS' order)."""
    key = ["user_id", "day", "activity"]
    rows_of, insert = insert_rows(daily_rollups, _ADDED_COLUMNS, key, dialect_name)
    return rows_of, _add_to_row(insert)


def _rounds(
    added: Sequence[tuple[UUID, date, Activity, DailyContribution]],
) -> list[list[tuple[UUID, date, Activity, DailyContribution]]]:
    """`added` in rounds: the n-th contribution to each (user, day, activity) row in the
    n-th round, in the order given."""
    rounds: list[list[tuple[UUID, date, Activity, DailyContribution]]] = []
    seen: dict[tuple[UUID, date, Activity], int] = {}
    for item in added:
        key = item[:3]
        n = seen.get(key, 0)
        seen[key] = n + 1
        if n == len(rounds):
            rounds.append([])
        rounds[n].append(item)
    return rounds


class SqlRollupRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(
        self, user_id: UUID, day: date, activity: Activity, contribution: DailyContribution
    ) -> None:
        values = _added_values(user_id, day, activity, contribution)
        await self._connection.execute(_ADD[self._connection.dialect.name], values)

    async def add_many(
        self, added: Sequence[tuple[UUID, date, Activity, DailyContribution]]
    ) -> None:
        # One INSERT ... ON CONFLICT DO UPDATE whose text is the same however many rows
        # (insert_rows) per round. A statement may not update one row twice, and adding
        # two contributions to a row at once would round their sum differently from
        # `add` after `add`: so the n-th contribution to a row goes in round n, each round
        # adding at most one to every row, and the rows' floats are added in the order
        # given. The worker's calls have one round: one workout per athlete a turn.
        rows_of, statement = _add_many(self._connection.dialect.name)
        for round_ in _rounds(added):
            rows = [
                [values[c] for c in _ADDED_COLUMNS]
                for values in (_added_values(*item) for item in round_)
            ]
            params = rows_of.params(self._connection.dialect, numbered(rows))
            await self._connection.execute(statement, params)

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
        (found,) = await self._totals([(user_id, [PeriodRange(first, last)])])
        return found[0]

    async def totals_by_period(
        self, user_id: UUID, ranges: Mapping[Period, PeriodRange]
    ) -> dict[Period, Totals]:
        (found,) = await self.totals_by_period_many([(user_id, ranges)])
        return found

    async def totals_by_period_many(
        self, requests: Sequence[tuple[UUID, Mapping[Period, PeriodRange]]]
    ) -> list[dict[Period, Totals]]:
        found = await self._totals(
            [(user_id, list(ranges.values())) for user_id, ranges in requests]
        )
        return [
            dict(zip(ranges, totals, strict=True))
            for (_, ranges), totals in zip(requests, found, strict=True)
        ]

    async def _totals(
        self, requests: Sequence[tuple[UUID, Sequence[PeriodRange]]]
    ) -> list[list[Totals]]:
        """Each request's totals over each of its ranges, in one statement per shape of
        ranges (the worker's requests all have one: every board day has the same periods)."""
        found: list[list[Totals]] = [[] for _ in requests]
        by_shape: dict[tuple[tuple[bool, bool], ...], list[int]] = {}
        for i, (_, ranges) in enumerate(requests):
            if ranges:
                by_shape.setdefault(_shape(ranges), []).append(i)
        for shape, indexes in by_shape.items():
            rows_of, statement = _totals_statement(shape, self._connection.dialect.name)
            params = rows_of.params(
                self._connection.dialect,
                [_totals_row(at, *requests[i]) for at, i in enumerate(indexes)],
            )
            per_request: list[list[Row[Any]]] = [[] for _ in indexes]
            for row in await self._connection.execute(statement, params):
                per_request[row[0]].append(row)
            for i, rows in zip(indexes, per_request, strict=True):
                found[i] = _parsed_totals(rows, len(shape), skip=1)
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


def _shape(ranges: Sequence[PeriodRange]) -> tuple[tuple[bool, bool], ...]:
    """Which bounds each range has: what _totals_statement is built for."""
    return tuple((r.first is not None, r.last is not None) for r in ranges)


def _totals_row(request: int, user_id: UUID, ranges: Sequence[PeriodRange]) -> list[Any]:
    """One request's row of _totals_statement(_shape(ranges))'s request rows."""
    row: list[Any] = [request, user_id]
    firsts = [r.first for r in ranges if r.first is not None]
    lasts = [r.last for r in ranges if r.last is not None]
    if len(firsts) == len(ranges):
        row.append(min(firsts))
    if len(lasts) == len(ranges):
        row.append(max(lasts))
    for r in ranges:
        row += [bound for bound in (r.first, r.last) if bound is not None]
    return row


def _parsed_totals(rows: Sequence[Row[Any]], ranges: int, skip: int = 0) -> list[Totals]:
    """The totals over each range from _totals_statement's rows (one athlete's), whose
    columns start after `skip` others."""
    found: list[Totals] = []
    for i in range(ranges):
        by_activity: dict[Activity, ActivityTotals] = {}
        for row in rows:
            at = skip + 1 + i * _PER_RANGE
            part = _activity_part(row[at : at + _PER_RANGE])
            if part is not None:
                by_activity[Activity(row[skip])] = part
        if not by_activity:
            found.append(Totals(by_activity={}))
            continue
        # The day columns are the same on every row (one row of them, cross-joined).
        at = skip + 1 + ranges * _PER_RANGE + 2 * i
        days, days_reached_at = rows[0][at : at + 2]
        found.append(
            Totals(
                by_activity=by_activity,
                active_days=int(days),
                active_day_reached_at=days_reached_at,
            )
        )
    return found


@functools.lru_cache(maxsize=32)
def _totals_statement(
    shape: tuple[tuple[bool, bool], ...], dialect_name: str
) -> tuple[RequestRows, Select[Any]]:
    """Athletes' totals over several day ranges each, in one statement whose text is the
    same however many athletes it reads (request_rows), built once per shape of ranges
    (for each range: whether it has a first day, a last day) and engine.

    Each request is a row (RequestRows, in the order of _totals_row): its index, the
    athlete; hull_first when every range has a first day (the earliest of them),
    hull_last when every range has a last day (the latest); then first_<i> and last_<i>
    for the bounds range i has. Every row answered is one request's and one activity's
    with rows in the hull: the request's index, the activity, per range i the eleven
    columns of ActivityTotals (active days 0: no rows of that activity in the range),
    then, after all ranges, the range's distinct active days and when the last of them
    became active, the same on every row of the request. Requests come in index order,
    each one's activities in name order (the order standings() combines them in, so sums
    across activities agree too); a request without rows in its hull has no rows.

    Each range is picked out of the hull by CASE; a sum over a range adds exactly the days
    a query over that range alone would. The rows come from a subquery ordered by
    (request, activity, day), which both engines aggregate in that order (PostgreSQL
    would otherwise sum in the order of an unstable sort), so float sums are the same to
    the last bit however many ranges and athletes are read together; the contract tests
    check it with sums that depend on the order of their terms."""
    columns: list[tuple[str, Any]] = [("request", Integer()), ("user_id", _r.user_id.type)]
    if all(has_first for has_first, _ in shape):
        columns.append(("hull_first", _r.day.type))
    if all(has_last for _, has_last in shape):
        columns.append(("hull_last", _r.day.type))
    for i, (has_first, has_last) in enumerate(shape):
        columns += [
            (f"{end}_{i}", _r.day.type)
            for end, has in (("first", has_first), ("last", has_last))
            if has
        ]
    rows_of = RequestRows("totals", tuple(columns))
    req = rows_of.relation(dialect_name)
    hull: list[ColumnElement[bool]] = [_r.user_id == req.c.user_id]
    if "hull_first" in req.c:
        hull.append(_r.day >= req.c.hull_first)
    if "hull_last" in req.c:
        hull.append(_r.day <= req.c.hull_last)
    joined = req.join(daily_rollups, and_(*hull))
    bounds = [c for c in req.c if c.name.startswith(("first_", "last_"))]

    def in_range(day: ColumnElement[date], i: int) -> ColumnElement[bool] | None:
        """Whether `day` is in range i; None where that is true of the whole hull."""
        has_first, has_last = shape[i]
        if len(shape) == 1 or not (has_first or has_last):
            return None
        within: list[ColumnElement[bool]] = []
        if has_first:
            within.append(day >= req.c[f"first_{i}"])
        if has_last:
            within.append(day <= req.c[f"last_{i}"])
        return and_(*within).label(f"in_{i}")

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
            req.c.request,
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
        .select_from(joined)
        .order_by(req.c.request, _r.activity, _r.day)
        .subquery("ordered")
    )
    o = ordered.c
    per_activity_columns: list[Any] = [o.request, o.activity]
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
    per_activity = (
        select(*per_activity_columns).group_by(o.request, o.activity).subquery("per_activity")
    )

    # A day counts once however many activities it has, and became active with its first
    # workout. A request's bounds are one value per request: grouping by them too groups
    # nothing more, and lets the flags read them.
    per_day = (
        select(req.c.request, func.min(_r.first_ended_at).label("reached_at"), *flags(_r.day))
        .select_from(joined)
        .group_by(req.c.request, _r.day, *bounds)
        .subquery("per_day")
    )
    day_columns: list[Any] = []
    for i in range(len(shape)):
        day_columns += [
            count(per_day, i).label(f"days_{i}"),
            func.max(when(per_day, i, per_day.c.reached_at)).label(f"days_reached_at_{i}"),
        ]
    days = select(per_day.c.request, *day_columns).group_by(per_day.c.request).subquery("days")
    statement = (
        select(*per_activity.c, *(c for c in days.c if c.name != "request"))
        .select_from(per_activity.join(days, days.c.request == per_activity.c.request))
        .order_by(per_activity.c.request, per_activity.c.activity)
    )
    return rows_of, statement


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
