"""The record of changes applied to stored workouts (decisions, deletions, corrections)."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.tables import workout_changes
from fitboard.domain.changes import ChangeKind, Decision, WorkoutChange

_c = workout_changes.c
_DECISIONS = (ChangeKind.APPROVE.value, ChangeKind.REJECT.value)


class SqlWorkoutChangeRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def record(self, change: WorkoutChange, board_day: date, applied_at: datetime) -> None:
        await self._connection.execute(
            workout_changes.insert().values(
                id=change.id,
                workout_id=change.workout_id,
                user_id=change.owner,
                kind=change.kind.value,
                changed_by=change.changed_by,
                changed_at=change.changed_at,
                reason=change.reason,
                board_day=board_day,
                applied_at=applied_at,
            )
        )

    async def applied_day(self, change_id: UUID) -> date | None:
        statement = select(_c.board_day).where(_c.id == change_id)
        day: date | None = (await self._connection.execute(statement)).scalar()
        return day

    async def latest_decision(self, workout_id: UUID) -> Decision | None:
        statement = (
            select(_c.kind, _c.changed_by, _c.changed_at, _c.reason)
            .where(_c.workout_id == workout_id, _c.kind.in_(_DECISIONS))
            .order_by(_c.changed_at.desc(), _c.applied_at.desc())
            .limit(1)
        )
        row = (await self._connection.execute(statement)).first()
        if row is None:
            return None
        return Decision(ChangeKind(row.kind), row.changed_by, row.changed_at, row.reason)

    async def was_deleted(self, workout_id: UUID) -> bool:
        statement = select(
            exists().where(_c.workout_id == workout_id, _c.kind == ChangeKind.DELETE.value)
        )
        return bool((await self._connection.execute(statement)).scalar())
