"""What one read of a loaded board costs (application/boards/reading.py): one call to the
ranking index (each one atomic step and one round trip, tests/contract) and, once its
names are kept, nothing from the record."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn
from uuid import UUID
from zoneinfo import ZoneInfo

from fitboard.adapters.display_names_cache import CachedDisplayNames
from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.application.boards.reading import Boards
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScoreUpdate

NOW = datetime(2026, 11, 18, 12, tzinfo=UTC)
BOARD = BoardId(Metric.CALORIES, Period.ALL, Scope.global_())
KEY = BoardKey(BOARD, "all")


class Clock:
    def now(self) -> datetime:
        return NOW


class NoStore:
    """A record a warm read must not open."""

    def unit_of_work(self, *, read_only: bool = False) -> NoReturn:
        raise AssertionError("a warm board read opened a transaction")


class Counted:
    """The index, counting the calls made to it by name."""

    def __init__(self, index: MemoryRanking) -> None:
        self.index = index
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        self.calls.append(name)
        return getattr(self.index, name)


class Record:
    def __init__(self) -> None:
        self.asked = 0

    async def names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        self.asked += 1
        return {u: f"athlete {u.int}" for u in user_ids}


async def test_a_warm_read_is_one_call_to_the_index_and_none_to_the_record() -> None:
    index = MemoryRanking()
    await index.load(KEY, [])
    for n in range(1, 21):
        update = ScoreUpdate(KEY, 100 * n, NOW - timedelta(minutes=n))
        await index.project(UUID(int=n), 1, [update])
    ranking, record = Counted(index), Record()
    names = CachedDisplayNames(record)
    boards = Boards(NoStore(), ranking, Clock(), ZoneInfo("UTC"), names)  # type: ignore[arg-type]
    viewer = UUID(int=7)

    await boards.read_board(BOARD, None, viewer=viewer, cursor=None, limit=10)
    await boards.read_my_standing(BOARD, None, viewer=viewer, around=5)
    assert record.asked == 2
    ranking.calls.clear()

    top = await boards.read_board(BOARD, None, viewer=viewer, cursor=None, limit=10)
    assert ranking.calls == ["read_page"]
    mine = await boards.read_my_standing(BOARD, None, viewer=viewer, around=5)
    assert ranking.calls == ["read_page", "read_around"]
    assert record.asked == 2
    assert [(e.rank, e.display_name) for e in top.entries[:2]] == [
        (1, "athlete 20"),
        (2, "athlete 19"),
    ]
    assert (mine.rank, mine.total, len(mine.neighbors)) == (14, 20, 11)
