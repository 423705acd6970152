"""`RankingIndex.load` of standings streamed in chunks, as a rebuild reads them from the
record: every chunk written, versions compared, and the board marked loaded only after the
last one, so no read of loaded boards sees it partial; a bad standing stops the load with
the board not loaded. On memory, Redis and a Redis Cluster (the parametrised `ranking`
fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from fitboard.application.boards.ports import RankingIndex
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    Scope,
    ScoreUpdate,
    Standing,
    VersionedStanding,
)

# Imported for pytest, which finds the parametrised `ranking` fixture by its name.
from .ranking_adapters import ranking_fixture  # noqa: F401

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
# Chunks of uneven sizes, one empty, one bigger than the Redis adapter writes in one call
# (1,000) and one smaller, so its calls cut across the stream's chunks.
SIZES = [1, 0, 1500, 999, 2, 1200]


def uid(n: int) -> UUID:
    return UUID(int=n)


def versioned(n: int, version: int = 1) -> VersionedStanding:
    return VersionedStanding(Standing(uid(n), 10 * n + 3, T0 + timedelta(seconds=n)), version)


def chunks() -> list[list[VersionedStanding]]:
    found: list[list[VersionedStanding]] = []
    first = 1
    for size in SIZES:
        found.append([versioned(n) for n in range(first, first + size)])
        first += size
    return found


async def stream(
    parts: Sequence[Sequence[VersionedStanding]], ranking: RankingIndex, seen: list[bool]
) -> AsyncIterator[Sequence[VersionedStanding]]:
    """`parts` one at a time; before each after the first, whether a read of loaded
    boards finds the board (it must not until the load is over)."""
    for n, part in enumerate(parts):
        if n:
            seen.append(await ranking.read_page(WEEK, 0, 1) is not None)
        yield part


async def test_a_streamed_load_writes_every_chunk_then_marks_the_board_loaded(
    ranking: RankingIndex,
) -> None:
    total = sum(SIZES)
    seen: list[bool] = []
    async with ranking.rebuild_lock(WEEK):
        # Projected while being loaded, before the load's writes: uid(2) at a newer version
        # than the record's (kept), uid(total) at an older one (overwritten).
        await ranking.project(uid(2), 5, [ScoreUpdate(WEEK, 7, T0)])
        await ranking.project(uid(total), 0, [ScoreUpdate(WEEK, 1, T0)])
        await ranking.load(WEEK, stream(chunks(), ranking, seen))

    assert seen == [False] * (len(SIZES) - 1)
    assert await ranking.is_loaded(WEEK)
    expected = {uid(n): 10 * n + 3 for n in range(1, total + 1)}
    assert await ranking.scores(WEEK) == expected | {uid(2): 7}
    page = await ranking.read_page(WEEK, 0, 2)
    assert page is not None
    assert page.total == total
    assert [(e.rank, e.user_id) for e in page.entries] == [(1, uid(total)), (2, uid(total - 1))]


async def test_an_empty_stream_loads_an_empty_board(ranking: RankingIndex) -> None:
    seen: list[bool] = []
    await ranking.load(WEEK, stream([], ranking, seen))
    assert await ranking.is_loaded(WEEK)
    assert await ranking.scores(WEEK) == {}


async def test_a_streamed_load_under_the_rebuild_lock(ranking: RankingIndex) -> None:
    seen: list[bool] = []
    async with ranking.rebuild_lock(WEEK):
        await ranking.drop(WEEK)
        await ranking.load(WEEK, stream(chunks(), ranking, seen))
    assert await ranking.is_loaded(WEEK)
    assert len(await ranking.scores(WEEK)) == sum(SIZES)


async def test_a_bad_standing_stops_a_streamed_load_with_the_board_not_loaded(
    ranking: RankingIndex,
) -> None:
    naive = VersionedStanding(Standing(uid(9999), 5, datetime(2026, 11, 16)), 1)
    parts = [*chunks()[:3], [versioned(5000), naive]]
    seen: list[bool] = []
    with pytest.raises(ValueError, match="timezone-aware"):
        await ranking.load(WEEK, stream(parts, ranking, seen))
    assert not await ranking.is_loaded(WEEK)
    assert await ranking.read_page(WEEK, 0, 1) is None
    # The bad standing's chunk is not written.
    scores = await ranking.scores(WEEK)
    assert uid(5000) not in scores
    assert uid(9999) not in scores
