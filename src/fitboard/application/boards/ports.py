"""What the boards need: the record's totals to build them from, and the ranking index
that serves them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol
from uuid import UUID

from fitboard.application.accounts.ports import UserRepository
from fitboard.application.groups.ports import GroupRepository
from fitboard.application.ports import Transaction
from fitboard.domain.activities import Activity
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Period,
    RankedEntry,
    ScoreUpdate,
    VersionedStanding,
)
from fitboard.domain.periods import PeriodRange
from fitboard.domain.workouts import DailyContribution, Totals


class RollupRepository(Protocol):
    async def add(
        self, user_id: UUID, day: date, activity: Activity, contribution: DailyContribution
    ) -> None:
        """Add one workout's contribution to the (user, day, activity) row, creating it."""
        ...

    async def rebuild_day(
        self,
        user_id: UUID,
        day: date,
        contributions: Sequence[tuple[Activity, DailyContribution]],
    ) -> None:
        """Replace the athlete's rows of `day` with the sum of `contributions` (those of
        every workout of theirs that counts on that day): absolute, so doing it twice is
        doing it once."""
        ...

    async def totals(self, user_id: UUID, first: date | None, last: date | None) -> Totals:
        """Sums over days in [first, last] (None: unbounded) per activity, plus distinct days.

        Activities come in name order, and each activity's days are summed in day order,
        so float sums are reproducible to the last bit."""
        ...

    async def totals_by_period(
        self, user_id: UUID, ranges: Mapping[Period, PeriodRange]
    ) -> dict[Period, Totals]:
        """`totals` over each range (in the order given) in one round trip, each exactly
        equal to what `totals(user_id, range.first, range.last)` answers."""
        ...

    async def first_day(self) -> date | None:
        """The earliest day with a rollup of anyone; None when there is none."""
        ...

    async def days(self, user_id: UUID) -> list[date]:
        """Every day on which the user has a rollup row, ascending."""
        ...

    async def standings(
        self, board: BoardId, first: date | None, last: date | None
    ) -> list[VersionedStanding]:
        """Every visible user's total on the board over [first, last], with their projection
        version read in the same statement. Users hidden from boards and zero totals are left
        out. Used to rebuild a board and to reconcile it."""
        ...


@dataclass(frozen=True)
class BoardPage:
    entries: list[RankedEntry]
    total: int


@dataclass(frozen=True)
class Projected:
    """What one `project` write did on one board instance, read in the same atomic step as
    the write, for live rank events: the user's standing just before and just after, and
    up to `behind` entries directly behind them after it (whom they may have just passed).

    Both standings are None, and `behind` empty, where the board is not loaded: a partial
    board (after a restart or a flush, before its first read) would report ranks that are
    too good, and live rank events must not announce those."""

    key: BoardKey
    before: RankedEntry | None
    after: RankedEntry | None
    behind: list[RankedEntry] = field(default_factory=list)


@dataclass(frozen=True)
class RankingStats:
    boards: int
    largest: list[tuple[BoardKey, int]]
    # False for an index in a process's own memory: another process sees none of it.
    shared: bool = True
    # None where the index cannot say (an index in a process's own memory).
    memory_bytes: int | None = None
    memory_limit_bytes: int | None = None
    evicted_keys: int | None = None


# One athlete's absolute totals for `RankingIndex.project_many`: (user id, version, updates).
AthleteProjection = tuple[UUID, int, Sequence[ScoreUpdate]]


class RankingIndex(Protocol):
    """Leaderboards as a projection of the record.

    Scores are integers; among equal scores, the earlier `reached_at` is listed first.
    Ranks are competition ranks (1, 2, 2, 4)."""

    async def project(
        self, user_id: UUID, version: int, updates: Sequence[ScoreUpdate], *, behind: int = 0
    ) -> list[Projected]:
        """Write one user's absolute totals, in one round trip. On each board, an update is
        ignored if that board already holds a version >= `version` for the user, so
        out-of-order writers never leave a stale total. `score=None` removes the user from
        that board. Returns one `Projected` per update, in order; each board's write and
        reads are atomic together (not across boards)."""
        ...

    async def project_many(
        self, projections: Sequence[AthleteProjection], *, behind: int = 0
    ) -> list[list[Projected]]:
        """`project` for several athletes in one round trip, with the same guarantees for
        each, applied in order: one list of `Projected` per projection, in order."""
        ...

    async def is_loaded(self, key: BoardKey) -> bool:
        """True once the board instance has been fully loaded from the record and not lost."""
        ...

    def rebuild_lock(self, key: BoardKey) -> AbstractAsyncContextManager[None]:
        """A lock that lets one reader rebuild a missing board while others wait; raises
        RankingUnavailable if it cannot be had in bounded time."""
        ...

    async def load(self, key: BoardKey, standings: Sequence[VersionedStanding]) -> None:
        """Fill a board from the record, version-checked like `project`, then mark it loaded.

        Members absent from `standings` are not removed (their version is unknown here):
        `drop` first for a clean rebuild, as `fitboard rebuild` and reconcile's repair do."""
        ...

    async def drop(self, key: BoardKey) -> None:
        """Forget a board instance entirely (it will be rebuilt on the next read)."""
        ...

    async def remove_athlete(self, user_id: UUID, version: int) -> int:
        """Remove the athlete from every board instance held, loaded or not, as a `project`
        with `score=None` at `version` would on each board that has ever held them: a
        write of an older version cannot bring them back. For a deleted account. Returns
        how many board instances the removal was written to."""
        ...

    async def page(self, key: BoardKey, offset: int, limit: int) -> BoardPage: ...

    async def standing(self, key: BoardKey, user_id: UUID) -> RankedEntry | None: ...

    async def around(self, key: BoardKey, user_id: UUID, radius: int) -> list[RankedEntry]:
        """Up to `radius` entries either side of the user, the user included, in board order;
        empty if the user is not on the board."""
        ...

    async def scores(self, key: BoardKey) -> dict[UUID, int]:
        """Every member's score, for reconciliation."""
        ...

    async def loaded_keys(self) -> list[BoardKey]:
        """Every board instance currently held, for reconciliation."""
        ...

    async def stats(self, largest: int) -> RankingStats:
        """How many boards are held, the `largest` largest, and the memory they take."""
        ...

    async def ping(self) -> None:
        """Raise RankingUnavailable if the index cannot be reached."""
        ...

    async def close(self) -> None: ...

    async def held_keys(self) -> list[BoardKey]:
        """Every board instance the index holds anything of, loaded or not (projection
        writes into a board before anyone has loaded it), for reconciliation."""
        ...


class BoardsUnit(Transaction, Protocol):
    """Reading, projecting and rebuilding boards: totals, who may see a group board,
    display names, and each athlete's projection version."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def rollups(self) -> RollupRepository: ...

    @property
    def groups(self) -> GroupRepository: ...
