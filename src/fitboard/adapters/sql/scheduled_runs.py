"""Scheduled runs on SQL: which (job, period) a worker has claimed, claimed once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from fitboard.adapters.sql.repositories import dialect_insert
from fitboard.adapters.sql.tables import scheduled_runs


class SqlScheduledRuns:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def claimed(self, job: str) -> set[str]:
        statement = select(scheduled_runs.c.period_key).where(scheduled_runs.c.job == job)
        return set((await self._connection.execute(statement)).scalars())

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
