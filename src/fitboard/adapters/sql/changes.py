"""The record of changes applied to stored workouts (decisions, deletions, corrections)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.request_rows import RequestRows
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

    async def deleted_among(self, workout_ids: Sequence[UUID]) -> set[UUID]:
        if not workout_ids:
            return set()
        ids_of, statement = _deleted_among(self._connection.dialect.name)
        params = ids_of.params(self._connection.dialect, [(i,) for i in sorted(set(workout_ids))])
        return set((await self._connection.execute(statement, params)).scalars())


@functools.lru_cache(maxsize=2)
def _deleted_among(dialect_name: str) -> tuple[RequestRows, Select[Any]]:
    """deleted_among's statement: the ids are one parameter (RequestRows.among), so its text is
    the same however many it asks about."""
    ids_of = RequestRows("asked", (("id", _c.workout_id.type),))
    statement = select(_c.workout_id).where(
        ids_of.among(dialect_name, _c.workout_id), _c.kind == ChangeKind.DELETE.value
    )
    return ids_of, statement
