"""The embedded ranking index: every board instance in process memory.

The embedded mode runs one process, so the boards live here and are rebuilt from the
record at start (or on the first read of each board). Every method runs without awaiting
anything in between, so on one event loop each call is atomic, as a Lua script is in Redis.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sortedcontainers import SortedKeyList

from fitboard.application.boards.ports import (
    AthleteProjection,
    BoardPage,
    Projected,
    RankingStats,
)
from fitboard.domain.boards import BoardKey, RankedEntry, ScoreUpdate, Standing, VersionedStanding
from fitboard.domain.ranking import sort_key, window_ranks

__all__ = ["MemoryRanking"]


@dataclass
class _Board:
    # Ordered by `sort_key`, so board order is iteration order and ranks are bisections.
    entries: Any = field(default_factory=lambda: SortedKeyList(key=sort_key))
    by_member: dict[UUID, Standing] = field(default_factory=dict)
    # Kept after a member is removed, so an older write cannot bring the member back.
    versions: dict[UUID, int] = field(default_factory=dict)
    loaded: bool = False

    def write(self, standing: Standing | None, user_id: UUID, version: int) -> None:
        stored = self.versions.get(user_id)
        if stored is not None and stored >= version:
            return
        previous = self.by_member.pop(user_id, None)
        if previous is not None:
            self.entries.remove(previous)
        if standing is not None:
            self.entries.add(standing)
            self.by_member[user_id] = standing
        self.versions[user_id] = version

    def standing_of(self, user_id: UUID) -> RankedEntry | None:
        found = self.by_member.get(user_id)
        if found is None:
            return None
        return RankedEntry(self.rank_of(found.score), user_id, found.score)

    def rank_of(self, score: int) -> int:
        # Keys are (-score, ...); the 1-tuple (-score,) sorts before every key of that
        # score, so the bisection counts exactly the members with a greater score.
        above: int = self.entries.bisect_key_left((-score,))
        return above + 1

    def window(self, start: int, stop: int) -> list[RankedEntry]:
        rows: list[Standing] = list(self.entries.islice(start, stop))
        if not rows:
            return []
        ranks = window_ranks([r.score for r in rows], start, self.rank_of(rows[0].score))
        return [RankedEntry(rank, r.user_id, r.score) for rank, r in zip(ranks, rows, strict=True)]


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

    async def project(
        self, user_id: UUID, version: int, updates: Sequence[ScoreUpdate], *, behind: int = 0
    ) -> list[Projected]:
        _check_window(radius=behind)
        standings = [_standing_of(user_id, u) for u in updates]
        done: list[Projected] = []
        for update, standing in zip(updates, standings, strict=True):
            board = self._board(update.key)
            if not board.loaded:
                # A board that was projected into but never loaded holds only the members
                # written since the start: its ranks would be wrong, so they are unknown.
                board.write(standing, user_id, version)
                done.append(Projected(update.key, None, None))
                continue
            before = board.standing_of(user_id)
            board.write(standing, user_id, version)
            after = board.standing_of(user_id)
            trailing: list[RankedEntry] = []
            if after is not None and behind:
                position: int = board.entries.index(board.by_member[user_id])
                trailing = board.window(position + 1, position + 1 + behind)
            done.append(Projected(update.key, before, after, trailing))
        return done

    async def project_many(
        self, projections: Sequence[AthleteProjection], *, behind: int = 0
    ) -> list[list[Projected]]:
        _check_window(radius=behind)
        # Checked first: a bad update fails the call before anything is written.
        for user_id, _, updates in projections:
            for update in updates:
                _standing_of(user_id, update)
        return [
            await self.project(user_id, version, updates, behind=behind)
            for user_id, version, updates in projections
        ]

    async def is_loaded(self, key: BoardKey) -> bool:
        board = self._boards.get(key)
        return board is not None and board.loaded

    def rebuild_lock(self, key: BoardKey) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    async def load(self, key: BoardKey, standings: Sequence[VersionedStanding]) -> None:
        for versioned in standings:
            _check_standing(versioned.standing)
        board = self._board(key)
        for versioned in standings:
            board.write(versioned.standing, versioned.standing.user_id, versioned.version)
        board.loaded = True

    async def drop(self, key: BoardKey) -> None:
        self._boards.pop(key, None)

    async def remove_athlete(self, user_id: UUID, version: int) -> int:
        removed = 0
        for board in self._boards.values():
            stored = board.versions.get(user_id)
            if stored is not None and stored < version:
                board.write(None, user_id, version)
                removed += 1
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

    async def scores(self, key: BoardKey) -> dict[UUID, int]:
        board = self._boards.get(key)
        if board is None:
            return {}
        return {user_id: s.score for user_id, s in board.by_member.items()}

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


def _standing_of(user_id: UUID, update: ScoreUpdate) -> Standing | None:
    if update.score is None:
        return None
    if update.reached_at is None:
        raise ValueError(f"update of {update.key} has a score but no reached_at")
    standing = Standing(user_id, update.score, update.reached_at)
    _check_standing(standing)
    return standing


def _check_standing(standing: Standing) -> None:
    # sort_key validates the score range and that reached_at is aware; checking before any
    # write means a bad update never leaves a call half-applied.
    sort_key(standing)


def _check_window(*, offset: int = 0, limit: int = 0, radius: int = 0) -> None:
    if offset < 0 or limit < 0 or radius < 0:
        raise ValueError("offset, limit and radius must not be negative")
