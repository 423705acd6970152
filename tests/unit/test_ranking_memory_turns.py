"""The embedded ranking index shares the event loop with the API: a batch's projection
gives the loop a turn between athletes, and is still what projecting one by one gives."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from fitboard.adapters.ranking_memory import ATHLETES_PER_TURN, MemoryRanking
from fitboard.application.boards.ports import AthleteProjection
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScoreUpdate

KEYS = [
    BoardKey(BoardId(Metric.WORKOUTS, Period.ALL, Scope.global_()), "all"),
    BoardKey(BoardId(Metric.WORKOUTS, Period.WEEK, Scope.global_()), "2026-W49"),
]
AT = datetime(2026, 12, 1, tzinfo=UTC)


def _projections(athletes: int) -> list[AthleteProjection]:
    return [
        (
            uuid.uuid4(),
            1,
            [ScoreUpdate(key, n % 7, AT + timedelta(seconds=n)) for key in KEYS],
        )
        for n in range(athletes)
    ]


async def _loaded() -> MemoryRanking:
    ranking = MemoryRanking()
    for key in KEYS:
        await ranking.load(key, [])
    return ranking


async def test_a_batch_gives_the_event_loop_turns() -> None:
    ranking = await _loaded()
    turns = 0
    projecting = True

    async def other_work() -> None:
        nonlocal turns
        while projecting:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_work())
    await asyncio.sleep(0)  # the other task is running
    started = turns
    await ranking.project_many(_projections(4 * ATHLETES_PER_TURN))
    projecting = False
    await other
    assert turns - started >= 3


async def test_a_batch_projects_what_one_by_one_projects() -> None:
    projections = _projections(3 * ATHLETES_PER_TURN + 5)
    batched, single = await _loaded(), await _loaded()
    together = await batched.project_many(projections, behind=2)
    alone = [
        await single.project(user_id, version, updates, behind=2)
        for user_id, version, updates in projections
    ]
    assert together == alone
    for key in KEYS:
        assert await batched.page(key, 0, 1000) == await single.page(key, 0, 1000)
        assert await batched.scores(key) == await single.scores(key)


async def test_a_bad_update_fails_the_batch_before_anything_is_written() -> None:
    ranking = await _loaded()
    projections = _projections(2 * ATHLETES_PER_TURN)
    user_id, version, _ = projections[-1]
    projections[-1] = (user_id, version, [ScoreUpdate(KEYS[0], 5, None)])
    with pytest.raises(ValueError, match="no reached_at"):
        await ranking.project_many(projections)
    assert (await ranking.page(KEYS[0], 0, 10)).total == 0
