"""Projecting the record onto the ranking index: absolute totals, versioned per athlete."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from fitboard.application.boards.ports import BoardsUnit, RankingIndex
from fitboard.application.ports import Store
from fitboard.domain.boards import Period, Scope, ScoreUpdate
from fitboard.domain.periods import keys_for_day, period_range
from fitboard.domain.standings import every_scope, updates_for
from fitboard.domain.workouts import Totals


async def totals_for_day(uow: BoardsUnit, user_id: UUID, day: date) -> dict[Period, Totals]:
    """The athlete's totals over every period instance that contains `day`, in one read."""
    ranges = {period: period_range(period, key) for period, key in keys_for_day(day).items()}
    return await uow.rollups.totals_by_period(user_id, ranges)


class Projection:
    """Re-projecting an athlete's boards from the record, when something other than a
    workout changes which boards they are on (visibility, groups)."""

    def __init__(self, store: Store[BoardsUnit], ranking: RankingIndex) -> None:
        self._store = store
        self._ranking = ranking

    async def reproject_user(self, user_id: UUID, *, left_groups: Sequence[UUID] = ()) -> int:
        """Re-project every board the athlete has ever had a score on (after a change of
        visibility, or joining or leaving a group). Returns how many updates."""
        updates: list[ScoreUpdate] = []
        async with self._store.unit_of_work() as uow:
            user = await uow.users.lock_and_bump_version(user_id)
            if user is None:
                return 0
            version = user.projection_version
            groups = await uow.groups.group_ids_of(user_id)
            scopes = every_scope(groups)
            left = [Scope.for_group(g) for g in left_groups if g not in groups]
            seen: set[tuple[Period, str]] = set()
            for day in await uow.rollups.days(user_id):
                for period, key in keys_for_day(day).items():
                    if (period, key) in seen:
                        continue
                    seen.add((period, key))
                    rng = period_range(period, key)
                    totals = await uow.rollups.totals(user_id, rng.first, rng.last)
                    updates += updates_for({period: totals}, day, scopes, user.show_on_leaderboards)
                    # Boards of groups the athlete just left lose them.
                    updates += updates_for({period: totals}, day, left, visible=False)
            await uow.commit()
            # Under the athlete's board-write lock, which outlives the commit
            # (`lock_and_bump_version`): their boards are written in commit order.
            await self._ranking.project(user_id, version, updates)
        return len(updates)
