"""Challenges on SQL: stored as created, their boards computed from the record on each read."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.metrics import metric_total
from fitboard.adapters.sql.tables import challenges, group_members, users, workouts
from fitboard.domain.boards import Scope, ScopeKind, Standing, parse_metric
from fitboard.domain.challenges import Challenge
from fitboard.domain.standings import total_score
from fitboard.domain.workouts import WorkoutStatus


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

    async def overlapping(self, since: datetime, until: datetime) -> list[Challenge]:
        rows = await self._connection.execute(
            select(challenges)
            .where(challenges.c.starts_at < until, challenges.c.ends_at > since)
            .order_by(challenges.c.starts_at, challenges.c.id)
        )
        return [_challenge_from_row(row) for row in rows]

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
            select(
                workouts.c.user_id,
                metric_total(challenge.metric, workouts),
                func.max(workouts.c.started_at),
            )
            .select_from(source)
            .where(*conditions)
            .group_by(workouts.c.user_id)
        )
        standings = []
        for user_id, total, reached in await self._connection.execute(statement):
            score = total_score(challenge.metric, float(total))
            if score > 0:
                standings.append(Standing(user_id, score, reached))
        return standings
