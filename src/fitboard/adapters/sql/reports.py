"""Monthly reports on SQL."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.repositories import _workout_from_row, dialect_insert
from fitboard.adapters.sql.tables import monthly_reports, workouts
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
