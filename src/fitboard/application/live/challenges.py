"""Which challenges' boards a processed workout moved, at no query per workout.

A challenge's board is every visible athlete's total over the workouts that started in its
window, in its scope. A workout moves it when the workout counts in that scope (the scope
is among the boards it moved: global, its activity, the athlete's groups) and its board
day meets the window (the day's board key is among them too; at the day's edges this may
say "moved" for a workout just outside the window, which costs one coalesced snapshot to
the challenge's subscribers, and nothing at all when nobody watches).

The challenges near now are read once per `refresh_s` per process (one query, however
many workouts) and kept in memory: those that ended less than `lookback` ago (a workout
synced late still counts in the challenge it started in) and those starting before the
next refresh. So a challenge created a moment ago is told live from the next refresh on
(its subscribers have its board from the snapshot they got when subscribing), and one
that ended more than `lookback` ago is not told live at all (its board is right on the
next read)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application.boards.reading import NamedEntry
from fitboard.application.live.ports import ChallengeBoards
from fitboard.application.ports import Clock
from fitboard.domain.boards import BoardKey, Period
from fitboard.domain.challenges import Challenge
from fitboard.domain.periods import period_bounds

REFRESH_S = 30.0
LOOKBACK = timedelta(days=7)


def challenges_moved(
    challenges: Sequence[Challenge], moved: Sequence[BoardKey], zone: ZoneInfo
) -> list[UUID]:
    """The challenges among `challenges` whose board the workout that moved `moved` moves."""
    scopes = {key.board.scope for key in moved}
    days: list[tuple[datetime, datetime]] = []
    for period_key in sorted({k.period_key for k in moved if k.board.period is Period.DAY}):
        start, end = period_bounds(Period.DAY, period_key, zone)
        if start is not None and end is not None:
            days.append((start, end))
    return [
        c.id
        for c in challenges
        if c.scope in scopes and any(start < c.ends_at and c.starts_at < end for start, end in days)
    ]


class LiveChallenges:
    """The challenges near now, cached in process, and the top of a challenge's board."""

    def __init__(
        self,
        source: ChallengeBoards,
        clock: Clock,
        zone: ZoneInfo,
        *,
        refresh_s: float = REFRESH_S,
        lookback: timedelta = LOOKBACK,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._clock = clock
        self._zone = zone
        self._refresh_s = refresh_s
        self._lookback = lookback
        # Process time for the refresh, so a test's fixed clock still refreshes.
        self._monotonic = monotonic
        self._near: list[Challenge] = []
        self._loaded_at: float | None = None
        self._loading = asyncio.Lock()

    async def moved_by(self, moved: Sequence[BoardKey]) -> list[UUID]:
        """The challenges whose board a workout that moved these board instances moves."""
        if not moved:
            return []
        return challenges_moved(await self._current(), moved, self._zone)

    async def top(self, challenge_id: UUID, limit: int) -> list[NamedEntry]:
        return await self._source.top(challenge_id, limit)

    def _stale(self) -> bool:
        loaded = self._loaded_at
        return loaded is None or self._monotonic() - loaded >= self._refresh_s

    async def _current(self) -> list[Challenge]:
        if self._stale():
            # One read for all the pushes that find it stale at once.
            async with self._loading:
                if self._stale():
                    now = self._clock.now()
                    until = now + timedelta(seconds=2 * self._refresh_s)
                    self._near = await self._source.overlapping(now - self._lookback, until)
                    self._loaded_at = self._monotonic()
        return self._near
