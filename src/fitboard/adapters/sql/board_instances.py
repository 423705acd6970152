"""The record's board instances, for reconciliation: which instances the daily rollups
imply, and the standings of every instance of a board (or of every activity's or group's
boards) in one streamed statement.

The statements are those a rebuild of one instance runs (rollups.py), grouped by period
instance instead of filtered to one: an instance is picked out by the first day of its
period, computed by the database, so a board's every instance is one pass over the
rollups, ordered so that one instance's rows come together. PostgreSQL streams them
through a server-side cursor; SQLite steps its cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Date, DateTime, Select, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fitboard.adapters.sql.engine import READ_ONLY_OPTION
from fitboard.adapters.sql.metrics import metric_total
from fitboard.adapters.sql.rollups import active_days_totals, standings_of, summed_totals
from fitboard.adapters.sql.store import is_unavailable
from fitboard.adapters.sql.tables import daily_rollups, group_members, users
from fitboard.application.ports import StoreUnavailable
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScopeKind
from fitboard.domain.periods import ALL_TIME_KEY, period_key
from fitboard.domain.standings import METRICS, Tally
from fitboard.domain.workouts import Totals

_r = daily_rollups.c
# Rows fetched from the cursor at a time.
_FETCH_ROWS = 5000
# SQLite's date() modifiers from a day to the first day of its period (a week starts on
# Monday: forward to the Sunday that ends it, back six days).
_SQLITE_START = {
    Period.WEEK: ("weekday 0", "-6 days"),
    Period.MONTH: ("start of month",),
    Period.YEAR: ("start of year",),
}


def period_start(period: Period, dialect: str) -> ColumnElement[date] | None:
    """The first day of the period instance a rollup's day is in; None for all-time,
    whose one instance holds every day."""
    if period is Period.ALL:
        return None
    if period is Period.DAY:
        return _r.day
    if dialect == "postgresql":
        # date_trunc's week is the ISO week, which starts on Monday.
        return cast(func.date_trunc(period.value, cast(_r.day, DateTime)), Date)
    if dialect == "sqlite":
        return type_coerce(func.date(_r.day, *_SQLITE_START[period]), Date)
    raise ValueError(f"no period start for the {dialect} dialect")


def _instance_key(period: Period, start: date | None) -> str:
    return ALL_TIME_KEY if start is None else period_key(period, start)


class SqlRecordedBoards:
    """`RecordedBoards` over the daily rollups, on a connection of its own."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[SqlRecordReader]:
        dialect = self._engine.dialect.name
        try:
            async with self._engine.connect() as connection:
                options: dict[str, Any] = {READ_ONLY_OPTION: True}
                if dialect == "postgresql":
                    # One snapshot for every statement: what the record implies and the
                    # standings come from the same moment. (SQLite's read transaction is
                    # one snapshot already.)
                    options |= {"postgresql_readonly": True, "isolation_level": "REPEATABLE READ"}
                await connection.execution_options(**options)
                async with connection.begin():
                    yield SqlRecordReader(connection)
        except StoreUnavailable:
            raise
        except Exception as error:
            if is_unavailable(error):
                raise StoreUnavailable(str(error)) from error
            raise


# What picks out an instance besides its period: the activity of every activity's
# boards, the group of every group's.
_Instance = tuple[date | None, str | UUID | None]


class SqlRecordReader:
    """`RecordReader` on one open read transaction."""

    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection
        self._dialect = connection.dialect.name

    async def implied(self, period: Period) -> list[tuple[str, Scope]]:
        start = period_start(period, self._dialect)
        starts = [] if start is None else [start.label("start")]
        visible = users.c.show_on_leaderboards.is_(True)
        by_activity = (
            select(*starts, _r.activity)
            .select_from(daily_rollups)
            .join(users, users.c.id == _r.user_id)
            .where(visible)
            .distinct()
        )
        by_group = (
            select(*starts, group_members.c.group_id)
            .select_from(daily_rollups)
            .join(users, users.c.id == _r.user_id)
            .join(group_members, group_members.c.user_id == _r.user_id)
            .where(visible)
            .distinct()
        )
        found: set[tuple[str, Scope]] = set()
        for row in await self._connection.execute(by_activity):
            key = _instance_key(period, row.start if starts else None)
            found.add((key, Scope.global_()))
            found.add((key, Scope.for_activity(Activity(row.activity))))
        for row in await self._connection.execute(by_group):
            key = _instance_key(period, row.start if starts else None)
            found.add((key, Scope.for_group(row.group_id)))
        return sorted(found)

    async def scores(
        self, metric: Metric, period: Period, scope: Scope
    ) -> AsyncIterator[tuple[BoardKey, dict[UUID, int]]]:
        start = period_start(period, self._dialect)
        days = METRICS[metric].tally is Tally.DAYS
        each = _each(scope)
        statement = _statement(metric, scope, start, days=days)
        result = await self._connection.stream(statement.execution_options(yield_per=_FETCH_ROWS))
        current: _Instance | None = None
        found: dict[UUID, tuple[Totals, int]] = {}
        async for rows in result.partitions(_FETCH_ROWS):
            for instance, part in _runs(rows, has_start=start is not None, each=each):
                if instance != current:
                    if current is not None:
                        yield _scored(metric, period, scope, current, found)
                    current, found = instance, {}
                board = BoardId(metric, period, _scope_of(scope, instance[1]))
                if days:
                    active_days_totals(board, part, found)
                else:
                    summed_totals(metric, part, found)
        if current is not None:
            yield _scored(metric, period, scope, current, found)


def _each(scope: Scope) -> str | None:
    """The column that tells instances apart beside the period, when `scope` stands for
    every activity's or every group's boards."""
    if scope.value is not None or scope.kind is ScopeKind.GLOBAL:
        return None
    return "activity" if scope.kind is ScopeKind.ACTIVITY else "group_id"


def _scope_of(scope: Scope, value: str | UUID | None) -> Scope:
    if value is None:
        return scope
    if isinstance(value, UUID):
        return Scope.for_group(value)
    return Scope.for_activity(Activity(value))


def _scored(
    metric: Metric,
    period: Period,
    scope: Scope,
    instance: _Instance,
    found: dict[UUID, tuple[Totals, int]],
) -> tuple[BoardKey, dict[UUID, int]]:
    start, value = instance
    board = BoardId(metric, period, _scope_of(scope, value))
    scores = {s.standing.user_id: s.standing.score for s in standings_of(board, found)}
    return BoardKey(board, _instance_key(period, start)), scores


def _runs(
    rows: list[Any], *, has_start: bool, each: str | None
) -> Iterator[tuple[_Instance, list[Any]]]:
    """Consecutive rows of one instance, as (instance, rows)."""
    run: list[Any] = []
    instance: _Instance | None = None
    for row in rows:
        this = (row.start if has_start else None, row._mapping[each] if each else None)
        if this != instance and run:
            assert instance is not None
            yield instance, run
            run = []
        instance = this
        run.append(row)
    if run:
        assert instance is not None
        yield instance, run


def _statement(
    metric: Metric, scope: Scope, start: ColumnElement[date] | None, *, days: bool
) -> Select[Any]:
    """Rows of rollups.py's `_summed_statement` (or `_active_days_statement`) shape for
    every instance of the board, each led by its instance's columns (`start`; `activity`
    or `group_id` for every activity's or group's boards), ordered by instance and
    athlete."""
    instance: list[Any] = [] if start is None else [start.label("start")]
    each = _each(scope)
    if each == "group_id":
        instance.append(group_members.c.group_id)
    elif each == "activity":
        instance.append(_r.activity)
    activity = scope.activity

    def scoped(statement: Select[Any]) -> Select[Any]:
        if activity is not None:
            statement = statement.where(_r.activity == activity.value)
        if each == "group_id":
            statement = statement.join(group_members, group_members.c.user_id == _r.user_id)
        return statement

    if not days:
        # Every activity's boards lead with the activity already.
        per_activity = [*instance, _r.user_id, *([] if each == "activity" else [_r.activity])]
        statement: Select[Any] = select(
            *per_activity,
            metric_total(metric, daily_rollups).label("value"),
            func.max(_r[METRICS[metric].reached_at]).label("reached_at"),
            users.c.projection_version,
        )
        statement = statement.select_from(daily_rollups).join(users, users.c.id == _r.user_id)
        statement = scoped(statement).where(users.c.show_on_leaderboards.is_(True))
        return statement.group_by(*per_activity, users.c.projection_version).order_by(*per_activity)
    per_day = (
        scoped(
            select(
                *instance, _r.user_id, func.min(_r.first_ended_at).label("reached_at")
            ).select_from(daily_rollups)
        )
        .group_by(*instance, _r.user_id, _r.day)
        .subquery()
    )
    outer = [per_day.c[c.name] for c in instance]
    return (
        select(
            *outer,
            per_day.c.user_id,
            func.count().label("value"),
            func.max(per_day.c.reached_at).label("reached_at"),
            users.c.projection_version,
        )
        .join(users, users.c.id == per_day.c.user_id)
        .where(users.c.show_on_leaderboards.is_(True))
        .group_by(*outer, per_day.c.user_id, users.c.projection_version)
        .order_by(*outer, per_day.c.user_id)
    )
