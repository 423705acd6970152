"""The record's board instances, for reconciliation: which instances the daily rollups
imply, and the scores on every instance of a board (or of every activity's or group's
boards) from one streamed statement.

The statements sum what a rebuild of one instance sums (rollups.py), grouped by period
instance instead of filtered to one: an instance is picked out by the first day of its
period, computed by the database, so a board's every instance is one pass over the
rollups, ordered so that one instance's rows come together. PostgreSQL streams them
through a server-side cursor; SQLite steps its cursor."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Date, DateTime, Select, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fitboard.adapters.sql.engine import READ_ONLY_OPTION
from fitboard.adapters.sql.metrics import metric_total
from fitboard.adapters.sql.store import is_unavailable
from fitboard.adapters.sql.tables import daily_rollups, group_members, users
from fitboard.application.ports import StoreUnavailable
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScopeKind
from fitboard.domain.periods import ALL_TIME_KEY, period_key
from fitboard.domain.standings import METRICS, Tally, total_score

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
        each = _each(scope)
        statement = _statement(metric, scope, start)
        result = await self._connection.stream(statement.execution_options(yield_per=_FETCH_ROWS))
        current: _Instance | None = None
        found: dict[UUID, int] = {}
        async for rows in result.partitions(_FETCH_ROWS):
            for row in rows:
                instance = (
                    row.start if start is not None else None,
                    row._mapping[each] if each else None,
                )
                if instance != current:
                    if current is not None:
                        yield _key(metric, period, scope, current), found
                    current, found = instance, {}
                # The rule of rollups.py's standings (domain.standings.score_on): a score
                # above zero, reached at some moment.
                score = total_score(metric, row.value)
                if score > 0 and row.reached_at is not None:
                    found[row.user_id] = score
        if current is not None:
            yield _key(metric, period, scope, current), found


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


def _key(metric: Metric, period: Period, scope: Scope, instance: _Instance) -> BoardKey:
    start, value = instance
    return BoardKey(BoardId(metric, period, _scope_of(scope, value)), _instance_key(period, start))


def _statement(metric: Metric, scope: Scope, start: ColumnElement[date] | None) -> Select[Any]:
    """Each visible athlete's total of `metric` on every instance of the board, and when
    it was last raised, as rows (instance columns, user_id, value, reached_at) ordered by
    instance and athlete. The instance columns are `start` (none for all-time) and, for
    every activity's or group's boards, `activity` or `group_id`.

    A total over several activities is summed by the database in one go, where a rebuild
    sums each activity's and then adds them up: a board's score does not depend on the
    order of its sum (domain.standings.whole), so both give the same. Active days count
    distinct days, each day's moment its first workout's, as a rebuild counts them."""
    instance: list[Any] = [] if start is None else [start.label("start")]
    each = _each(scope)
    if each == "group_id":
        instance.append(group_members.c.group_id)
    elif each == "activity":
        instance.append(_r.activity)
    activity = scope.activity

    def scoped(statement: Select[Any]) -> Select[Any]:
        statement = statement.select_from(daily_rollups)
        if activity is not None:
            statement = statement.where(_r.activity == activity.value)
        if each == "group_id":
            statement = statement.join(group_members, group_members.c.user_id == _r.user_id)
        return statement

    visible = users.c.show_on_leaderboards.is_(True)
    if METRICS[metric].tally is not Tally.DAYS:
        summed = scoped(
            select(
                *instance,
                _r.user_id,
                metric_total(metric, daily_rollups).label("value"),
                func.max(_r[METRICS[metric].reached_at]).label("reached_at"),
            )
        )
        return (
            summed.join(users, users.c.id == _r.user_id)
            .where(visible)
            .group_by(*instance, _r.user_id)
            .order_by(*instance, _r.user_id)
        )
    per_day = (
        scoped(select(*instance, _r.user_id, func.min(_r.first_ended_at).label("reached_at")))
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
        )
        .join(users, users.c.id == per_day.c.user_id)
        .where(visible)
        .group_by(*outer, per_day.c.user_id)
        .order_by(*outer, per_day.c.user_id)
    )
