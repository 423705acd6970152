"""`RankingIndex.read_page` and `read_around`, on every adapter: what `page` and `around`
answer, but only from a loaded board (None from one that is not, even one being loaded
that a projection has written into), read with the check in one step."""

from __future__ import annotations

from fitboard.application.boards.ports import BoardPage, Neighbourhood, RankingIndex

# Imported for pytest, which finds the parametrised `ranking` fixture by its name.
from .ranking_adapters import ranking_fixture  # noqa: F401
from .test_ranking_contract import WEEK, fill, uid


async def test_an_unloaded_board_is_read_as_none_even_with_members(
    ranking: RankingIndex,
) -> None:
    assert await ranking.read_page(WEEK, 0, 10) is None
    assert await ranking.read_around(WEEK, uid(1), 2) is None
    async with ranking.rebuild_lock(WEEK):
        await fill(ranking, [90, 80])  # projected while being loaded: a partial board
        assert await ranking.scores(WEEK) == {uid(1): 90, uid(2): 80}
        assert await ranking.read_page(WEEK, 0, 10) is None
        assert await ranking.read_around(WEEK, uid(1), 2) is None


async def test_a_loaded_board_reads_as_page_and_around_do(ranking: RankingIndex) -> None:
    await ranking.load(WEEK, [])
    await fill(ranking, [90, 80, 80, 80, 70, 60, 50])
    for offset, limit in [(0, 3), (2, 2), (6, 5), (7, 1), (0, 0), (3, 0)]:
        assert await ranking.read_page(WEEK, offset, limit) == await ranking.page(
            WEEK, offset, limit
        )
    for member, radius in [(1, 0), (1, 2), (4, 1), (7, 3), (3, 25)]:
        near = await ranking.read_around(WEEK, uid(member), radius)
        assert near == Neighbourhood(await ranking.around(WEEK, uid(member), radius), 7)
        assert near.entry_of(uid(member)) == await ranking.standing(WEEK, uid(member))
    assert await ranking.read_around(WEEK, uid(99), 2) == Neighbourhood([], 7)


async def test_a_loaded_empty_board_reads_empty(ranking: RankingIndex) -> None:
    await ranking.load(WEEK, [])
    assert await ranking.read_page(WEEK, 0, 10) == BoardPage([], 0)
    assert await ranking.read_around(WEEK, uid(1), 2) == Neighbourhood([], 0)
