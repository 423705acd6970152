"""The achievements repository: awards (exactly once by primary key), the facts rules are
judged on, and claims of scheduled jobs."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.repositories import dialect_insert
from fitboard.adapters.sql.tables import awards, scheduled_runs, workouts
from fitboard.application.ports import HeldAchievement
from fitboard.domain.achievements import Award, Measure, PersonalRecord
from fitboard.domain.workouts import WorkoutStatus


class SqlAchievementRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def award(
        self, user_id: UUID, award: Award, awarded_at: datetime, workout_id: UUID | None
    ) -> bool:
        # ON CONFLICT DO NOTHING instead of catching IntegrityError: on PostgreSQL a failed
        # statement would abort the whole processing transaction.
        statement = (
            dialect_insert(self._connection, awards)
            .values(
                user_id=user_id,
                achievement_id=award.rule_id,
                period_key=award.period_key,
                awarded_at=awarded_at,
                workout_id=workout_id,
                value=award.value,
            )
            .on_conflict_do_nothing(
                index_elements=[awards.c.user_id, awards.c.achievement_id, awards.c.period_key]
            )
            .returning(awards.c.user_id)
        )
        return (await self._connection.execute(statement)).first() is not None

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

    async def active_local_days(self, user_id: UUID, first: date, last: date) -> set[date]:
        statement = (
            select(workouts.c.local_day)
            .where(
                workouts.c.user_id == user_id,
                workouts.c.status == WorkoutStatus.PROCESSED.value,
                workouts.c.local_day.between(first, last),
            )
            .distinct()
        )
        return set((await self._connection.execute(statement)).scalars())

    async def best_before(
        self, user_id: UUID, rule: PersonalRecord, before: datetime, exclude: UUID
    ) -> float | None:
        conditions: list[ColumnElement[bool]] = [
            workouts.c.user_id == user_id,
            workouts.c.status == WorkoutStatus.PROCESSED.value,
            workouts.c.started_at < before,
            workouts.c.id != exclude,
        ]
        if rule.activities is not None:
            conditions.append(workouts.c.activity.in_(sorted(a.value for a in rule.activities)))
        if rule.min_distance_m > 0 or rule.measure in (Measure.PACE, Measure.DISTANCE):
            conditions.append(workouts.c.distance_m >= max(rule.min_distance_m, 1e-9))
        best: ColumnElement[float]
        if rule.measure is Measure.PACE:
            best = func.min(workouts.c.duration_s * 1000.0 / workouts.c.distance_m)
        else:
            column = {
                Measure.DISTANCE: workouts.c.distance_m,
                Measure.DURATION: workouts.c.duration_s,
                Measure.CALORIES: workouts.c.calories,
                Measure.POINTS: workouts.c.points,
            }[rule.measure]
            best = func.max(column)
        value = (await self._connection.execute(select(best).where(*conditions))).scalar()
        return None if value is None else float(value)

    async def claim_run(self, job: str, period_key: str, claimed_at: datetime) -> bool:
        statement = (
            dialect_insert(self._connection, scheduled_runs)
            .values(job=job, period_key=period_key, claimed_at=claimed_at)
            .on_conflict_do_nothing(
                index_elements=[scheduled_runs.c.job, scheduled_runs.c.period_key]
            )
            .returning(scheduled_runs.c.job)
        )
        return (await self._connection.execute(statement)).first() is not None
