"""`RankingIndex.load` of a board bigger than one call of the Redis adapter (1,000
members), while writers project into it: the whole board loaded, versions compared with
what was projected while it was being loaded. On memory, Redis and a Redis Cluster (the
parametrised `ranking` fixture)."""

from __future__ import annotations

from datetime import timedelta

from fitboard.application.boards.ports import RankingIndex
from fitboard.domain.boards import ScoreUpdate, Standing, VersionedStanding

# Imported for pytest, which finds the parametrised `ranking` fixture by its name.
from .ranking_adapters import ranking_fixture  # noqa: F401
from .test_ranking_contract import ALL, T0, WEEK, being_loaded, uid

BIG = 2500


def many(count: int, version: int = 1) -> list[VersionedStanding]:
    return [
        VersionedStanding(Standing(uid(n), 10 * n + 3, T0 + timedelta(seconds=n)), version)
        for n in range(1, count + 1)
    ]


async def test_a_board_bigger_than_one_call_loads_whole(ranking: RankingIndex) -> None:
    expected = {uid(n): 10 * n + 3 for n in range(1, BIG + 1)}
    async with being_loaded(ranking, WEEK, ALL):
        # Newer totals projected while the boards are being loaded, one in the last part of
        # the board and one in the first; and an older one, which the load overwrites.
        await ranking.project(uid(BIG), 9, [ScoreUpdate(WEEK, 1, T0), ScoreUpdate(ALL, 2, T0)])
        await ranking.project(uid(1), 9, [ScoreUpdate(ALL, 5, T0)])
        await ranking.project(uid(2), 0, [ScoreUpdate(ALL, 7, T0)])
        await ranking.load(WEEK, many(BIG))
        await ranking.load(ALL, many(BIG))

    assert await ranking.is_loaded(WEEK)
    assert await ranking.is_loaded(ALL)
    assert await ranking.scores(WEEK) == expected | {uid(BIG): 1}
    assert await ranking.scores(ALL) == expected | {uid(BIG): 2, uid(1): 5}
    page = await ranking.read_page(ALL, 0, 2)
    assert page is not None
    assert page.total == BIG
    assert [(e.rank, e.user_id) for e in page.entries] == [(1, uid(BIG - 1)), (2, uid(BIG - 2))]
