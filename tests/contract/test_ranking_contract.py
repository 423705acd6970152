"""The `RankingIndex` contract: the same assertions against the memory and Redis adapters."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from fitboard.application.boards.ports import Projected, RankingIndex
from fitboard.domain.activities import Activity
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    RankedEntry,
    Scope,
    ScoreUpdate,
    Standing,
    VersionedStanding,
)

# Imported for pytest, which finds the parametrised `ranking` fixture by its name.
from .ranking_adapters import ranking_fixture  # noqa: F401

T0 = datetime(2026, 11, 16, 7, 30, tzinfo=UTC)
WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
ALL = BoardKey(BoardId(Metric.POINTS, Period.ALL, Scope.global_()), "all")


def uid(n: int) -> UUID:
    """Ids whose order is known, so tests can tell a reached_at tie-break from an id one."""
    return UUID(int=n)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def put(
    ranking: RankingIndex,
    user: UUID,
    score: int | None,
    *,
    version: int = 1,
    reached: datetime = T0,
    key: BoardKey = WEEK,
) -> None:
    await ranking.project(user, version, [ScoreUpdate(key, score, reached if score else None)])


async def loaded(ranking: RankingIndex, *keys: BoardKey) -> None:
    """Load these boards empty: only a loaded board (or one being loaded) takes writes."""
    for key in keys:
        await ranking.load(key, [])


@asynccontextmanager
async def being_loaded(ranking: RankingIndex, *keys: BoardKey) -> AsyncIterator[None]:
    """Hold these boards' rebuild locks (in key order, as every holder of several takes
    them): a board being loaded takes writes versioned, each member's version kept."""
    async with AsyncExitStack() as stack:
        for key in sorted(set(keys)):
            await stack.enter_async_context(ranking.rebuild_lock(key))
        yield


async def board(ranking: RankingIndex, key: BoardKey = WEEK) -> list[tuple[int, int, int]]:
    """The whole board as (rank, user number, score) rows."""
    page = await ranking.page(key, 0, 1000)
    return [(e.rank, e.user_id.int, e.score) for e in page.entries]


# --------------------------------------------------------------------------- projection


async def test_projection_writes_absolute_totals(ranking: RankingIndex) -> None:
    other = BoardKey(BoardId(Metric.CALORIES, Period.DAY, Scope.global_()), "2026-11-16")
    await loaded(ranking, WEEK, other)
    await ranking.project(
        uid(1), 1, [ScoreUpdate(WEEK, 300, at(0)), ScoreUpdate(other, 120, at(0))]
    )
    await ranking.project(
        uid(1), 2, [ScoreUpdate(WEEK, 450, at(5)), ScoreUpdate(other, 270, at(5))]
    )
    assert await ranking.scores(WEEK) == {uid(1): 450}
    assert await ranking.scores(other) == {uid(1): 270}


async def test_an_empty_projection_changes_nothing(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await ranking.project(uid(1), 1, [])
    assert await ranking.scores(WEEK) == {}


async def test_ties_share_a_competition_rank(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await put(ranking, uid(1), 30)
    await put(ranking, uid(2), 20)
    await put(ranking, uid(3), 20, reached=at(1))
    await put(ranking, uid(4), 10)
    assert await board(ranking) == [(1, 1, 30), (2, 2, 20), (2, 3, 20), (4, 4, 10)]
    assert (await ranking.page(WEEK, 0, 10)).total == 4


async def test_among_equal_scores_the_earlier_reached_at_is_listed_first(
    ranking: RankingIndex,
) -> None:
    await loaded(ranking, WEEK)
    # Written in neither id order nor time order, so only reached_at can explain the result.
    await put(ranking, uid(5), 100, reached=at(30))
    await put(ranking, uid(9), 100, reached=at(10))
    await put(ranking, uid(1), 100, reached=at(20))
    await put(ranking, uid(7), 100, reached=at(10) + timedelta(seconds=1))
    assert [row[1] for row in await board(ranking)] == [9, 7, 1, 5]
    assert {row[0] for row in await board(ranking)} == {1}


async def test_exact_ties_are_listed_the_same_way_by_every_adapter(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    for n in (3, 11, 7):
        await put(ranking, uid(n), 50, reached=at(0))
    assert [row[1] for row in await board(ranking)] == [11, 7, 3]


async def test_an_older_version_never_overwrites_a_newer_one(ranking: RankingIndex) -> None:
    # Versions are compared on a board being loaded (a loaded one takes writes in commit
    # order, as they come).
    async with ranking.rebuild_lock(WEEK):
        await put(ranking, uid(1), 500, version=5)
        await put(ranking, uid(1), 300, version=4)
    assert await ranking.scores(WEEK) == {uid(1): 500}


async def test_an_equal_version_is_ignored(ranking: RankingIndex) -> None:
    async with ranking.rebuild_lock(WEEK):
        await put(ranking, uid(1), 500, version=5)
        await put(ranking, uid(1), 999, version=5)
    assert await ranking.scores(WEEK) == {uid(1): 500}


async def test_versions_are_per_board(ranking: RankingIndex) -> None:
    async with being_loaded(ranking, WEEK, ALL):
        await put(ranking, uid(1), 500, version=5, key=WEEK)
        await put(ranking, uid(1), 70, version=3, key=ALL)
    assert await ranking.scores(ALL) == {uid(1): 70}


async def test_a_score_of_none_removes_the_member(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await put(ranking, uid(1), 500, version=1)
    await put(ranking, uid(2), 400, version=1)
    await put(ranking, uid(1), None, version=2)
    assert await ranking.scores(WEEK) == {uid(2): 400}
    assert await board(ranking) == [(1, 2, 400)]


async def test_an_older_write_cannot_bring_a_removed_member_back(ranking: RankingIndex) -> None:
    async with ranking.rebuild_lock(WEEK):
        await put(ranking, uid(1), None, version=3)
        await put(ranking, uid(1), 500, version=2)
    assert await ranking.scores(WEEK) == {}


async def test_a_board_takes_writes_only_while_being_loaded_or_loaded(
    ranking: RankingIndex,
) -> None:
    """A board neither loaded nor being loaded takes no write; one being loaded takes them
    versioned; a loaded one takes them as they come."""
    # Nobody reads it and nobody is loading it: nothing is kept.
    await put(ranking, uid(1), 500, version=5)
    assert await ranking.scores(WEEK) == {}
    assert WEEK not in await ranking.held_keys()
    async with ranking.rebuild_lock(WEEK):
        # Being loaded: each write kept with its version, an older one ignored.
        await put(ranking, uid(1), 600, version=6)
        await put(ranking, uid(1), 550, version=5)
        assert await ranking.scores(WEEK) == {uid(1): 600}
        assert not await ranking.is_loaded(WEEK)
        # The load's read of the record came before version 6: that write survives it.
        await ranking.load(
            WEEK,
            [
                VersionedStanding(Standing(uid(1), 500, at(0)), 5),
                VersionedStanding(Standing(uid(2), 400, at(0)), 3),
            ],
        )
    assert await ranking.is_loaded(WEEK)
    assert await ranking.scores(WEEK) == {uid(1): 600, uid(2): 400}
    # Loaded: writers come in commit order (each holds the athlete's board-write lock), so
    # the board keeps no versions and takes each write as it comes, a lower version too.
    await put(ranking, uid(1), 450, version=7)
    await put(ranking, uid(1), 420, version=4)
    await put(ranking, uid(2), None, version=1)
    assert await ranking.scores(WEEK) == {uid(1): 420}


async def test_a_score_needs_reached_at(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK, ALL)
    with pytest.raises(ValueError, match="reached_at"):
        await ranking.project(uid(1), 1, [ScoreUpdate(ALL, 5, None), ScoreUpdate(WEEK, 5, at(0))])
    # A bad update fails the whole call before anything is written.
    assert await ranking.scores(WEEK) == {}


async def test_large_scores_are_kept_exactly(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await put(ranking, uid(1), 2**40 - 1)
    await put(ranking, uid(2), 2**40 - 2, reached=at(-100_000))
    await put(ranking, uid(3), 2**21 - 1)
    assert await board(ranking) == [(1, 1, 2**40 - 1), (2, 2, 2**40 - 2), (3, 3, 2**21 - 1)]


# --------------------------------------------------------------------------- reading


async def fill(ranking: RankingIndex, scores: list[int]) -> None:
    """Users 1..n with these scores, the earlier user reaching a tied score first."""
    for n, score in enumerate(scores, start=1):
        await put(ranking, uid(n), score, reached=at(n))


async def test_pages_keep_ranks_across_a_tie_on_a_page_boundary(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await fill(ranking, [90, 80, 80, 80, 80, 70, 60])

    async def ranks(offset: int, limit: int) -> list[tuple[int, int]]:
        page = await ranking.page(WEEK, offset, limit)
        assert page.total == 7
        return [(e.rank, e.user_id.int) for e in page.entries]

    assert await ranks(0, 2) == [(1, 1), (2, 2)]
    assert await ranks(2, 2) == [(2, 3), (2, 4)]
    assert await ranks(4, 2) == [(2, 5), (6, 6)]
    assert await ranks(6, 2) == [(7, 7)]
    assert await ranks(7, 2) == []
    assert await ranks(3, 0) == []
    # No rows at the start too (ZREVRANGE 0 -1 would be every row), and still the total.
    assert await ranks(0, 0) == []


async def test_a_missing_board_reads_empty(ranking: RankingIndex) -> None:
    assert await ranking.page(WEEK, 0, 10) == (await ranking.page(ALL, 5, 10))
    assert (await ranking.page(WEEK, 0, 10)).total == 0
    assert await ranking.standing(WEEK, uid(1)) is None
    assert await ranking.around(WEEK, uid(1), 3) == []
    assert await ranking.scores(WEEK) == {}


async def test_negative_windows_are_refused(ranking: RankingIndex) -> None:
    with pytest.raises(ValueError, match="negative"):
        await ranking.page(WEEK, -1, 10)
    with pytest.raises(ValueError, match="negative"):
        await ranking.page(WEEK, 0, -1)
    with pytest.raises(ValueError, match="negative"):
        await ranking.around(WEEK, uid(1), -1)


async def test_standing_of_a_member_and_of_a_non_member(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await fill(ranking, [90, 80, 80, 70])
    assert await ranking.standing(WEEK, uid(3)) == RankedEntry(2, uid(3), 80)
    assert await ranking.standing(WEEK, uid(4)) == RankedEntry(4, uid(4), 70)
    assert await ranking.standing(WEEK, uid(1)) == RankedEntry(1, uid(1), 90)
    assert await ranking.standing(WEEK, uid(99)) is None


async def test_projection_reports_standings_before_and_after_on_every_board(
    ranking: RankingIndex,
) -> None:
    day = BoardKey(BoardId(Metric.CALORIES, Period.DAY, Scope.global_()), "2026-11-16")
    await loaded(ranking, WEEK, ALL, day)
    await fill(ranking, [90, 80, 80, 70])
    await put(ranking, uid(3), 40, key=ALL)
    await put(ranking, uid(5), 60, key=ALL)
    moved = await ranking.project(
        uid(3),
        2,
        [ScoreUpdate(WEEK, 95, at(1)), ScoreUpdate(ALL, 70, at(1)), ScoreUpdate(day, 5, at(1))],
        behind=2,
    )
    assert moved == [
        Projected(
            WEEK,
            RankedEntry(2, uid(3), 80),
            RankedEntry(1, uid(3), 95),
            [RankedEntry(2, uid(1), 90), RankedEntry(3, uid(2), 80)],
        ),
        Projected(
            ALL,
            RankedEntry(2, uid(3), 40),
            RankedEntry(1, uid(3), 70),
            [RankedEntry(2, uid(5), 60)],
        ),
        Projected(day, None, RankedEntry(1, uid(3), 5), []),
    ]
    assert await ranking.project(uid(3), 3, []) == []


async def test_projection_reports_who_is_behind_with_their_competition_ranks(
    ranking: RankingIndex,
) -> None:
    # 100, 90, 90, 70, 60: user 6 lands on 95 and sees the tie of two 90s, then 70.
    await loaded(ranking, WEEK)
    await fill(ranking, [100, 90, 90, 70, 60])
    [moved] = await ranking.project(uid(6), 1, [ScoreUpdate(WEEK, 95, at(9))], behind=3)
    assert moved.before is None
    assert moved.after == RankedEntry(2, uid(6), 95)
    assert moved.behind == [
        RankedEntry(3, uid(2), 90),
        RankedEntry(3, uid(3), 90),
        RankedEntry(5, uid(4), 70),
    ]
    # Last on the board: nobody behind. Removed: no standing after.
    [last] = await ranking.project(uid(7), 1, [ScoreUpdate(WEEK, 1, at(9))], behind=3)
    assert last.after == RankedEntry(7, uid(7), 1)
    assert last.behind == []
    [gone] = await ranking.project(uid(7), 2, [ScoreUpdate(WEEK, None, None)], behind=3)
    assert gone == Projected(WEEK, RankedEntry(7, uid(7), 1), None, [])


async def test_projection_standings_agree_with_standing_after_every_write(
    ranking: RankingIndex,
) -> None:
    await ranking.load(WEEK, [])
    rng = random.Random(7)
    for step in range(1, 60):
        user = uid(rng.randint(1, 6))
        # A loaded board's writes come in version order (`project`), each one written.
        score = rng.choice([None, 10, 20, 20, 35])
        before = await ranking.standing(WEEK, user)
        [moved] = await ranking.project(
            user, step, [ScoreUpdate(WEEK, score, at(step) if score else None)], behind=2
        )
        after = await ranking.standing(WEEK, user)
        assert (moved.before, moved.after) == (before, after)
        assert (after.score if after else None) == score
        if after is not None:
            window = await ranking.around(WEEK, user, 2)
            ids = [e.user_id for e in window]
            assert moved.behind == window[ids.index(user) + 1 :]


async def test_projection_into_a_board_that_is_not_loaded_reports_nothing(
    ranking: RankingIndex,
) -> None:
    # Never loaded (or lost since, to a restart or a flush), and not being loaded: the
    # board takes no write, so it reports none.
    assert await ranking.project(uid(1), 1, [ScoreUpdate(WEEK, 500, T0)], behind=3) == [
        Projected(WEEK, None, None, [])
    ]
    assert await ranking.scores(WEEK) == {}
    assert WEEK not in await ranking.held_keys()
    async with ranking.rebuild_lock(WEEK):
        # Being loaded: the write is taken, but only part of the board is there, so a rank
        # read from it would be too good.
        assert await ranking.project(uid(1), 2, [ScoreUpdate(WEEK, 500, T0)], behind=3) == [
            Projected(WEEK, None, None, [])
        ]
        assert await ranking.standing(WEEK, uid(1)) == RankedEntry(1, uid(1), 500)
        await ranking.load(WEEK, [VersionedStanding(Standing(uid(2), 900, at(0)), 1)])
    assert await ranking.project(uid(1), 3, [ScoreUpdate(WEEK, 600, T0)], behind=3) == [
        Projected(WEEK, RankedEntry(2, uid(1), 500), RankedEntry(2, uid(1), 600), [])
    ]
    await ranking.drop(WEEK)
    assert await ranking.project(uid(1), 4, [ScoreUpdate(WEEK, 700, T0)]) == [
        Projected(WEEK, None, None, [])
    ]
    assert await ranking.scores(WEEK) == {}
    assert WEEK not in await ranking.held_keys()


async def test_projecting_many_athletes_is_projecting_each_in_turn(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await fill(ranking, [90, 80, 70])
    # ALL is being loaded: it takes the write but reports no standings.
    async with ranking.rebuild_lock(ALL):
        moved = await ranking.project_many(
            [
                # User 3 passes user 1; user 4 arrives; user 2's score again (a redelivery);
                # user 3 again, after user 4: each write sees the ones before it.
                (uid(3), 2, [ScoreUpdate(WEEK, 95, at(1)), ScoreUpdate(ALL, 10, at(1))]),
                (uid(4), 1, [ScoreUpdate(WEEK, 85, at(2))]),
                (uid(2), 2, [ScoreUpdate(WEEK, 80, at(0))]),
                (uid(5), 1, []),
                (uid(3), 3, [ScoreUpdate(WEEK, 96, at(4))]),
            ],
            behind=1,
        )
    assert moved == [
        [
            Projected(
                WEEK,
                RankedEntry(3, uid(3), 70),
                RankedEntry(1, uid(3), 95),
                [RankedEntry(2, uid(1), 90)],
            ),
            Projected(ALL, None, None, []),
        ],
        [Projected(WEEK, None, RankedEntry(3, uid(4), 85), [RankedEntry(4, uid(2), 80)])],
        [Projected(WEEK, RankedEntry(4, uid(2), 80), RankedEntry(4, uid(2), 80), [])],
        [],
        [
            Projected(
                WEEK,
                RankedEntry(1, uid(3), 95),
                RankedEntry(1, uid(3), 96),
                [RankedEntry(2, uid(1), 90)],
            )
        ],
    ]
    assert await board(ranking) == [(1, 3, 96), (2, 1, 90), (3, 4, 85), (4, 2, 80)]
    assert await ranking.scores(ALL) == {uid(3): 10}
    assert await ranking.project_many([]) == []


async def test_projecting_many_in_one_call_is_projecting_each_alone(
    ranking: RankingIndex,
) -> None:
    """A long batch over two loaded boards and one that is not, with removals, repeated
    athletes and stale versions, reports and leaves exactly what the same projections one
    call at a time report and leave on a copy of those boards (other period keys)."""
    rng = random.Random(12)
    day = BoardKey(BoardId(Metric.CALORIES, Period.DAY, Scope.global_()), "2026-11-16")
    boards = [WEEK, day, ALL]
    copy = {key: BoardKey(key.board, f"{key.period_key}-copy") for key in boards}
    for key in (WEEK, day):
        await ranking.load(key, [])
        await ranking.load(copy[key], [])
    batch: list[tuple[UUID, int, list[ScoreUpdate]]] = []
    for step in range(1, 120):
        user = uid(rng.randint(1, 12))
        version = step - 7 if step > 7 and rng.random() < 0.2 else step
        updates = []
        for key in rng.sample(boards, rng.randint(0, 3)):
            score = rng.choice([None, 10, 20, 20, 35, 50 + step])
            updates.append(ScoreUpdate(key, score, at(step) if score else None))
        batch.append((user, version, updates))

    together = await ranking.project_many(batch, behind=2)
    alone = [
        await ranking.project(
            user,
            version,
            [ScoreUpdate(copy[u.key], u.score, u.reached_at) for u in updates],
            behind=2,
        )
        for user, version, updates in batch
    ]

    assert [[(p.before, p.after, p.behind) for p in ps] for ps in together] == [
        [(p.before, p.after, p.behind) for p in ps] for ps in alone
    ]
    assert [[p.key for p in ps] for ps in together] == [[u.key for u in us] for _, _, us in batch]
    assert any(p.after is not None and p.behind for ps in together for p in ps)
    for key in boards:
        assert await ranking.scores(key) == await ranking.scores(copy[key])


async def test_projecting_many_to_one_board_sees_every_earlier_write_however_many(
    ranking: RankingIndex,
) -> None:
    """More writes to one board than one Redis call takes (`_PROJECT_MEMBERS`): each
    newcomer, the best so far, finds the one before it directly behind, across calls."""
    await ranking.load(WEEK, [])
    count = 2_500
    moved = await ranking.project_many(
        [(uid(n), 1, [ScoreUpdate(WEEK, n, at(0))]) for n in range(1, count + 1)], behind=1
    )
    assert moved[0] == [Projected(WEEK, None, RankedEntry(1, uid(1), 1), [])]
    assert all(
        found
        == [Projected(WEEK, None, RankedEntry(1, uid(n), n), [RankedEntry(2, uid(n - 1), n - 1)])]
        for n, found in enumerate(moved[1:], start=2)
    )
    assert len(await ranking.scores(WEEK)) == count


async def test_projecting_many_checks_every_update_before_writing_any(
    ranking: RankingIndex,
) -> None:
    await loaded(ranking, WEEK)
    with pytest.raises(ValueError, match="reached_at"):
        await ranking.project_many(
            [(uid(1), 1, [ScoreUpdate(WEEK, 5, T0)]), (uid(2), 1, [ScoreUpdate(WEEK, 5, None)])]
        )
    assert await ranking.scores(WEEK) == {}
    with pytest.raises(ValueError, match="must not be negative"):
        await ranking.project_many([(uid(1), 1, [ScoreUpdate(WEEK, 5, T0)])], behind=-1)


async def test_projection_refuses_a_negative_window(ranking: RankingIndex) -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        await ranking.project(uid(1), 1, [ScoreUpdate(WEEK, 5, T0)], behind=-1)


async def test_around_the_top_the_middle_and_the_bottom(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await fill(ranking, [100, 90, 90, 70, 60, 50, 40])

    async def window(user: int, radius: int) -> list[tuple[int, int]]:
        return [(e.rank, e.user_id.int) for e in await ranking.around(WEEK, uid(user), radius)]

    assert await window(1, 2) == [(1, 1), (2, 2), (2, 3)]
    assert await window(4, 2) == [(2, 2), (2, 3), (4, 4), (5, 5), (6, 6)]
    assert await window(3, 1) == [(2, 2), (2, 3), (4, 4)]
    assert await window(7, 2) == [(5, 5), (6, 6), (7, 7)]
    assert await window(4, 0) == [(4, 4)]
    assert await window(42, 2) == []


# --------------------------------------------------------------------------- loading


async def test_load_marks_loaded_and_respects_versions_already_projected(
    ranking: RankingIndex,
) -> None:
    # Projected while the board is being loaded: newer than the load's read of the record.
    async with ranking.rebuild_lock(WEEK):
        await put(ranking, uid(1), 500, version=7)
        assert not await ranking.is_loaded(WEEK)
        await ranking.load(
            WEEK,
            [
                VersionedStanding(Standing(uid(1), 300, at(0)), 6),  # older: must not win
                VersionedStanding(Standing(uid(2), 400, at(0)), 3),
                VersionedStanding(Standing(uid(3), 100, at(0)), 1),
            ],
        )
    assert await ranking.is_loaded(WEEK)
    assert await ranking.scores(WEEK) == {uid(1): 500, uid(2): 400, uid(3): 100}
    # A board loaded already is left as it is by another load, however new its versions:
    # its writes since it was loaded may be newer than that load's read of the record,
    # and it keeps no versions to tell (a rebuild drops it first).
    await ranking.load(WEEK, [VersionedStanding(Standing(uid(2), 450, at(9)), 9)])
    assert await ranking.scores(WEEK) == {uid(1): 500, uid(2): 400, uid(3): 100}
    assert await ranking.is_loaded(WEEK)
    await ranking.drop(WEEK)
    await ranking.load(WEEK, [VersionedStanding(Standing(uid(2), 450, at(9)), 9)])
    assert await ranking.scores(WEEK) == {uid(2): 450}
    assert await ranking.is_loaded(WEEK)


async def test_an_athlete_twice_in_one_load_keeps_the_newest_version(
    ranking: RankingIndex,
) -> None:
    # The Redis load reads every stored version of a call at once: a member met twice in
    # one call must still be judged against the version written just before, as one
    # write after another would be.
    async with ranking.rebuild_lock(WEEK):
        await put(ranking, uid(3), 700, version=5)
        await ranking.load(
            WEEK,
            [
                VersionedStanding(Standing(uid(1), 100, at(0)), 2),
                VersionedStanding(Standing(uid(1), 900, at(0)), 1),  # older than the one before
                VersionedStanding(Standing(uid(2), 200, at(0)), 1),
                VersionedStanding(Standing(uid(2), 250, at(0)), 3),  # newer: wins
                VersionedStanding(Standing(uid(3), 50, at(0)), 4),  # older than projected
                VersionedStanding(Standing(uid(3), 60, at(0)), 6),  # newer than projected: wins
            ],
        )
    assert await ranking.scores(WEEK) == {uid(1): 100, uid(2): 250, uid(3): 60}


async def test_an_empty_board_can_be_loaded(ranking: RankingIndex) -> None:
    await ranking.load(ALL, [])
    assert await ranking.is_loaded(ALL)
    assert await ranking.page(ALL, 0, 10) == (await ranking.page(WEEK, 0, 10))


async def test_a_large_board_loads_in_full(ranking: RankingIndex) -> None:
    standings = [VersionedStanding(Standing(uid(n), n % 97, at(n)), 1) for n in range(1, 2501)]
    await ranking.load(ALL, standings)
    assert len(await ranking.scores(ALL)) == 2500
    assert (await ranking.page(ALL, 0, 1)).total == 2500


async def test_drop_forgets_the_board(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await fill(ranking, [3, 2, 1])
    assert len(await ranking.scores(WEEK)) == 3
    await ranking.drop(WEEK)
    assert not await ranking.is_loaded(WEEK)
    assert await ranking.scores(WEEK) == {}
    assert (await ranking.page(WEEK, 0, 10)).total == 0
    await ranking.drop(WEEK)  # dropping a missing board is fine


async def test_scores_lists_every_member(ranking: RankingIndex) -> None:
    await loaded(ranking, WEEK)
    await fill(ranking, [5, 5, 3])
    await put(ranking, uid(2), None, version=2)
    assert await ranking.scores(WEEK) == {uid(1): 5, uid(3): 3}


async def test_loaded_keys_round_trip_every_scope(ranking: RankingIndex) -> None:
    group = uuid4()
    keys = [
        WEEK,
        ALL,
        BoardKey(
            BoardId(Metric.DISTANCE, Period.MONTH, Scope.for_activity(Activity.RUN)), "2026-11"
        ),
        BoardKey(BoardId(Metric.ACTIVE_DAYS, Period.DAY, Scope.for_group(group)), "2026-11-16"),
        BoardKey(BoardId(Metric.DURATION, Period.YEAR, Scope.for_group(group)), "2026"),
    ]
    for key in keys:
        await ranking.load(key, [VersionedStanding(Standing(uid(1), 10, at(0)), 1)])
    # Projected while being loaded, never marked loaded: not a board the index vouches for.
    projected_only = BoardKey(BoardId(Metric.WORKOUTS, Period.WEEK, Scope.global_()), "2026-W47")
    async with ranking.rebuild_lock(projected_only):
        await put(ranking, uid(1), 4, key=projected_only)
    assert projected_only in await ranking.held_keys()
    assert await ranking.loaded_keys() == sorted(keys)
    await ranking.drop(ALL)
    assert await ranking.loaded_keys() == sorted(k for k in keys if k != ALL)


# --------------------------------------------------------------------------- concurrency


async def test_concurrent_out_of_order_writers_end_with_the_newest(ranking: RankingIndex) -> None:
    # Out of order only while the board is being loaded: a loaded board's writers come in
    # commit order, under each athlete's board-write lock.
    versions = list(range(1, 51))
    random.Random(47).shuffle(versions)
    async with ranking.rebuild_lock(WEEK):
        await asyncio.gather(
            *(put(ranking, uid(1), 1000 + v, version=v, reached=at(v)) for v in versions)
        )
        assert await ranking.scores(WEEK) == {uid(1): 1050}
        assert await ranking.standing(WEEK, uid(1)) == RankedEntry(1, uid(1), 1050)


async def test_the_rebuild_lock_lets_one_holder_in_at_a_time(ranking: RankingIndex) -> None:
    inside = 0
    most = 0

    async def rebuild() -> None:
        nonlocal inside, most
        async with ranking.rebuild_lock(WEEK):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(rebuild() for _ in range(4)))
    assert most == 1
