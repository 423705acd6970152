"""The embedded ranking index: every board instance in process memory.

The embedded mode runs one process, so the boards live here and are rebuilt from the
record at start (or on the first read of each board). Every method runs without awaiting
anything in between, so on one event loop each call is atomic, as a Lua script is in Redis;
but for two. A `load` of a stream awaits each chunk of it (the board is marked loaded
after the last, so reads of loaded boards never see it partial). `project_many` is atomic
per athlete, as Redis runs it (one script call per board, pipelined): it gives the event
loop a turn every `ATHLETES_PER_TURN` athletes, so a worker's batch never holds the loop,
and the API sharing it, for the whole batch.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from sortedcontainers import SortedList

from fitboard.application.boards.ports import (
    AthleteProjection,
    BoardPage,
    Neighbourhood,
    OldLayoutRemoved,
    Projected,
    RankingStats,
    Standings,
    passed_among,
)
from fitboard.domain.boards import BoardKey, RankedEntry, ScoreUpdate, Standing, VersionedStanding
from fitboard.domain.ranking import sort_key, tie_break, window_ranks

__all__ = ["ATHLETES_PER_TURN", "MemoryRanking"]

# Athletes `project_many` projects between two turns of the event loop: a few milliseconds.
ATHLETES_PER_TURN = 16


# A member's place on a board: `sort_key` of its standing, then the member. Board order is
# ascending order of these, compared as plain tuples (no key function called on every add
# and remove); the member never decides an order, the user id's integer before it being
# unique on a board.
_Entry = tuple[int, int, int, UUID]


def _entry(standing: Standing) -> _Entry:
    # sort_key validates the score range and that reached_at is aware.
    by_score, by_time, by_id = sort_key(standing)
    return (by_score, by_time, by_id, standing.user_id)


def _entry_at(user_id: UUID, by_id: int, score: int, reached_at: datetime) -> _Entry:
    """`_entry(Standing(user_id, score, reached_at))` for the worker's many updates of one
    athlete, `by_id` being `sort_key`'s last part for them (-user_id.int), worked out once:
    no Standing made and no `sort_key` call per update, a third of the cost of an update's
    entry. `tie_break` validates as `sort_key` does (the score's range, an aware
    reached_at); tests/unit/test_ranking_memory_projection.py holds the two equal."""
    return (-score, -tie_break(score, reached_at), by_id, user_id)


@dataclass
class _Board:
    # In board order, so ranks are bisections.
    entries: Any = field(default_factory=SortedList)
    by_member: dict[UUID, _Entry] = field(default_factory=dict)
    # Each member's version, only while the board is being loaded (as in Redis: see
    # `ranking_redis._WRITE`): a loaded board's writes come in commit order; before, the
    # load is filling it from an older read of the record. Kept after a member is removed,
    # so an older load cannot bring the member back.
    versions: dict[UUID, int] = field(default_factory=dict)
    loaded: bool = False

    def write(self, entry: _Entry | None, user_id: UUID, version: int) -> None:
        if not self.loaded:
            stored = self.versions.get(user_id)
            if stored is not None and stored >= version:
                return
            self.versions[user_id] = version
        self.place(entry, user_id)

    def place(self, entry: _Entry | None, user_id: UUID) -> None:
        """Put the member at `entry`, or off the board for None, whatever it held."""
        previous = self.by_member.pop(user_id, None)
        if previous is not None:
            self.entries.remove(previous)
        if entry is not None:
            self.entries.add(entry)
            self.by_member[user_id] = entry

    def standing_of(self, user_id: UUID) -> RankedEntry | None:
        found = self.by_member.get(user_id)
        if found is None:
            return None
        score = -found[0]
        return RankedEntry(self.rank_of(score), user_id, score)

    def rank_of(self, score: int) -> int:
        # Entries start with -score; the 1-tuple (-score,) sorts before every entry of that
        # score, so the bisection counts exactly the members with a greater score.
        above: int = self.entries.bisect_left((-score,))
        return above + 1

    def window(self, start: int, stop: int) -> list[RankedEntry]:
        rows: list[_Entry] = list(self.entries.islice(start, stop))
        if not rows:
            return []
        scores = [-row[0] for row in rows]
        ranks = window_ranks(scores, start, self.rank_of(scores[0]))
        return [
            RankedEntry(rank, row[3], score)
            for rank, row, score in zip(ranks, rows, scores, strict=True)
        ]


class MemoryRanking:
    """`RankingIndex` over sorted lists in memory (sortedcontainers)."""

    def __init__(self) -> None:
        self._boards: dict[BoardKey, _Board] = {}
        # Weak values: a lock lives only while someone holds or awaits it, so boards that
        # were rebuilt once do not keep a lock forever.
        self._locks: weakref.WeakValueDictionary[BoardKey, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    def _board(self, key: BoardKey) -> _Board:
        board = self._boards.get(key)
        if board is None:
            board = self._boards[key] = _Board()
        return board

    def _written(self, key: BoardKey) -> _Board | None:
        """The board a projection writes into: a loaded one, or one being loaded (its
        rebuild lock held: every load takes it before reading the record, and its writes
        are versioned); None for a board neither loaded nor being loaded, which takes no
        write (no one reads it; the next load drops what it holds), as in Redis."""
        board = self._boards.get(key)
        if board is not None and board.loaded:
            return board
        lock = self._locks.get(key)
        if lock is None or not lock.locked():
            return None
        return board if board is not None else self._board(key)

    async def project(
        self, user_id: UUID, version: int, updates: Sequence[ScoreUpdate], *, behind: int = 0
    ) -> list[Projected]:
        _check_window(radius=behind)
        return self._project(user_id, version, updates, _entries_of(user_id, updates), behind)

    def _project(
        self,
        user_id: UUID,
        version: int,
        updates: Sequence[ScoreUpdate],
        entries: Sequence[_Entry | None],
        behind: int,
    ) -> list[Projected]:
        done: list[Projected] = []
        for update, entry in zip(updates, entries, strict=True):
            board = self._written(update.key)
            if board is None or not board.loaded:
                # A board being loaded holds only part of its members: its ranks would be
                # wrong, so they are unknown.
                if board is not None:
                    board.write(entry, user_id, version)
                done.append(Projected(update.key, None, None))
                continue
            before = board.standing_of(user_id)
            board.write(entry, user_id, version)
            after = board.standing_of(user_id)
            trailing: list[RankedEntry] = []
            if after is not None and behind:
                position: int = board.entries.index(board.by_member[user_id])
                trailing = board.window(position + 1, position + 1 + behind)
            done.append(Projected(update.key, before, after, trailing))
        return done

    async def project_many(
        self,
        projections: Sequence[AthleteProjection],
        *,
        behind: int = 0,
        only_moves: bool = False,
    ) -> list[list[Projected]]:
        _check_window(radius=behind)
        # Every entry made (and so checked) first: a bad update fails the call before
        # anything is written.
        entries = [_entries_of(user_id, updates) for user_id, _, updates in projections]
        project = self._project_moves if only_moves else self._project
        done: list[list[Projected]] = []
        for (user_id, version, updates), made in zip(projections, entries, strict=True):
            if done and len(done) % ATHLETES_PER_TURN == 0:
                await asyncio.sleep(0)
            done.append(project(user_id, version, updates, made, behind))
        return done

    def _project_moves(
        self,
        user_id: UUID,
        version: int,
        updates: Sequence[ScoreUpdate],
        entries: Sequence[_Entry | None],
        behind: int,
    ) -> list[Projected]:
        """`_project`'s replies where the athlete moved (`Projected.moved`), each with only
        the entries passed (`Projected.passed`): the same writes and the same replies as
        filtering `_project`'s, without making the ones that would be dropped, and reading
        the entries behind the athlete only where their rank improved (elsewhere they
        passed nobody)."""
        done: list[Projected] = []
        for update, entry in zip(updates, entries, strict=True):
            board = self._written(update.key)
            if board is None or not board.loaded:
                # No standings on a board not loaded (see `_project`): never a move.
                if board is not None:
                    board.write(entry, user_id, version)
                continue
            before = board.standing_of(user_id)
            board.write(entry, user_id, version)
            now = board.by_member.get(user_id)
            if now is None:
                continue
            score = -now[0]
            if before is not None and before.score == score:
                continue
            after = RankedEntry(board.rank_of(score), user_id, score)
            passed: list[RankedEntry] = []
            if behind and (before is None or after.rank < before.rank):
                position: int = board.entries.bisect_left(now)
                passed = passed_among(
                    before, after, board.window(position + 1, position + 1 + behind)
                )
            done.append(Projected(update.key, before, after, passed))
        return done

    async def is_loaded(self, key: BoardKey) -> bool:
        board = self._boards.get(key)
        return board is not None and board.loaded

    def rebuild_lock(self, key: BoardKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def load(self, key: BoardKey, standings: Standings) -> None:
        if isinstance(standings, Sequence):
            self._load_chunk(key, standings)
        else:
            # A stream: each chunk written as it comes, the loop free between chunks (as
            # Redis serves others between a load's calls); the board is looked up again for
            # each, so a chunk after a `drop` goes where a reader looks, as in Redis.
            async for chunk in standings:
                self._load_chunk(key, chunk)
        board = self._board(key)
        board.loaded = True
        board.versions.clear()

    def _load_chunk(self, key: BoardKey, standings: Sequence[VersionedStanding]) -> None:
        """Write a chunk as `ranking_redis._LOAD` does: each member unless the board holds
        a newer version of a writer's, or the chunk a newer standing of theirs; nothing
        into a board that is loaded (someone loaded it meanwhile)."""
        # Every entry made (and so checked) before any of the chunk is written.
        entries = [_entry(versioned.standing) for versioned in standings]
        board = self._board(key)
        if board.loaded:
            return
        newest: dict[UUID, int] = {}
        for versioned, entry in zip(standings, entries, strict=True):
            user_id = versioned.standing.user_id
            held = max(board.versions.get(user_id, -1), newest.get(user_id, -1))
            if versioned.version > held:
                board.place(entry, user_id)
                newest[user_id] = versioned.version

    async def drop(self, key: BoardKey) -> None:
        self._boards.pop(key, None)

    @asynccontextmanager
    async def rebuild_locks(self, keys: Sequence[BoardKey]) -> AsyncIterator[list[BoardKey]]:
        # Held here while the block runs: the dictionary's references are weak.
        taken: list[asyncio.Lock] = []
        held: list[BoardKey] = []
        try:
            for key in keys:
                lock = self.rebuild_lock(key)
                if lock.locked():
                    continue  # another holder's (or a key given twice)
                try:
                    # A free lock is taken at once, without a turn of the loop; one just
                    # released to a task waiting for it (unlocked until that task runs)
                    # would be queued for, so that wait is cut short: it is that task's.
                    async with asyncio.timeout(0):
                        await lock.acquire()
                except TimeoutError:
                    continue
                taken.append(lock)
                held.append(key)
            yield held
        finally:
            for lock in taken:
                lock.release()

    async def drop_many(self, keys: Sequence[BoardKey], *, keep_loaded: bool = False) -> int:
        dropped = 0
        for key in keys:
            if not (keep_loaded and await self.is_loaded(key)):
                await self.drop(key)
                dropped += 1
        return dropped

    async def load_many(
        self, loads: Sequence[tuple[BoardKey, Sequence[VersionedStanding]]]
    ) -> None:
        # Every entry made (and so checked) before any board is written.
        for _, standings in loads:
            for versioned in standings:
                _entry(versioned.standing)
        for key, standings in loads:
            await self.load(key, standings)

    async def remove_athlete(self, user_id: UUID, version: int) -> int:
        removed = 0
        # Boards being loaded that hold nothing yet (just dropped) too, as in Redis.
        for key in [k for k, lock in self._locks.items() if lock.locked()]:
            self._board(key)
        for key, board in self._boards.items():
            if board.loaded or self._written(key) is None:
                # Loaded, or an interrupted load's leftovers (no load compares against
                # them): the member goes outright, and its version with it.
                board.versions.pop(user_id, None)
                if user_id in board.by_member:
                    board.place(None, user_id)
                    removed += 1
                continue
            # Being loaded: the version is written whether the board holds them or not,
            # since its load may come from a read older than the deletion, which ranks them.
            stored = board.versions.get(user_id)
            held = stored is not None or user_id in board.by_member
            if held and (stored is None or stored < version):
                removed += 1
            board.write(None, user_id, version)
        return removed

    async def page(self, key: BoardKey, offset: int, limit: int) -> BoardPage:
        _check_window(offset=offset, limit=limit)
        board = self._boards.get(key)
        if board is None:
            return BoardPage([], 0)
        return BoardPage(board.window(offset, offset + limit), len(board.entries))

    async def standing(self, key: BoardKey, user_id: UUID) -> RankedEntry | None:
        board = self._boards.get(key)
        return board.standing_of(user_id) if board is not None else None

    async def around(self, key: BoardKey, user_id: UUID, radius: int) -> list[RankedEntry]:
        _check_window(radius=radius)
        board = self._boards.get(key)
        found = board.by_member.get(user_id) if board is not None else None
        if board is None or found is None:
            return []
        position: int = board.entries.index(found)
        return board.window(max(0, position - radius), position + radius + 1)

    async def read_page(self, key: BoardKey, offset: int, limit: int) -> BoardPage | None:
        if not await self.is_loaded(key):
            return None
        return await self.page(key, offset, limit)

    async def read_around(self, key: BoardKey, user_id: UUID, radius: int) -> Neighbourhood | None:
        if not await self.is_loaded(key):
            return None
        return Neighbourhood(
            await self.around(key, user_id, radius), len(self._boards[key].entries)
        )

    async def scores(self, key: BoardKey) -> dict[UUID, int]:
        board = self._boards.get(key)
        if board is None:
            return {}
        return {user_id: -entry[0] for user_id, entry in board.by_member.items()}

    async def loaded_keys(self) -> list[BoardKey]:
        return sorted(key for key, board in self._boards.items() if board.loaded)

    async def stats(self, largest: int) -> RankingStats:
        sizes = [(key, len(board.by_member)) for key, board in self._boards.items() if board.loaded]
        sizes.sort(key=lambda pair: (-pair[1], pair[0].name))
        return RankingStats(boards=len(sizes), largest=sizes[:largest], shared=False)

    async def ping(self) -> None:
        """Memory is always reachable."""

    async def close(self) -> None:
        self._boards.clear()

    async def held_keys(self) -> list[BoardKey]:
        return sorted(self._boards)

    async def remove_old_layout(
        self, progress: Callable[[int], None] | None = None
    ) -> OldLayoutRemoved | None:
        """None: boards in a process's memory are built anew at each start, so no earlier
        layout of them outlives an upgrade."""
        return None

    async def scores_many(self, keys: Sequence[BoardKey]) -> list[dict[UUID, int]]:
        return [await self.scores(key) for key in keys]


def _entries_of(user_id: UUID, updates: Sequence[ScoreUpdate]) -> list[_Entry | None]:
    """Each update's entry for `user_id` (None where it removes them), every one checked."""
    by_id = -user_id.int
    entries: list[_Entry | None] = []
    for update in updates:
        if update.score is None:
            entries.append(None)
        elif update.reached_at is None:
            raise ValueError(f"update of {update.key} has a score but no reached_at")
        else:
            entries.append(_entry_at(user_id, by_id, update.score, update.reached_at))
    return entries


def _check_window(*, offset: int = 0, limit: int = 0, radius: int = 0) -> None:
    if offset < 0 or limit < 0 or radius < 0:
        raise ValueError("offset, limit and radius must not be negative")
