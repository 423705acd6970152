"""The achievements repository: awards (exactly once by primary key), the facts rules are
judged on, and claims of scheduled jobs."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Double,
    Executable,
    Integer,
    Select,
    and_,
    bindparam,
    case,
    cast,
    delete,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql import record_bests as kept_bests
from fitboard.adapters.sql.request_rows import RequestRows, insert_rows, numbered, per_request
from fitboard.adapters.sql.tables import COUNTED, awards, kept_record_bests, workouts
from fitboard.adapters.sql.types import UtcDateTime
from fitboard.domain.achievements import (
    Award,
    HeldAchievement,
    Measure,
    Measured,
    PersonalRecord,
    best_of,
    least_record_distance,
)
from fitboard.domain.activities import Activity
from fitboard.domain.workouts import WorkoutStatus

_AWARD_COLUMNS = ("user_id", "achievement_id", "period_key", "awarded_at", "workout_id", "value")


@functools.lru_cache(maxsize=2)
def _award_all(dialect_name: str) -> tuple[RequestRows, Executable]:
    """award_many's statement: its rows (in _AWARD_COLUMNS' order) are a relation of the
    statement (insert_rows), so its text is the same however many awards it records."""
    keys = (awards.c.user_id, awards.c.achievement_id, awards.c.period_key)
    rows_of, insert = insert_rows(awards, _AWARD_COLUMNS, [k.name for k in keys], dialect_name)
    return rows_of, insert.on_conflict_do_nothing(index_elements=list(keys)).returning(*keys)


class SqlAchievementRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def award(
        self, user_id: UUID, award: Award, awarded_at: datetime, workout_id: UUID | None
    ) -> bool:
        return bool(await self.award_all(user_id, [award], awarded_at, workout_id))

    async def award_all(
        self,
        user_id: UUID,
        earned: Sequence[Award],
        awarded_at: datetime,
        workout_id: UUID | None,
    ) -> list[Award]:
        done = await self.award_many([(user_id, a, awarded_at, workout_id) for a in earned])
        return [award for award, recorded in zip(earned, done, strict=True) if recorded]

    async def award_many(
        self, earned: Sequence[tuple[UUID, Award, datetime, UUID | None]]
    ) -> list[bool]:
        if not earned:
            return []
        # The first of each award only: a repeat can never be recorded (the first is, or
        # was held already), and a batch repeats many (judging gives every workout each
        # award it qualifies for, held or not: each of an athlete's workouts in the batch
        # earns "first workout" again), each a row to encode and insert for nothing.
        sent: set[tuple[UUID, str, str]] = set()
        rows: list[tuple[UUID, str, str, datetime, UUID | None, float | None]] = []
        for user_id, award, awarded_at, workout_id in earned:
            key = (user_id, award.rule_id, award.period_key)
            if key not in sent:
                sent.add(key)
                rows.append(
                    (user_id, award.rule_id, award.period_key, awarded_at, workout_id, award.value)
                )
        # ON CONFLICT DO NOTHING instead of catching IntegrityError: on PostgreSQL a failed
        # statement would abort the whole processing transaction. Every row goes in one
        # INSERT whose text is the same however many (insert_rows); it returns the keys of
        # the rows it wrote, in no particular order.
        rows_of, statement = _award_all(self._connection.dialect.name)
        params = rows_of.params(self._connection.dialect, numbered(rows))
        result = await self._connection.execute(statement, params)
        written = {(row.user_id, row.achievement_id, row.period_key) for row in result}
        recorded: list[bool] = []
        for user_id, award, _, _ in earned:
            key = (user_id, award.rule_id, award.period_key)
            # The first of any repeats, as one award() after another.
            recorded.append(key in written)
            written.discard(key)
        return recorded

    async def for_user(self, user_id: UUID) -> list[HeldAchievement]:
        statement = (
            select(awards)
            .where(awards.c.user_id == user_id)
            .order_by(awards.c.awarded_at.desc(), awards.c.achievement_id)
        )
        return [
            HeldAchievement(
                achievement_id=row.achievement_id,
                period_key=row.period_key,
                awarded_at=row.awarded_at,
                workout_id=row.workout_id,
                value=row.value,
            )
            for row in await self._connection.execute(statement)
        ]

    async def for_workout(self, workout_id: UUID) -> list[str]:
        statement = (
            select(awards.c.achievement_id)
            .where(awards.c.workout_id == workout_id)
            .order_by(awards.c.achievement_id)
        )
        return list((await self._connection.execute(statement)).scalars())

    async def held_for_workout(self, workout_id: UUID) -> list[tuple[str, str]]:
        statement = (
            select(awards.c.achievement_id, awards.c.period_key)
            .where(awards.c.workout_id == workout_id)
            .order_by(awards.c.achievement_id, awards.c.period_key)
        )
        rows = await self._connection.execute(statement)
        return [(row.achievement_id, row.period_key) for row in rows]

    async def active_local_days(self, user_id: UUID, first: date, last: date) -> set[date]:
        (days,) = await self.active_local_days_many([(user_id, first, last)])
        return days

    async def active_local_days_many(
        self, requests: Sequence[tuple[UUID, date, date]]
    ) -> list[set[date]]:
        if not requests:
            return []
        rows_of, statement = _active_local_days_many(self._connection.dialect.name)
        params = rows_of.params(
            self._connection.dialect, [(i, *request) for i, request in enumerate(requests)]
        )
        found: list[set[date]] = [set() for _ in requests]
        for row in await self._connection.execute(statement, params):
            found[row.request].add(row.local_day)
        return found

    async def best_before(
        self, user_id: UUID, rule: PersonalRecord, before: datetime, exclude: UUID
    ) -> float | None:
        conditions = [*_earlier(user_id, before, exclude), *_counted_by(rule)]
        statement = select(_best_of(rule, _measured(rule))).where(*conditions)
        value = (await self._connection.execute(statement)).scalar()
        return None if value is None else float(value)

    async def bests_before(
        self,
        user_id: UUID,
        rules: Sequence[PersonalRecord],
        before: datetime,
        exclude: UUID,
    ) -> dict[str, float | None]:
        (found,) = await self.bests_before_many(rules, [(user_id, before, exclude)])
        return found

    async def bests_before_many(
        self,
        rules: Sequence[PersonalRecord],
        requests: Sequence[tuple[UUID, datetime, UUID]],
    ) -> list[dict[str, float | None]]:
        if not rules:
            return [{} for _ in requests]
        if not requests:
            return []
        rows_of, statement = _bests_many(tuple(rules), self._connection.dialect.name)
        params = rows_of.params(
            self._connection.dialect, [(i, *request) for i, request in enumerate(requests)]
        )
        # Every request has a row (its joins are outer); the default is never seen.
        found: list[dict[str, float | None]] = [
            dict.fromkeys(r.id for r in rules) for _ in requests
        ]
        for row in await self._connection.execute(statement, params):
            kept = [None] * len(rules) if row[1] is None else kept_bests.decode(row[1])
            found[row[0]] = {
                rule.id: _better(rule, value, before)
                for rule, before, value in zip(rules, kept, row[2:], strict=True)
            }
        return found

    async def keep_bests(
        self,
        rules: Sequence[PersonalRecord],
        requests: Sequence[tuple[UUID, datetime, UUID]],
        bests: Sequence[dict[str, float | None]],
    ) -> None:
        if not rules or not requests:
            return
        catalog = kept_bests.catalog_of(tuple(rules))
        # One row an athlete (the statement may touch a row once): their latest place.
        latest: dict[UUID, tuple[UUID, str, datetime, UUID, str]] = {}
        for (user_id, before, exclude), found in zip(requests, bests, strict=True):
            if user_id in latest and (before, exclude) < latest[user_id][2:4]:
                continue
            latest[user_id] = (
                user_id,
                catalog,
                before,
                exclude,
                kept_bests.encode([found[rule.id] for rule in rules]),
            )
        rows_of, statement = kept_bests.keep_statement(self._connection.dialect.name)
        params = rows_of.params(self._connection.dialect, numbered(list(latest.values())))
        await self._connection.execute(statement, params)
        athletes, trim = kept_bests.trim_statement(self._connection.dialect.name)
        params = athletes.params(self._connection.dialect, [(user_id,) for user_id in latest])
        await self._connection.execute(trim, {**params, "catalog": catalog})

    async def counted_after_many(
        self, requests: Sequence[tuple[UUID, datetime, UUID]]
    ) -> list[list[Measured]]:
        if not requests:
            return []
        rows_of, statement = _counted_after_many(self._connection.dialect.name)
        params = rows_of.params(
            self._connection.dialect, [(i, *request) for i, request in enumerate(requests)]
        )
        # Each request's own rows, in the order of the statement: date order.
        found: list[list[Measured]] = [[] for _ in requests]
        for row in await self._connection.execute(statement, params):
            found[row.request].append(_measured_from_row(row))
        return found

    async def counted_after(
        self, user_id: UUID, started_at: datetime, workout_id: UUID
    ) -> list[Measured]:
        statement = (
            select(*_MEASURED_COLUMNS)
            .where(*_later(user_id, started_at, workout_id))
            .order_by(workouts.c.started_at, workouts.c.id)
        )
        return [_measured_from_row(row) for row in await self._connection.execute(statement)]

    async def held(
        self, user_id: UUID, achievement_ids: Sequence[str], period_keys: Sequence[str]
    ) -> set[tuple[str, str]]:
        if not achievement_ids or not period_keys:
            return set()
        rules_of, keys_of, statement = _held(self._connection.dialect.name)
        dialect = self._connection.dialect
        params = {
            "holder": user_id,
            **rules_of.params(dialect, [(i,) for i in sorted(set(achievement_ids))]),
            **keys_of.params(dialect, [(k,) for k in sorted(set(period_keys))]),
        }
        return {
            (row.achievement_id, row.period_key)
            for row in await self._connection.execute(statement, params)
        }

    async def held_many(
        self,
        achievement_ids: Sequence[str],
        requests: Sequence[tuple[UUID, Sequence[str]]],
    ) -> list[set[tuple[str, str]]]:
        found: list[set[tuple[str, str]]] = [set() for _ in requests]
        pairs = [
            (request, user_id, key)
            for request, (user_id, keys) in enumerate(requests)
            for key in sorted(set(keys))
        ]
        if not achievement_ids or not pairs:
            return found
        rules_of, pairs_of, statement = _held_many(self._connection.dialect.name)
        dialect = self._connection.dialect
        params = {
            **rules_of.params(dialect, [(i,) for i in sorted(set(achievement_ids))]),
            **pairs_of.params(dialect, pairs),
        }
        for row in await self._connection.execute(statement, params):
            found[row.request].add((row.achievement_id, row.period_key))
        return found

    async def revoke(self, user_id: UUID, achievement_id: str, period_key: str) -> bool:
        statement = (
            delete(awards)
            .where(
                awards.c.user_id == user_id,
                awards.c.achievement_id == achievement_id,
                awards.c.period_key == period_key,
            )
            .returning(awards.c.achievement_id)
        )
        return (await self._connection.execute(statement)).first() is not None


_MEASURED_COLUMNS = (
    workouts.c.id,
    workouts.c.activity,
    workouts.c.distance_m,
    workouts.c.duration_s,
    workouts.c.calories,
    workouts.c.points,
)


def _measured_from_row(row: Any) -> Measured:
    return Measured(
        id=row.id,
        activity=Activity(row.activity),
        distance_m=row.distance_m,
        duration_s=row.duration_s,
        calories=row.calories,
        points=row.points,
    )


def _earlier(user_id: Any, before: Any, exclude: Any) -> list[ColumnElement[bool]]:
    """Counted workouts of the athlete before the workout (`before`, `exclude`) in date
    order (`record_bests.before_in_date_order`)."""
    return [
        workouts.c.user_id == user_id,
        workouts.c.status == WorkoutStatus.PROCESSED.value,
        kept_bests.before_in_date_order((workouts.c.started_at, workouts.c.id), (before, exclude)),
    ]


def _later(user_id: Any, after: Any, after_id: Any) -> list[ColumnElement[bool]]:
    """Counted workouts of the athlete after the workout (`after`, `after_id`) in date
    order: the complement of `_earlier`, less the workout itself. The start's own bound
    (implied by the rest) is what an index on (user, start) can seek to: the OR is not."""
    return [
        workouts.c.user_id == user_id,
        workouts.c.status == WorkoutStatus.PROCESSED.value,
        workouts.c.started_at >= after,
        kept_bests.before_in_date_order((after, after_id), (workouts.c.started_at, workouts.c.id)),
    ]


def _counted_by(rule: PersonalRecord) -> list[ColumnElement[bool]]:
    """Which of those workouts the rule looks at: domain `record_applies`, in SQL."""
    conditions: list[ColumnElement[bool]] = []
    if rule.activities is not None:
        conditions.append(workouts.c.activity.in_(sorted(a.value for a in rule.activities)))
    least = least_record_distance(rule)
    if least > 0:
        conditions.append(workouts.c.distance_m >= least)
    return conditions


def _measured(rule: PersonalRecord) -> ColumnElement[Any]:
    if rule.measure is Measure.PACE:
        # domain.achievements.pace_s_per_km, operation for operation: the duration as a
        # double, times 1000 (exact), divided by the distance (rounded once, IEEE).
        duration = cast(workouts.c.duration_s, Double)
        return duration * literal(1000.0, Double) / workouts.c.distance_m
    return {
        Measure.DISTANCE: workouts.c.distance_m,
        Measure.DURATION: workouts.c.duration_s,
        Measure.CALORIES: workouts.c.calories,
        Measure.POINTS: workouts.c.points,
    }[rule.measure]


def _best_of(rule: PersonalRecord, values: ColumnElement[Any]) -> ColumnElement[Any]:
    """The best of `values`: the lowest pace, the highest of anything else."""
    return func.min(values) if rule.measure is Measure.PACE else func.max(values)


def _better(rule: PersonalRecord, value: Any, kept: float | None) -> float | None:
    """The better of a best read from workouts (None: none) and a kept one."""
    if value is None:
        return kept
    return best_of(rule, float(value), kept)


# Earlier than any workout: the least start of the workouts to read when nothing is kept.
_DAWN = datetime(1, 1, 1, tzinfo=UTC)


def _places(name: str) -> RequestRows:
    """Workouts' places in their athletes' date order: (request, user_id, started_at, id)."""
    return RequestRows(
        name,
        (
            ("request", Integer()),
            ("user_id", workouts.c.user_id.type),
            ("started_at", workouts.c.started_at.type),
            ("id", workouts.c.id.type),
        ),
    )


@functools.lru_cache(maxsize=8)
def _bests_many(
    rules: tuple[PersonalRecord, ...], dialect_name: str
) -> tuple[RequestRows, Select[Any]]:
    """Every rule's best_before for many workouts in one statement, built once per catalog
    and engine, its text the same however many workouts (request_rows): one row per
    request, its index first, then the bests kept for its athlete (kept_record_bests: of
    this catalog, at their latest kept place not after the request's; null when none is),
    then one column per rule, the best of the athlete's earlier workouts from the kept
    place on (all of them when none is kept), null when there are none. The caller takes
    the better of the two. Each rule picks its workouts out of those by CASE (a NULL is
    never a best, as MIN and MAX skip it); its value is computed by the same expression as
    best_before's, so the two agree exactly. The least start to read is also given as a
    bound the indexes can seek to (`_DAWN` when nothing is kept), so the kept place spares
    reading what comes before it.

    On PostgreSQL each request's workouts are read by a LATERAL subquery
    (`request_rows.per_request`), each its own range of the athlete's workouts, not one
    join with the whole table."""
    rows_of = _places("places")
    place = rows_of.relation(dialect_name)
    kept = kept_record_bests
    catalog = literal(kept_bests.catalog_of(rules))
    kept_here = and_(
        kept.c.user_id == place.c.user_id,
        kept.c.catalog == catalog,
        ~kept_bests.before_kept(place.c.started_at, place.c.id),
        kept_bests.latest_not_after(place.c.started_at, place.c.id, catalog),
    )
    read = and_(
        *_earlier(place.c.user_id, place.c.started_at, place.c.id),
        workouts.c.started_at <= place.c.started_at,
        workouts.c.started_at
        >= func.coalesce(kept.c.before_started_at, literal(_DAWN, UtcDateTime())),
        or_(
            kept.c.user_id.is_(None), ~kept_bests.before_kept(workouts.c.started_at, workouts.c.id)
        ),
    )
    columns: list[ColumnElement[Any]] = []
    for rule in rules:
        conditions = _counted_by(rule)
        value = _measured(rule)
        if conditions:
            value = case((and_(*conditions), value))
        columns.append(_best_of(rule, value))
    if dialect_name == "postgresql":
        # An aggregate without GROUP BY: one row for every request, nulls when none.
        found = per_request(select(*columns).where(read))
        return rows_of, (
            select(place.c.request, kept.c.bests, *found.c).select_from(
                place.outerjoin(kept, kept_here).join(found, true())
            )
        )
    statement = (
        select(place.c.request, kept.c.bests, *columns)
        .select_from(place.outerjoin(kept, kept_here).outerjoin(workouts, read))
        .group_by(place.c.request, kept.c.bests)
    )
    return rows_of, statement


@functools.lru_cache(maxsize=2)
def _held(dialect_name: str) -> tuple[RequestRows, RequestRows, Select[Any]]:
    """held's statement: the rules and the period keys are a parameter each
    (RequestRows.among), so its text is the same however many (the worker asks with
    the keys of an athlete's later workouts, any number of them)."""
    rules_of = RequestRows("held_rules", (("id", awards.c.achievement_id.type),))
    keys_of = RequestRows("held_keys", (("key", awards.c.period_key.type),))
    statement = select(awards.c.achievement_id, awards.c.period_key).where(
        awards.c.user_id == bindparam("holder", type_=awards.c.user_id.type),
        rules_of.among(dialect_name, awards.c.achievement_id),
        keys_of.among(dialect_name, awards.c.period_key),
    )
    return rules_of, keys_of, statement


@functools.lru_cache(maxsize=2)
def _held_many(dialect_name: str) -> tuple[RequestRows, RequestRows, Select[Any]]:
    """held_many's statement: the rules are one parameter (RequestRows.among), the
    (request, athlete, period key) pairs a relation joined to the awards on the athlete
    and the key (an index lookup each, by the awards' primary key), so its text is the
    same however many athletes and keys; each row is tagged with its request."""
    rules_of = RequestRows("held_rules", (("id", awards.c.achievement_id.type),))
    pairs_of = RequestRows(
        "held_pairs",
        (
            ("request", Integer()),
            ("user_id", awards.c.user_id.type),
            ("key", awards.c.period_key.type),
        ),
    )
    pair = pairs_of.relation(dialect_name)
    statement = (
        select(pair.c.request, awards.c.achievement_id, awards.c.period_key)
        .select_from(
            pair.join(
                awards,
                and_(awards.c.user_id == pair.c.user_id, awards.c.period_key == pair.c.key),
            )
        )
        .where(rules_of.among(dialect_name, awards.c.achievement_id))
    )
    return rules_of, pairs_of, statement


@functools.lru_cache(maxsize=2)
def _counted_after_many(dialect_name: str) -> tuple[RequestRows, Select[Any]]:
    """counted_after of many workouts: each request's later counted workouts, tagged with
    its index, requests in order and each one's in date order."""
    rows_of = _places("places")
    place = rows_of.relation(dialect_name)
    later = and_(*_later(place.c.user_id, place.c.started_at, place.c.id))
    if dialect_name == "postgresql":
        found = per_request(select(*_MEASURED_COLUMNS, workouts.c.started_at).where(later))
        return rows_of, (
            select(place.c.request, *found.c)
            .select_from(place.join(found, true()))
            .order_by(place.c.request, found.c.started_at, found.c.id)
        )
    statement = (
        select(place.c.request, *_MEASURED_COLUMNS)
        .select_from(place.join(workouts, later))
        .order_by(place.c.request, workouts.c.started_at, workouts.c.id)
    )
    return rows_of, statement


def _first_active_day(
    user_id: ColumnElement[Any], after: ColumnElement[bool], last: ColumnElement[Any]
) -> ColumnElement[Any]:
    """The athlete's earliest day with a counted workout that is `after` and no later than
    `last`: one descent of the partial index of active days (user, local day)."""
    return (
        select(workouts.c.local_day)
        .where(workouts.c.user_id == user_id, COUNTED, after, workouts.c.local_day <= last)
        .order_by(workouts.c.local_day)
        .limit(1)
        .scalar_subquery()
    )


@functools.lru_cache(maxsize=2)
def _active_local_days_many(dialect_name: str) -> tuple[RequestRows, Select[Any]]:
    """active_local_days of many (athlete, first, last): each request's days, tagged with
    its index.

    A loose index scan, as a recursive query: each step looks up the next active day after
    the last one found, so a request costs one index descent per active day of its span
    (and one more), however many workouts those days hold. Reading every counted workout
    of the span and keeping the distinct days cost as much as the workouts: an athlete with
    hundreds of workouts on a day made every later judging of theirs read all of them."""
    rows_of = RequestRows(
        "spans",
        (
            ("request", Integer()),
            ("user_id", workouts.c.user_id.type),
            ("first", workouts.c.local_day.type),
            ("last", workouts.c.local_day.type),
        ),
    )
    span = rows_of.relation(dialect_name)
    found = select(
        span.c.request,
        span.c.user_id,
        span.c.last,
        _first_active_day(span.c.user_id, workouts.c.local_day >= span.c.first, span.c.last).label(
            "day"
        ),
    ).cte("found", recursive=True)
    found = found.union_all(
        select(
            found.c.request,
            found.c.user_id,
            found.c.last,
            _first_active_day(found.c.user_id, workouts.c.local_day > found.c.day, found.c.last),
        ).where(found.c.day.is_not(None))
    )
    statement = select(found.c.request, found.c.day.label("local_day")).where(
        found.c.day.is_not(None)
    )
    return rows_of, statement
