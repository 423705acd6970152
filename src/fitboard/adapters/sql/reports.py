"""Monthly reports and challenges on SQL."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.repositories import _workout_from_row, dialect_insert
from fitboard.adapters.sql.tables import challenges, group_members, monthly_reports, users, workouts
from fitboard.domain.boards import Metric, Scope, ScopeKind, Standing, parse_metric
from fitboard.domain.challenges import Challenge
from fitboard.domain.reports import StoredReport
from fitboard.domain.workouts import Workout, WorkoutStatus


class SqlReportRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def save(self, user_id: UUID, month: str, body: str, updated_at: datetime) -> None:
        statement = dialect_insert(self._connection, monthly_reports).values(
            user_id=user_id, month=month, body=body, updated_at=updated_at
        )
        statement = statement.on_conflict_do_update(
            index_elements=[monthly_reports.c.user_id, monthly_reports.c.month],
            set_={"body": statement.excluded.body, "updated_at": statement.excluded.updated_at},
        )
        await self._connection.execute(statement)

    async def get(self, user_id: UUID, month: str) -> StoredReport | None:
        row = (
            await self._connection.execute(
                select(monthly_reports).where(
                    monthly_reports.c.user_id == user_id, monthly_reports.c.month == month
                )
            )
        ).first()
        if row is None:
            return None
        return StoredReport(row.body, row.final_rank, row.updated_at)

    async def set_final_rank(self, user_id: UUID, month: str, rank: int | None) -> None:
        await self._connection.execute(
            update(monthly_reports)
            .where(monthly_reports.c.user_id == user_id, monthly_reports.c.month == month)
            .values(final_rank=rank)
        )

    async def users_with_reports(self, month: str) -> list[UUID]:
        statement = select(monthly_reports.c.user_id).where(monthly_reports.c.month == month)
        return list((await self._connection.execute(statement)).scalars())

    async def best_workout(self, user_id: UUID, first: date, last: date) -> Workout | None:
        statement = (
            select(workouts)
            .where(
                workouts.c.user_id == user_id,
                workouts.c.status == WorkoutStatus.PROCESSED.value,
                workouts.c.board_day.between(first, last),
            )
            .order_by(workouts.c.points.desc(), workouts.c.started_at, workouts.c.id)
            .limit(1)
        )
        row = (await self._connection.execute(statement)).first()
        return None if row is None else _workout_from_row(row)


def _challenge_from_row(row: Any) -> Challenge:
    return Challenge(
        id=row.id,
        name=row.name,
        metric=parse_metric(row.metric),
        scope=Scope.parse(row.scope),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        created_at=row.created_at,
        goal=row.goal,
    )


class SqlChallengeRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def add(self, challenge: Challenge) -> None:
        await self._connection.execute(
            challenges.insert().values(
                id=challenge.id,
                name=challenge.name,
                metric=challenge.metric.value,
                scope=str(challenge.scope),
                starts_at=challenge.starts_at,
                ends_at=challenge.ends_at,
                goal=challenge.goal,
                created_by=challenge.created_by,
                created_at=challenge.created_at,
            )
        )

    async def get(self, challenge_id: UUID) -> Challenge | None:
        row = (
            await self._connection.execute(
                select(challenges).where(challenges.c.id == challenge_id)
            )
        ).first()
        return None if row is None else _challenge_from_row(row)

    async def visible_to(self, user_id: UUID, limit: int) -> list[Challenge]:
        member_of = {
            str(group_id)
            for group_id in await self._connection.scalars(
                select(group_members.c.group_id).where(group_members.c.user_id == user_id)
            )
        }
        # Group challenges are stored with their scope text; one filter in SQL keeps
        # the others out without string-building on a UUID column (not portable).
        allowed = [challenges.c.scope.notlike("group:%")]
        if member_of:
            allowed.append(challenges.c.scope.in_([f"group:{g}" for g in sorted(member_of)]))
        rows = await self._connection.execute(
            select(challenges)
            .where(or_(*allowed))
            .order_by(challenges.c.created_at.desc())
            .limit(limit)
        )
        return [_challenge_from_row(row) for row in rows]

    async def standings(self, challenge: Challenge) -> list[Standing]:
        score = _score_column(challenge.metric)
        conditions: list[ColumnElement[bool]] = [
            workouts.c.status == WorkoutStatus.PROCESSED.value,
            workouts.c.started_at >= challenge.starts_at,
            workouts.c.started_at < challenge.ends_at,
            users.c.show_on_leaderboards.is_(True),
        ]
        activity = challenge.scope.activity
        if activity is not None:
            conditions.append(workouts.c.activity == activity.value)
        source = workouts.join(users, users.c.id == workouts.c.user_id)
        if challenge.scope.kind is ScopeKind.GROUP:
            source = source.join(
                group_members,
                (group_members.c.user_id == workouts.c.user_id)
                & (group_members.c.group_id == challenge.scope.group_id),
            )
        statement = (
            select(workouts.c.user_id, score.label("score"), func.max(workouts.c.started_at))
            .select_from(source)
            .where(*conditions)
            .group_by(workouts.c.user_id)
        )
        standings = []
        for user_id, value, reached in await self._connection.execute(statement):
            points = round(float(value or 0))
            if points > 0:
                standings.append(Standing(user_id, points, reached))
        return standings


def _score_column(metric: Metric) -> ColumnElement[Any]:
    if metric is Metric.CALORIES:
        return func.sum(workouts.c.calories)
    if metric is Metric.DISTANCE:
        return func.sum(func.coalesce(workouts.c.distance_m, 0.0))
    if metric is Metric.DURATION:
        return func.sum(workouts.c.duration_s)
    if metric is Metric.WORKOUTS:
        return func.count(workouts.c.id)
    if metric is Metric.POINTS:
        return func.sum(workouts.c.points)
    return func.count(func.distinct(workouts.c.board_day))
