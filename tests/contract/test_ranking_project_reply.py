"""`RankingIndex.project_many(..., only_moves=True)` on every adapter: exactly the whole
reply cut down by the application's rules (`Projected.moved`, `Projected.passed`), which
the Redis adapter applies on the server to keep its reply small."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from fitboard.application.boards.ports import Projected, RankingIndex
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
DAY = BoardKey(BoardId(Metric.CALORIES, Period.DAY, Scope.global_()), "2026-11-16")
ALL = BoardKey(BoardId(Metric.POINTS, Period.ALL, Scope.global_()), "all")
# Above 2**40, where a composite score keeps few bits of its tie-break: integer scores and
# ranks must still come back exact.
BIG = 2**50 + 3


def uid(n: int) -> UUID:
    return UUID(int=n)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def standing(user: int, score: int, minutes: int = 0) -> VersionedStanding:
    return VersionedStanding(Standing(uid(user), score, at(minutes)), 1)


def cut(projected: list[list[Projected]]) -> list[list[Projected]]:
    """The whole reply cut down by the application's rules."""
    return [[replace(p, behind=p.passed()) for p in ps if p.moved] for ps in projected]


async def test_only_moves_reports_the_moves_and_whom_they_passed(ranking: RankingIndex) -> None:
    await ranking.load(WEEK, [standing(1, 90), standing(2, 80), standing(3, 80), standing(4, 70)])
    await ranking.load(ALL, [standing(5, BIG + 10), standing(6, BIG + 5), standing(7, BIG)])
    moved = await ranking.project_many(
        [
            # User 3 passes user 1 (user 2, tied with them before, is not passed); DAY is
            # not loaded: no standings from it; ALL: from last to first among big scores.
            (
                uid(3),
                2,
                [
                    ScoreUpdate(WEEK, 95, at(1)),
                    ScoreUpdate(DAY, 5, at(1)),
                    ScoreUpdate(ALL, None, None),
                ],
            ),
            (uid(7), 2, [ScoreUpdate(ALL, BIG + 11, at(2))]),
            # Same score again (a redelivery): no move.
            (uid(4), 2, [ScoreUpdate(WEEK, 70, at(0))]),
            # Up, but not past anyone: a move with nobody passed.
            (uid(4), 3, [ScoreUpdate(WEEK, 75, at(4))]),
            # A newcomer, ahead of one athlete already there; a removal (no move).
            (uid(8), 1, [ScoreUpdate(WEEK, 78, at(5))]),
            (uid(1), 2, [ScoreUpdate(WEEK, None, None)]),
        ],
        behind=3,
        only_moves=True,
    )
    assert moved == [
        [
            Projected(
                WEEK,
                RankedEntry(2, uid(3), 80),
                RankedEntry(1, uid(3), 95),
                [RankedEntry(2, uid(1), 90)],
            )
        ],
        [
            Projected(
                ALL,
                RankedEntry(3, uid(7), BIG),
                RankedEntry(1, uid(7), BIG + 11),
                [RankedEntry(2, uid(5), BIG + 10), RankedEntry(3, uid(6), BIG + 5)],
            )
        ],
        [],
        [Projected(WEEK, RankedEntry(4, uid(4), 70), RankedEntry(4, uid(4), 75), [])],
        [
            Projected(
                WEEK,
                None,
                RankedEntry(4, uid(8), 78),
                [RankedEntry(5, uid(4), 75)],
            )
        ],
        [],
    ]
    assert await ranking.scores(WEEK) == {uid(2): 80, uid(3): 95, uid(4): 75, uid(8): 78}
    # Neither loaded nor being loaded: written into no more than read from.
    assert await ranking.scores(DAY) == {}


async def test_only_moves_is_the_whole_reply_cut_down(ranking: RankingIndex) -> None:
    """A long batch over two loaded boards and one that is not, with removals, repeated
    athletes, stale versions, redelivered scores and ties, reports exactly the moves of
    the whole reply, and whom each passed, and leaves the same boards (the whole reply's
    run on a copy of them: other period keys)."""
    rng = random.Random(41)
    boards = [WEEK, DAY, ALL]
    copy = {key: BoardKey(key.board, f"{key.period_key}-copy") for key in boards}
    start = [standing(n, rng.choice([10, 20, 35, 60, 90])) for n in range(1, 9)]
    for key in (WEEK, ALL):
        for into in (key, copy[key]):
            await ranking.load(into, start)
    batch: list[tuple[UUID, int, list[ScoreUpdate]]] = []
    for step in range(1, 160):
        user = uid(rng.randint(1, 14))
        version = step - 9 if step > 9 and rng.random() < 0.2 else step
        updates = []
        for key in rng.sample(boards, rng.randint(0, 3)):
            score = rng.choice([None, 10, 20, 20, 35, 60, 90, 40 + step])
            updates.append(ScoreUpdate(key, score, at(step) if score else None))
        batch.append((user, version, updates))
    on_copy = [
        (user, version, [ScoreUpdate(copy[u.key], u.score, u.reached_at) for u in updates])
        for user, version, updates in batch
    ]

    moves = await ranking.project_many(batch, behind=3, only_moves=True)
    whole = await ranking.project_many(on_copy, behind=3)

    home = {c: k for k, c in copy.items()}
    assert moves == [[replace(p, key=home[p.key]) for p in ps] for ps in cut(whole)]
    # The cut takes something away, and leaves moves with and without someone passed.
    assert sum(map(len, moves)) < sum(map(len, whole))
    assert any(p.behind for ps in moves for p in ps)
    assert any(not p.behind for ps in moves for p in ps)
    assert any(p.behind != p.passed() for ps in whole for p in ps)
    for key in boards:
        assert await ranking.scores(key) == await ranking.scores(copy[key])
