"""Reading boards: cache-aside over the ranking index, names from a `DisplayNames`
(a per-process cache in API processes: a warm read runs no SQL)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.application import cursors
from fitboard.application.boards.ports import (
    BoardsUnit,
    DisplayNames,
    Neighbourhood,
    RankingIndex,
)
from fitboard.application.ports import Clock, Store
from fitboard.domain.boards import BoardId, BoardKey, RankedEntry
from fitboard.domain.errors import Forbidden, InvalidField, NotFound
from fitboard.domain.periods import current_key, period_bounds, period_range

MAX_PAGE = 100
MAX_AROUND = 25


@dataclass(frozen=True)
class NamedEntry:
    rank: int
    user_id: UUID
    display_name: str
    score: int


@dataclass(frozen=True)
class BoardView:
    key: BoardKey
    starts_at: datetime | None
    ends_at: datetime | None
    total: int
    entries: list[NamedEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class MyStanding:
    rank: int | None
    score: int | None
    total: int
    neighbors: list[NamedEntry]


def encode_cursor(offset: int) -> str:
    return cursors.encode(f"o:{offset}")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    prefix, _, number = cursors.decode(cursor).partition(":")
    try:
        offset = int(number)
    except ValueError:
        raise cursors.invalid() from None
    if prefix != "o" or offset < 0:
        raise cursors.invalid()
    return offset


def resolve_key(board: BoardId, period_key: str | None, now: datetime, zone: ZoneInfo) -> BoardKey:
    key = period_key or current_key(board.period, now, zone)
    period_range(board.period, key)  # validates the key, naming the field
    return BoardKey(board, key)


class NamesFromRecord:
    """Display names read from the record, one query a call: for processes that keep no
    names (only API processes do, and only they change athletes, so a change made here
    has nothing to tell)."""

    def __init__(self, store: Store[BoardsUnit]) -> None:
        self._store = store

    async def names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        if not user_ids:
            return {}
        async with self._store.unit_of_work(read_only=True) as uow:
            return await uow.users.display_names(user_ids)

    async def changed(self, user_ids: Sequence[UUID]) -> None:
        """Nothing is kept here, so nothing is forgotten."""


class Boards:
    """Reading leaderboards: pages, an athlete's standing, and access to group boards.

    Cache-aside over the ranking index: a board the index does not hold is rebuilt from
    the record by one reader while the others wait for it. Names come from `names`."""

    def __init__(
        self,
        store: Store[BoardsUnit],
        ranking: RankingIndex,
        clock: Clock,
        zone: ZoneInfo,
        names: DisplayNames,
    ) -> None:
        self._store = store
        self._ranking = ranking
        self._display_names = names
        self._clock = clock
        self._zone = zone

    def current_key(self, board: BoardId, period_key: str | None = None) -> BoardKey:
        """`period_key` of `board` (validated), or its current period when None."""
        return resolve_key(board, period_key, self._clock.now(), self._zone)

    async def check_access(self, board: BoardId, viewer: UUID) -> None:
        """Group boards are visible to their members only."""
        group_id = board.scope.group_id
        if group_id is None:
            return
        async with self._store.unit_of_work(read_only=True) as uow:
            if await uow.groups.get(group_id) is None:
                raise NotFound("no such group")
            if not await uow.groups.is_member(group_id, viewer):
                raise Forbidden("group boards are visible to the group's members only")

    async def ensure_loaded(self, key: BoardKey) -> None:
        """Cache-aside: a board missing from the index is rebuilt from the record by one
        reader while concurrent readers wait for it, then served."""
        if await self._ranking.is_loaded(key):
            return
        async with self._ranking.rebuild_lock(key):
            if await self._ranking.is_loaded(key):
                return
            # What an interrupted load left is dropped: the board took no writes since
            # (a board neither loaded nor being loaded takes none), so it may be stale.
            # Under the lock, before the record's read: writes from here on are kept,
            # versioned, and those before are in the read.
            await self._ranking.drop(key)
            await self.rebuild_board(key)

    async def rebuild_board(self, key: BoardKey) -> int:
        """Load one board into the index from the record; returns how many entries. The
        caller holds the board's rebuild lock and has dropped the board (`RankingIndex.
        load`)."""
        rng = period_range(key.board.period, key.period_key)
        async with self._store.unit_of_work(read_only=True) as uow:
            standings = await uow.rollups.standings(key.board, rng.first, rng.last)
        await self._ranking.load(key, standings)
        return len(standings)

    async def _names(self, entries: list[RankedEntry]) -> list[NamedEntry]:
        if not entries:
            return []
        names = await self._display_names.names([e.user_id for e in entries])
        return [NamedEntry(e.rank, e.user_id, names.get(e.user_id, "?"), e.score) for e in entries]

    async def read_board(
        self,
        board: BoardId,
        period_key: str | None,
        *,
        viewer: UUID,
        cursor: str | None,
        limit: int,
    ) -> BoardView:
        """A page of `board` in `period_key` (the current period when None)."""
        key = self.current_key(board, period_key)
        if not 1 <= limit <= MAX_PAGE:
            raise InvalidField("limit", f"must be between 1 and {MAX_PAGE}")
        offset = decode_cursor(cursor)
        await self.check_access(key.board, viewer)
        return await self._read_window(key, offset=offset, limit=limit)

    async def read_top(self, key: BoardKey, *, limit: int) -> BoardView:
        """The first `limit` entries, for live snapshots; the caller has checked access."""
        return await self._read_window(key, offset=0, limit=limit)

    async def _read_window(self, key: BoardKey, *, offset: int, limit: int) -> BoardView:
        # A loaded board (nearly every read) costs one round trip to the index.
        page = await self._ranking.read_page(key, offset, limit)
        if page is None:
            await self.ensure_loaded(key)
            page = await self._ranking.page(key, offset, limit)
        starts_at, ends_at = period_bounds(key.board.period, key.period_key, self._zone)
        following = offset + len(page.entries)
        return BoardView(
            key=key,
            starts_at=starts_at,
            ends_at=ends_at,
            total=page.total,
            entries=await self._names(page.entries),
            next_cursor=encode_cursor(following) if following < page.total else None,
        )

    async def read_my_standing(
        self, board: BoardId, period_key: str | None, *, viewer: UUID, around: int
    ) -> MyStanding:
        """The viewer's rank and score on `board` in `period_key` (the current period when
        None), with up to `around` neighbours on each side."""
        key = self.current_key(board, period_key)
        if not 0 <= around <= MAX_AROUND:
            raise InvalidField("around", f"must be between 0 and {MAX_AROUND}")
        await self.check_access(key.board, viewer)
        # A loaded board (nearly every read) costs one round trip to the index.
        near = await self._ranking.read_around(key, viewer, around)
        if near is None:
            await self.ensure_loaded(key)
            near = Neighbourhood(
                await self._ranking.around(key, viewer, around),
                (await self._ranking.page(key, 0, 0)).total,
            )
        mine = near.entry_of(viewer)
        if mine is None:
            return MyStanding(rank=None, score=None, total=near.total, neighbors=[])
        return MyStanding(mine.rank, mine.score, near.total, await self._names(near.entries))
