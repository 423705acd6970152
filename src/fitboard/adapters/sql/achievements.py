"""The achievements repository: awards (exactly once by primary key), the facts rules are
judged on, and claims of scheduled jobs."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ColumnElement,
    Double,
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
)
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.repositories import insert_by_dialect
from fitboard.adapters.sql.tables import awards, workouts
from fitboard.domain.achievements import Award, HeldAchievement, Measure, Measured, PersonalRecord
from fitboard.domain.activities import Activity
from fitboard.domain.workouts import WorkoutStatus

_AWARD_ALL = insert_by_dialect(
    awards,
    lambda insert: insert.on_conflict_do_nothing(
        index_elements=[awards.c.user_id, awards.c.achievement_id, awards.c.period_key]
    ).returning(awards.c.achievement_id, awards.c.period_key),
)

_ACTIVE_LOCAL_DAYS = (
    select(workouts.c.local_day)
    .where(
        workouts.c.user_id == bindparam("user_id", type_=workouts.c.user_id.type),
        workouts.c.status == WorkoutStatus.PROCESSED.value,
        workouts.c.local_day.between(
            bindparam("first", type_=workouts.c.local_day.type),
            bindparam("last", type_=workouts.c.local_day.type),
        ),
    )
    .distinct()
)


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
        if not earned:
            return []
        rows = [
            {
                "user_id": user_id,
                "achievement_id": award.rule_id,
                "period_key": award.period_key,
                "awarded_at": awarded_at,
                "workout_id": workout_id,
                "value": award.value,
            }
            for award in earned
        ]
        # ON CONFLICT DO NOTHING instead of catching IntegrityError: on PostgreSQL a failed
        # statement would abort the whole processing transaction. Several rows make one
        # INSERT (SQLAlchemy's "insertmanyvalues"), which returns the keys of the rows it
        # wrote, in no particular order.
        statement = _AWARD_ALL[self._connection.dialect.name]
        result = await self._connection.execute(statement, rows)
        written = {(row.achievement_id, row.period_key) for row in result}
        recorded: list[Award] = []
        for award in earned:
            key = (award.rule_id, award.period_key)
            if key in written:  # the first of any repeats, as one award() after another
                written.remove(key)
                recorded.append(award)
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
        params = {"user_id": user_id, "first": first, "last": last}
        return set((await self._connection.execute(_ACTIVE_LOCAL_DAYS, params)).scalars())

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
        if not rules:
            return {}
        params = {"user_id": user_id, "before": before, "exclude": exclude}
        row = (await self._connection.execute(_bests_statement(tuple(rules)), params)).one()
        return {
            rule.id: None if value is None else float(value)
            for rule, value in zip(rules, row, strict=True)
        }

    async def counted_after(
        self, user_id: UUID, started_at: datetime, workout_id: UUID
    ) -> list[Measured]:
        statement = (
            select(
                workouts.c.id,
                workouts.c.activity,
                workouts.c.distance_m,
                workouts.c.duration_s,
                workouts.c.calories,
                workouts.c.points,
            )
            .where(*_later(user_id, started_at, workout_id))
            .order_by(workouts.c.started_at, workouts.c.id)
        )
        return [
            Measured(
                id=row.id,
                activity=Activity(row.activity),
                distance_m=row.distance_m,
                duration_s=row.duration_s,
                calories=row.calories,
                points=row.points,
            )
            for row in await self._connection.execute(statement)
        ]

    async def held(
        self, user_id: UUID, achievement_ids: Sequence[str], period_keys: Sequence[str]
    ) -> set[tuple[str, str]]:
        if not achievement_ids or not period_keys:
            return set()
        statement = select(awards.c.achievement_id, awards.c.period_key).where(
            awards.c.user_id == user_id,
            awards.c.achievement_id.in_(sorted(set(achievement_ids))),
            awards.c.period_key.in_(sorted(set(period_keys))),
        )
        return {
            (row.achievement_id, row.period_key)
            for row in await self._connection.execute(statement)
        }

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


def _earlier(user_id: Any, before: Any, exclude: Any) -> list[ColumnElement[bool]]:
    """Counted workouts of the athlete before the workout (`before`, `exclude`) in date
    order: (start, id). Two workouts that start at the same moment are ordered by id (in
    the same order on both engines: PostgreSQL compares uuids bytewise, SQLite the
    lowercase hex text), so exactly one of them comes first."""
    return [
        workouts.c.user_id == user_id,
        workouts.c.status == WorkoutStatus.PROCESSED.value,
        or_(
            workouts.c.started_at < before,
            and_(workouts.c.started_at == before, workouts.c.id < exclude),
        ),
    ]


def _later(user_id: Any, after: Any, after_id: Any) -> list[ColumnElement[bool]]:
    """Counted workouts of the athlete after the workout (`after`, `after_id`) in date
    order: the complement of `_earlier`, less the workout itself."""
    return [
        workouts.c.user_id == user_id,
        workouts.c.status == WorkoutStatus.PROCESSED.value,
        or_(
            workouts.c.started_at > after,
            and_(workouts.c.started_at == after, workouts.c.id > after_id),
        ),
    ]


def _counted_by(rule: PersonalRecord) -> list[ColumnElement[bool]]:
    """Which of those workouts the rule looks at."""
    conditions: list[ColumnElement[bool]] = []
    if rule.activities is not None:
        conditions.append(workouts.c.activity.in_(sorted(a.value for a in rule.activities)))
    if rule.min_distance_m > 0 or rule.measure in (Measure.PACE, Measure.DISTANCE):
        conditions.append(workouts.c.distance_m >= max(rule.min_distance_m, 1e-9))
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


@functools.lru_cache(maxsize=8)
def _bests_statement(rules: tuple[PersonalRecord, ...]) -> Select[Any]:
    """Every rule's best_before in one row, one column per rule, built once per catalog.
    Bind parameters: user_id, before, exclude. Each rule picks its workouts out of the
    athlete's earlier ones by CASE (a NULL is never a best, as MIN and MAX skip it); its
    value is computed by the same expression as best_before's, so the two agree exactly."""
    earlier = _earlier(
        bindparam("user_id", type_=workouts.c.user_id.type),
        bindparam("before", type_=workouts.c.started_at.type),
        bindparam("exclude", type_=workouts.c.id.type),
    )
    columns: list[ColumnElement[Any]] = []
    for rule in rules:
        conditions = _counted_by(rule)
        value = _measured(rule)
        if conditions:
            value = case((and_(*conditions), value))
        columns.append(_best_of(rule, value))
    return select(*columns).where(*earlier)
