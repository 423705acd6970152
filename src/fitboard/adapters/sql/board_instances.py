"""The record's board instances, for reconciliation and rebuilds: which instances the
daily rollups imply, and every metric's scores on every instance of a period and scope (or
of every activity's or group's instances) from one streamed statement, or their standings
over some days (`instance_standings`, what warming reads); or the standings of some
metrics' boards on one instance from one statement, streamed in chunks as its cursor gives
them (`instance_chunks`, what a rebuild reads).

The statement sums what a rebuild of one instance sums (rollups.py), grouped by period
instance instead of filtered to one, and every metric's total in the same row: an
instance is picked out by the first day of its period, computed by the database, so all
the instances of a period and scope are one pass over the rollups, ordered so that one
instance's rows come together. PostgreSQL streams them through a server-side cursor;
SQLite steps its cursor. Scores are made from the totals by the domain's one rule
(`domain.standings.total_score`)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, Date, DateTime, Row, Select, cast, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from fitboard.adapters.sql.engine import READ_ONLY_OPTION
from fitboard.adapters.sql.metrics import metric_total
from fitboard.adapters.sql.store import is_unavailable
from fitboard.adapters.sql.tables import daily_rollups, group_members, users
from fitboard.application.boards.record_instances import (
    LoadedInstance,
    RecordedInstance,
    StandingsChunk,
)
from fitboard.application.ports import StoreUnavailable
from fitboard.domain.activities import Activity
from fitboard.domain.boards import Metric, Period, Scope, ScopeKind, Standing, VersionedStanding
from fitboard.domain.periods import ALL_TIME_KEY, period_key, period_range
from fitboard.domain.standings import METRICS, Tally, total_score

_r = daily_rollups.c
# Rows fetched from the cursor at a time: also the athletes of a rebuild's chunk.
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

    async def instances(self, period: Period, scope: Scope) -> AsyncIterator[RecordedInstance]:
        async for instance, rows, width in self._grouped(period, scope, _LAYOUT, (None, None)):
            yield _recorded(period, scope, instance, rows, width)

    async def instance_standings(
        self, period: Period, scope: Scope, days: tuple[date | None, date | None]
    ) -> AsyncIterator[LoadedInstance]:
        async for instance, rows, width in self._grouped(period, scope, _LAYOUT, days):
            start, value = instance
            yield LoadedInstance(
                period,
                _instance_key(period, start),
                _scope_of(scope, value),
                _chunk(rows, _LAYOUT, width),
            )

    async def _grouped(
        self, period: Period, scope: Scope, layout: _Layout, days: tuple[date | None, date | None]
    ) -> AsyncIterator[tuple[_Instance, list[Row[Any]], int]]:
        """The rows of `_statement` for every instance of `period` in `scope` whose days
        lie in `days`, one instance's at a time: the instance, its rows, and the number of
        instance columns that lead each row (user_id, projection_version and `layout`'s
        follow them)."""
        start = period_start(period, self._dialect)
        each = _each(scope)
        statement = _statement(scope, start, layout, days)
        result = await self._connection.stream(statement.execution_options(yield_per=_FETCH_ROWS))
        width = (start is not None) + (each is not None)
        current: _Instance | None = None
        rows: list[Row[Any]] = []
        async for chunk in result.partitions(_FETCH_ROWS):
            for row in chunk:
                instance = (
                    row[0] if start is not None else None,
                    row[width - 1] if each is not None else None,
                )
                if instance != current:
                    if current is not None:
                        yield current, rows, width
                    current, rows = instance, []
                rows.append(row)
        if current is not None:
            yield current, rows, width

    async def instance_chunks(
        self, period: Period, key: str, scope: Scope, metrics: Sequence[Metric]
    ) -> AsyncGenerator[StandingsChunk, None]:
        # Only the days of the instance are read, and only the metrics asked for: a
        # rebuild of one board reads that board's columns.
        if _each(scope) is not None:
            raise ValueError(f"instance of {scope}: a scope of one activity or group is needed")
        days = period_range(period, key)
        layout = [entry for entry in _LAYOUT if entry[0] in metrics]
        statement = _statement(scope, None, layout, (days.first, days.last))
        result = await self._connection.stream(statement.execution_options(yield_per=_FETCH_ROWS))
        try:
            async for rows in result.partitions(_FETCH_ROWS):
                yield _chunk(rows, layout, 0)
        finally:
            # Left before its end (a failed load): the rows fetched ahead are let go now,
            # and SQLite's cursor closed, not left to the garbage collector (PostgreSQL's
            # portal lasts until the read's transaction ends, which follows).
            await result.close()


# Each metric's total and moment in a row of _statement, by column label.
_Layout = list[tuple[Metric, str, str]]
_LAYOUT: _Layout = [(metric, f"{metric.value}_total", f"{metric.value}_at") for metric in Metric]


def _ranked(metric: Metric, row: Row[Any], total: int) -> int | None:
    """The score on `metric`'s board of the athlete of `row`, whose total and moment for
    that metric are at `total` and `total + 1`; None where they are not ranked on it. The
    rule of rollups.py's standings (domain.standings.score_on): a score above zero,
    reached at some moment."""
    score = total_score(metric, row[total])
    return score if score > 0 and row[total + 1] is not None else None


def _chunk(rows: Sequence[Row[Any]], layout: _Layout, width: int) -> StandingsChunk:
    """Rows of one instance's statement (`width` instance columns, then user_id,
    projection_version, then each metric of `layout`'s total and moment) as each metric's
    standings among them."""
    user, version = width, width + 1
    chunk: dict[Metric, list[VersionedStanding]] = {metric: [] for metric, _, _ in layout}
    for n, (metric, _, _) in enumerate(layout):
        standings, total = chunk[metric], width + 2 + 2 * n
        for row in rows:
            score = _ranked(metric, row, total)
            if score is not None:
                standings.append(
                    VersionedStanding(Standing(row[user], score, row[total + 1]), int(row[version]))
                )
    return chunk


def _recorded(
    period: Period,
    scope: Scope,
    instance: _Instance,
    rows: list[Row[Any]],
    width: int,
) -> RecordedInstance:
    """One instance's rows as the scores of each metric."""
    user = width
    offset = width + 2
    scores: dict[Metric, dict[UUID, int]] = {metric: {} for metric, _, _ in _LAYOUT}
    for row in rows:
        for n, (metric, _, _) in enumerate(_LAYOUT):
            score = _ranked(metric, row, offset + 2 * n)
            if score is not None:
                scores[metric][row[user]] = score
    start, value = instance
    return RecordedInstance(period, _instance_key(period, start), _scope_of(scope, value), scores)


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


def _statement(
    scope: Scope,
    start: ColumnElement[date] | None,
    layout: _Layout = _LAYOUT,
    span: tuple[date | None, date | None] = (None, None),
) -> Select[Any]:
    """Each visible athlete's totals of every metric of `layout` on every instance of
    `scope`'s boards, and when each was last raised, as rows (instance columns, user_id,
    projection_version, then per metric of `layout` its total and moment) ordered by
    instance and athlete. The instance columns are `start` (none for all-time, or when
    `days` picks out one instance) and, for every activity's or group's boards,
    `activity` or `group_id`. Only the rollups of `span` (first, last day; None: unbounded)
    are read.

    Days are summed first (a subquery grouped by day), then their totals: active days
    count those days, each day's moment its first workout's, as a rebuild counts them.
    A total over several activities or days is summed by the database in its own order,
    where a rebuild sums each activity's and then adds them up: a board's score does not
    depend on the order of its sum (domain.standings.whole), so both give the same."""
    instance: list[Any] = [] if start is None else [start.label("start")]
    each = _each(scope)
    if each == "group_id":
        instance.append(group_members.c.group_id)
    elif each == "activity":
        instance.append(_r.activity)
    per_metric: list[Any] = []
    for metric, total, at in layout:
        definition = METRICS[metric]
        if definition.tally is Tally.DAYS:
            per_metric.append(func.min(_r.first_ended_at).label(at))
        else:
            per_metric.append(metric_total(metric, daily_rollups).label(total))
            per_metric.append(func.max(_r[definition.reached_at]).label(at))
    per_day = select(*instance, _r.user_id, *per_metric).select_from(daily_rollups)
    if scope.activity is not None:
        per_day = per_day.where(_r.activity == scope.activity.value)
    first, last = span
    if first is not None:
        per_day = per_day.where(_r.day >= first)
    if last is not None:
        per_day = per_day.where(_r.day <= last)
    if each == "group_id" or scope.group_id is not None:
        per_day = per_day.join(group_members, group_members.c.user_id == _r.user_id)
    if scope.group_id is not None:
        per_day = per_day.where(group_members.c.group_id == scope.group_id)
    days = per_day.group_by(*instance, _r.user_id, _r.day).subquery()

    outer = [days.c[c.name] for c in instance]
    totals: list[Any] = []
    for metric, total, at in layout:
        if METRICS[metric].tally is Tally.DAYS:
            totals.append(func.count().label(total))
        else:
            totals.append(func.sum(days.c[total]).label(total))
        totals.append(func.max(days.c[at]).label(at))
    return (
        select(*outer, days.c.user_id, users.c.projection_version, *totals)
        .join(users, users.c.id == days.c.user_id)
        .where(users.c.show_on_leaderboards.is_(True))
        .group_by(*outer, days.c.user_id, users.c.projection_version)
        .order_by(*outer, days.c.user_id)
    )
