"""What the monthly reports consumer needs: its own reports table, the record's totals,
whether the athlete still exists, and scheduled runs for the final ranks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from fitboard.application.accounts.ports import UserRepository
from fitboard.application.boards.ports import RollupRepository
from fitboard.application.ports import ScheduledRuns, Transaction
from fitboard.domain.reports import StoredReport
from fitboard.domain.workouts import Workout


class ReportRepository(Protocol):
    async def save(self, user_id: UUID, month: str, body: str, updated_at: datetime) -> None:
        """Insert or replace the report's body (its final rank is kept)."""
        ...

    async def save_many(
        self, reports: Sequence[tuple[UUID, str, str]], updated_at: datetime
    ) -> None:
        """`save` of each (athlete, month, body), in one statement, the rows written in
        the order of (athlete, month)."""
        ...

    async def get(self, user_id: UUID, month: str) -> StoredReport | None: ...

    async def set_final_rank(self, user_id: UUID, month: str, rank: int | None) -> None: ...

    async def users_with_reports(self, month: str) -> list[UUID]: ...

    async def best_workouts(
        self, requests: Sequence[tuple[UUID, date, date]]
    ) -> list[Workout | None]:
        """For each (athlete, first, last), in order and in one statement: the athlete's
        counted workout with the most points on board days [first, last] (ties go to the
        earlier one), or None."""
        ...


class ReportsUnit(Transaction, Protocol):
    """A transaction of the reports consumer."""

    @property
    def reports(self) -> ReportRepository: ...

    @property
    def rollups(self) -> RollupRepository: ...

    @property
    def users(self) -> UserRepository: ...

    @property
    def runs(self) -> ScheduledRuns: ...
