"""Daily rollups: what the boards are computed from, per athlete, day and activity."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.repositories import dialect_insert
from fitboard.adapters.sql.tables import daily_rollups, group_members, users
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, Metric, Standing, VersionedStanding
from fitboard.domain.standings import score_on
from fitboard.domain.workouts import ActivityTotals, DailyContribution, Totals

_r = daily_rollups.c

# The rollup column summed for each metric, and the moment its total was last raised.
_SUMMED: dict[Metric, tuple[ColumnElement[Any], ColumnElement[Any]]] = {
    Metric.CALORIES: (_r.calories, _r.last_ended_at),
    Metric.DISTANCE: (_r.distance_m, _r.distance_last_ended_at),
    Metric.DURATION: (_r.duration_s, _r.last_ended_at),
    Metric.WORKOUTS: (_r.workouts, _r.last_ended_at),
    Metric.POINTS: (_r.points, _r.last_ended_at),
}


class SqlRollupRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(
        self, user_id: UUID, day: date, activity: Activity, contribution: DailyContribution
    ) -> None:
        distance_ended_at = contribution.ended_at if contribution.has_distance else None
        statement = dialect_insert(self._connection, daily_rollups).values(
            user_id=user_id,
            day=day,
            activity=activity.value,
            calories=contribution.calories,
            distance_m=contribution.distance_m,
            duration_s=contribution.duration_s,
            workouts=contribution.workouts,
            points=contribution.points,
            first_ended_at=contribution.ended_at,
            last_ended_at=contribution.ended_at,
            distance_last_ended_at=distance_ended_at,
        )
        new = statement.excluded
        # CASE rather than LEAST/GREATEST, which SQLite lacks (its min/max(a, b) are not
        # PostgreSQL's); a NULL never wins a comparison, so the stored value is kept.
        statement = statement.on_conflict_do_update(
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
                "distance_last_ended_at": case(
                    (_r.distance_last_ended_at.is_(None), new.distance_last_ended_at),
                    (
                        new.distance_last_ended_at > _r.distance_last_ended_at,
                        new.distance_last_ended_at,
                    ),
                    else_=_r.distance_last_ended_at,
                ),
            },
        )
        await self._connection.execute(statement)

    async def totals(self, user_id: UUID, first: date | None, last: date | None) -> Totals:
        in_range = [_r.user_id == user_id, *_day_range(first, last)]
        per_activity = (
            select(
                _r.activity,
                func.sum(_r.calories).label("calories"),
                func.sum(_r.distance_m).label("distance_m"),
                func.sum(_r.duration_s).label("duration_s"),
                func.sum(_r.workouts).label("workouts"),
                func.sum(_r.points).label("points"),
                func.count().label("active_days"),
                func.max(_r.last_ended_at).label("last_ended_at"),
                func.max(_r.distance_last_ended_at).label("distance_last_ended_at"),
                func.max(_r.first_ended_at).label("active_day_reached_at"),
            )
            .where(*in_range)
            .group_by(_r.activity)
            # The order standings() combines activities in: float sums then agree exactly.
            .order_by(_r.activity)
        )
        by_activity = {
            Activity(row.activity): ActivityTotals(
                calories=float(row.calories),
                distance_m=float(row.distance_m),
                duration_s=int(row.duration_s),
                workouts=int(row.workouts),
                points=int(row.points),
                active_days=int(row.active_days),
                last_ended_at=row.last_ended_at,
                distance_last_ended_at=row.distance_last_ended_at,
                active_day_reached_at=row.active_day_reached_at,
            )
            for row in await self._connection.execute(per_activity)
        }
        if not by_activity:
            return Totals(by_activity={})
        # A day counts once however many activities it has, and became active with its
        # first workout.
        days = (
            select(func.min(_r.first_ended_at).label("reached_at"))
            .where(*in_range)
            .group_by(_r.day)
            .subquery()
        )
        row = (
            await self._connection.execute(
                select(func.count().label("days"), func.max(days.c.reached_at).label("reached_at"))
            )
        ).one()
        return Totals(
            by_activity=by_activity,
            active_days=int(row.days),
            active_day_reached_at=row.reached_at,
        )

    async def days(self, user_id: UUID) -> list[date]:
        statement = select(_r.day).where(_r.user_id == user_id).group_by(_r.day).order_by(_r.day)
        return list((await self._connection.execute(statement)).scalars())

    async def standings(
        self, board: BoardId, first: date | None, last: date | None
    ) -> list[VersionedStanding]:
        # The sums over days are done by the database in one statement; the last step, from
        # an athlete's per-activity sums to a board score, is domain.standings.score_on itself,
        # so a rebuilt board can never disagree with what the worker projects.
        if board.metric is Metric.ACTIVE_DAYS:
            rows = await self._connection.execute(_active_days_statement(board, first, last))
            return _standings(board, _active_days_totals(board, rows))
        rows = await self._connection.execute(_summed_statement(board, first, last))
        return _standings(board, _summed_totals(board.metric, rows))


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
    value, reached_at = _SUMMED[board.metric]
    statement = (
        select(
            _r.user_id,
            _r.activity,
            func.sum(value).label("value"),
            func.max(reached_at).label("reached_at"),
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
        found[row.user_id][0].by_activity[Activity(row.activity)] = _activity_totals(
            metric, row.value, row.reached_at
        )
    return found


def _activity_totals(metric: Metric, value: Any, reached_at: datetime | None) -> ActivityTotals:
    if metric is Metric.CALORIES:
        return ActivityTotals(calories=float(value), last_ended_at=reached_at)
    if metric is Metric.DISTANCE:
        return ActivityTotals(distance_m=float(value), distance_last_ended_at=reached_at)
    if metric is Metric.DURATION:
        return ActivityTotals(duration_s=int(value), last_ended_at=reached_at)
    if metric is Metric.WORKOUTS:
        return ActivityTotals(workouts=int(value), last_ended_at=reached_at)
    return ActivityTotals(points=int(value), last_ended_at=reached_at)


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
