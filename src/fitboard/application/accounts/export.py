"""An athlete's own data, for them to take away: profile, groups, awards, monthly
reports and every workout. docs/accounts.md describes the document the API makes of it.

Workouts are read a page at a time, each page in a short read-only transaction of its
own, so a long history is never held in memory at once nor a transaction kept open while
a slow client reads; a workout stored while the export runs may be left out of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

from fitboard.application.accounts.ports import Membership, PersonalDataUnit, ReportCopy
from fitboard.application.achievements.ports import AchievementRepository
from fitboard.application.ports import Store
from fitboard.application.workouts.ports import WorkoutCursor, WorkoutRepository
from fitboard.domain.achievements import HeldAchievement
from fitboard.domain.errors import NotFound
from fitboard.domain.users import User
from fitboard.domain.workouts import Workout

WORKOUTS_PER_PAGE = 200


class ExportUnit(PersonalDataUnit, Protocol):
    """The athlete's row, memberships and reports, workouts and awards."""

    @property
    def workouts(self) -> WorkoutRepository: ...

    @property
    def achievements(self) -> AchievementRepository: ...


@dataclass(frozen=True)
class AccountSummary:
    """Everything of the athlete but their workouts, which `AccountExport.workouts`
    streams."""

    profile: User
    groups: list[Membership]
    awards: list[HeldAchievement]
    reports: list[ReportCopy]


class AccountExport:
    """The athlete's own data, read for export."""

    def __init__(self, store: Store[ExportUnit], page_size: int = WORKOUTS_PER_PAGE) -> None:
        self._store = store
        self._page_size = page_size

    async def summary(self, user_id: UUID) -> AccountSummary:
        async with self._store.unit_of_work(read_only=True) as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise NotFound("no such athlete")
            return AccountSummary(
                profile=user,
                groups=await uow.personal_data.memberships(user_id),
                awards=await uow.achievements.for_user(user_id),
                reports=await uow.personal_data.reports(user_id),
            )

    async def workouts(self, user_id: UUID) -> AsyncIterator[Workout]:
        """Every workout of the athlete, newest first, a page at a time."""
        after: WorkoutCursor | None = None
        while True:
            async with self._store.unit_of_work(read_only=True) as uow:
                page = await uow.workouts.list_for_user(user_id, self._page_size, after)
            for workout in page:
                yield workout
            if len(page) < self._page_size:
                return
            last = page[-1]
            after = WorkoutCursor(last.submission.started_at, last.id)
