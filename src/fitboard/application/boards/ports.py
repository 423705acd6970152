"""What the boards need: the record's totals to build them from, and the ranking index
that serves them."""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Mapping, Sequence
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

    async def add_many(
        self, added: Sequence[tuple[UUID, date, Activity, DailyContribution]]
    ) -> None:
        """`add` each (user, day, activity, contribution) in the order given, in one round
        trip: a row named twice is added to twice, exactly as by two `add`s."""
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

    async def totals_by_period_many(
        self, requests: Sequence[tuple[UUID, Mapping[Period, PeriodRange]]]
    ) -> list[dict[Period, Totals]]:
        """`totals_by_period` of each (user, ranges) request, in order, in one round trip
        when every request has ranges of the same kinds (as every board day does): each
        exactly equal to what `totals_by_period` answers."""
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
class Neighbourhood:
    """A member's place on a board, read in one step: `entries` holds the member and up to
    `radius` entries either side, in board order (empty when the member is not on the
    board); `total` is how many the board holds."""

    entries: list[RankedEntry]
    total: int

    def entry_of(self, user_id: UUID) -> RankedEntry | None:
        return next((e for e in self.entries if e.user_id == user_id), None)


@dataclass(frozen=True)
class Projected:
    """What one `project` write did on one board instance, read in the same atomic step as
    the write, for live rank events: the user's standing just before and just after, and
    up to `behind` entries directly behind them after it (whom they may have just passed).

    Both standings are None, and `behind` empty, where the board is not loaded: it holds
    nothing (no one reads it, so it takes no write), or, while it is being loaded, part of
    its members, whose ranks would be too good; live rank events must not announce
    those."""

    key: BoardKey
    before: RankedEntry | None
    after: RankedEntry | None
    behind: list[RankedEntry] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        """The write changed the athlete's own score and left them on the board: what a
        live rank event announces. A board where only others moved is not this write's
        doing, a redelivered duplicate changes no score, and a board that is not loaded
        reports no standings (its ranks would be too good)."""
        return self.after is not None and (
            self.before is None or self.before.score != self.after.score
        )

    def passed(self) -> list[RankedEntry]:
        """The entries of `behind` that the athlete passed with this write (`passed_among`)."""
        if self.after is None:
            return []
        return passed_among(self.before, self.after, self.behind)


def passed_among(
    before: RankedEntry | None, after: RankedEntry, behind: Sequence[RankedEntry]
) -> list[RankedEntry]:
    """The entries of `behind` (board order, directly behind the athlete after a write that
    took them from `before` to `after`) that were ahead of the athlete before and are
    strictly behind now. Only the athlete moved, so another's score is the same as before:
    they were ahead if it beat the athlete's old score (anyone on the board was ahead of an
    athlete who was not on it). Entries tied with the athlete now share their rank, so they
    are not passed; an athlete whose rank did not improve passed nobody.

    `ranking_redis._PROJECT_BOARD` applies the same rule on the server (`only_moves`)."""
    if before is not None and after.rank >= before.rank:
        return []
    return [e for e in behind if e.rank > after.rank and (before is None or e.score > before.score)]


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


@dataclass(frozen=True)
class OldLayoutRemoved:
    """What `RankingIndex.remove_old_layout` removed: how many keys of the index's earlier
    key layout, and the boards that layout held loaded, for a rebuild to load again."""

    keys: int
    loaded: list[BoardKey]


# One athlete's absolute totals for `RankingIndex.project_many`: (user id, version, updates).
AthleteProjection = tuple[UUID, int, Sequence[ScoreUpdate]]
# What `RankingIndex.load` fills a board from: the standings all at once, or streamed in
# chunks of any size as the record is read, so a board of a million athletes never needs
# to be held whole.
Standings = Sequence[VersionedStanding] | AsyncIterable[Sequence[VersionedStanding]]


class RankingIndex(Protocol):
    """Leaderboards as a projection of the record.

    Scores are integers; among equal scores, the earlier `reached_at` is listed first.
    Ranks are competition ranks (1, 2, 2, 4)."""

    async def project(
        self, user_id: UUID, version: int, updates: Sequence[ScoreUpdate], *, behind: int = 0
    ) -> list[Projected]:
        """Write one user's absolute totals, in one round trip. `score=None` removes the
        user from that board. Returns one `Projected` per update, in order; each board's
        write and reads are atomic together (not across boards).

        The caller holds the athlete's board-write lock (`UserRepository.
        lock_and_bump_version`: after the commit that bumped `version`, before its unit of
        work ends), so each athlete's writes come in version order, and a loaded board
        takes every write as it comes. A board being loaded (its `rebuild_lock` held)
        keeps each member's version, and ignores an update if it holds a version >=
        `version` for the user: the `load` is filling it from a read of the record that
        this write may be newer than. A board neither loaded nor being loaded takes no
        write: no one reads it, and whoever loads it takes its rebuild lock and drops it
        before reading the record."""
        ...

    async def project_many(
        self,
        projections: Sequence[AthleteProjection],
        *,
        behind: int = 0,
        only_moves: bool = False,
    ) -> list[list[Projected]]:
        """`project` for several athletes in one round trip, with the same guarantees for
        each, applied in order: one list of `Projected` per projection, in order.

        With `only_moves`, each list holds only the boards on which the write moved the
        athlete (`Projected.moved`), in the order of the writes, and each one's `behind`
        only those of the `behind` entries directly behind that it passed
        (`Projected.passed`): exactly what live rank events use, and a reply that is a
        fraction of the whole (every board's standings, and its rows behind)."""
        ...

    async def is_loaded(self, key: BoardKey) -> bool:
        """True once the board instance has been fully loaded from the record and not lost."""
        ...

    def rebuild_lock(self, key: BoardKey) -> AbstractAsyncContextManager[None]:
        """A lock that lets one reader rebuild a missing board while others wait; raises
        RankingUnavailable if it cannot be had in bounded time.

        Held for as long as the block runs, however long. Should it be lost all the same
        (an index shared by several processes, out of reach longer than the lock's
        timeout, so another process took it), this holder's `load` and `drop` of the board
        write nothing and raise RankingUnavailable, and so does leaving the block: a
        rebuild that lost its lock fails instead of writing beside its new holder."""
        ...

    async def load(self, key: BoardKey, standings: Standings) -> None:
        """Fill a board from the record, then mark it loaded. A standing is written unless
        the board holds a newer version of the athlete's, which only a `project` committed
        after the load's read of the record can have (a board being loaded keeps versions).
        Under the board's `rebuild_lock`, taken before the record was read and the board
        dropped: `project` writes into a board that is not loaded only while its lock is
        held, so a write committed between a read taken without it and the load would be
        lost.
        A board that is loaded already is left as it is (loaded meanwhile by another,
        whose writes since may be newer than `standings`): `drop` it first to load it anew.

        `standings` may be a stream of chunks: each is written as it comes, and the board
        is marked loaded only once the last one is, so no reader sees it loaded and
        partial. A bad standing raises ValueError before its chunk is written; the chunks
        before it stay written, the board not marked loaded.

        Members absent from `standings` are not removed (their version is unknown here):
        `drop` first for a clean rebuild, as `fitboard rebuild` and reconcile's repair do."""
        ...

    async def drop(self, key: BoardKey) -> None:
        """Forget a board instance entirely (it will be rebuilt on the next read)."""
        ...

    def rebuild_locks(
        self, keys: Sequence[BoardKey]
    ) -> AbstractAsyncContextManager[list[BoardKey]]:
        """The rebuild locks of those of `keys` that no one holds, all taken at once in a
        few round trips, however many, for loading many boards (reconcile's warming):
        yields the keys whose lock it took, in the order of `keys`. A board whose lock is
        held already is left out, not waited for: its holder is loading it (or dropping
        it). Under it, this holder drops and loads the boards it took as under
        `rebuild_lock`: the locks are renewed while the block runs and released together
        when it ends, and one lost all the same (out of reach longer than the lock's
        timeout) refuses this holder's writes to its board and fails the block's end with
        RankingUnavailable. Raises RankingUnavailable if the index cannot be reached."""
        ...

    async def drop_many(self, keys: Sequence[BoardKey], *, keep_loaded: bool = False) -> int:
        """`drop` each of `keys`, many in one round trip; with `keep_loaded`, each that is
        not loaded (checked with its drop, in one atomic step): a board loaded meanwhile is
        kept, and a `load` leaves it as it is. Returns how many were dropped."""
        ...

    async def load_many(
        self, loads: Sequence[tuple[BoardKey, Sequence[VersionedStanding]]]
    ) -> None:
        """`load` each (board, standings) of `loads`, with the same guarantees for each, as
        reconcile's warming does under `rebuild_locks`: many small boards in one round
        trip, a big one in chunks of its own. A bad standing raises ValueError before
        anything of `loads` is written."""
        ...

    async def remove_athlete(self, user_id: UUID, version: int) -> int:
        """Remove the athlete from every board instance held, loaded or not, as a `project`
        with `score=None` at `version` would on each loaded board that holds them and on
        every board being loaded, holding them or not (its load may come from a read of
        the record older than the deletion, which still ranks them: their version keeps
        the load from writing them). From a board neither loaded nor being loaded (an
        interrupted load's leftovers) they go outright. For a deleted account, under its
        board-write lock as `project`. Returns how many board instances held them (or,
        being loaded, their version)."""
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
        """Every board instance the index holds anything of, loaded or not (a load under
        way, one that was interrupted, or an earlier release's writes into a board no one
        loaded), for reconciliation."""
        ...

    async def remove_old_layout(
        self, progress: Callable[[int], None] | None = None
    ) -> OldLayoutRemoved | None:
        """Delete what an earlier key layout of the index left behind (an upgrade's
        leftovers: nothing reads them, and some never expire), calling `progress` with the
        keys deleted so far, from 0 before the first; what was deleted. None, and nothing
        done, for an index that has no earlier layout (one in a process's memory is built
        anew at each start)."""
        ...

    async def read_page(self, key: BoardKey, offset: int, limit: int) -> BoardPage | None:
        """`page` of a loaded board, the check that it is loaded read with it in one
        atomic step and one round trip; None, and nothing read, when it is not loaded."""
        ...

    async def read_around(self, key: BoardKey, user_id: UUID, radius: int) -> Neighbourhood | None:
        """`around` and the board's total of a loaded board, read with the check that it
        is loaded in one atomic step and one round trip; None when it is not loaded."""
        ...

    async def scores_many(self, keys: Sequence[BoardKey]) -> list[dict[UUID, int]]:
        """`scores` of each board in `keys`, in order, for reconciliation: many small boards
        in one round trip. Each board's members are read as `scores` reads them (not one
        snapshot across boards)."""
        ...


class DisplayNames(Protocol):
    """The names boards show for athletes."""

    async def names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        """The display name of each athlete of `user_ids` who has an account; the others
        (erased accounts) are left out."""
        ...


class NameChanges(Protocol):
    """How a change to what boards show for an athlete reaches every process that keeps
    display names."""

    async def changed(self, user_ids: Sequence[UUID]) -> None:
        """After the commit of a change to these athletes' display names (or of their
        erasure): every process reads them from the record again. This process at once;
        raises RankingUnavailable when the others could not be told."""
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
