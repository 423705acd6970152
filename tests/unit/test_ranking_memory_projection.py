"""The embedded index's shortcuts for the worker's projections give exactly what the
plain way gives: an update's entry as `sort_key` orders it, and `only_moves` replies as
the full replies filtered (`Projected.moved`, `Projected.passed`)."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from fitboard.adapters.ranking_memory import MemoryRanking, _entries_of, _entry
from fitboard.application.boards.ports import AthleteProjection, Projected
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope, ScoreUpdate, Standing
from fitboard.domain.ranking import MAX_SCORE

KEY = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W49")
AT = datetime(2026, 12, 1, tzinfo=UTC)


def test_an_updates_entry_is_its_standings_entry_over_many_values() -> None:
    rng = random.Random(12)
    scores = [0, 1, 2**20, 2**21 + 1, 2**40, MAX_SCORE - 1, MAX_SCORE]
    scores += [rng.randrange(MAX_SCORE + 1) for _ in range(300)]
    moments = [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, tzinfo=UTC),
        AT,
        AT.astimezone(timezone(timedelta(hours=-7, minutes=-30))),
        datetime(2200, 1, 1, tzinfo=UTC),
        datetime(9999, 12, 31, tzinfo=UTC),
    ]
    moments += [AT + timedelta(seconds=rng.uniform(-1e9, 1e9)) for _ in range(50)]
    users = [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1), *(uuid.uuid4() for _ in range(5))]
    for user in users:
        updates = [ScoreUpdate(KEY, s, m) for s in scores for m in rng.sample(moments, 5)]
        made = _entries_of(user, updates)
        assert made == [_entry(Standing(user, u.score or 0, u.reached_at or AT)) for u in updates]


def test_an_update_that_removes_has_no_entry() -> None:
    assert _entries_of(uuid.uuid4(), [ScoreUpdate(KEY, None, None)]) == [None]


@pytest.mark.parametrize(
    ("update", "why"),
    [
        (ScoreUpdate(KEY, -1, AT), "score"),
        (ScoreUpdate(KEY, MAX_SCORE + 1, AT), "score"),
        (ScoreUpdate(KEY, 5, datetime(2026, 12, 1)), "timezone-aware"),  # naive
        (ScoreUpdate(KEY, 5, None), "no reached_at"),
    ],
)
def test_an_update_the_standing_would_refuse_is_refused(update: ScoreUpdate, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        _entries_of(uuid.uuid4(), [update])


def _moves(full: list[Projected]) -> list[Projected]:
    """What `only_moves` promises: the full replies filtered (the port's definition)."""
    return [replace(p, behind=p.passed()) for p in full if p.moved]


@pytest.mark.parametrize("seed", range(8))
async def test_only_moves_is_the_full_reply_filtered(seed: int) -> None:
    """Two indexes given the same writes, one asked for moves only: the same writes, and
    its replies are the other's filtered. Small score ranges so that ties, passing,
    falling back, stale versions, removals and boards not loaded all occur."""
    rng = random.Random(seed)
    keys = [
        BoardKey(BoardId(metric, Period.WEEK, Scope.global_()), "2026-W49")
        for metric in (Metric.CALORIES, Metric.DISTANCE, Metric.WORKOUTS)
    ]
    athletes = [uuid.UUID(int=rng.getrandbits(128)) for _ in range(12)]
    plain, moves = MemoryRanking(), MemoryRanking()
    for ranking in (plain, moves):
        # The last board is never loaded: projected into, it reports no standings.
        for key in keys[:-1]:
            await ranking.load(key, [])
    versions = dict.fromkeys(athletes, 0)
    told = 0
    for _ in range(40):
        batch: list[AthleteProjection] = []
        for user in rng.sample(athletes, rng.randint(1, len(athletes))):
            # Now and then an older version, which must change nothing.
            versions[user] += rng.choice((1, 1, 1, -1))
            updates = [
                ScoreUpdate(key, None, None)
                if rng.random() < 0.1
                else ScoreUpdate(key, rng.randint(0, 9), AT + timedelta(seconds=rng.randint(0, 3)))
                for key in rng.sample(keys, rng.randint(1, len(keys)))
            ]
            batch.append((user, versions[user], updates))
        behind = rng.choice((0, 1, 3))
        full = await plain.project_many(batch, behind=behind)
        only = await moves.project_many(batch, behind=behind, only_moves=True)
        assert only == [_moves(replies) for replies in full]
        told += sum(len(p.behind) for replies in only for p in replies)
    for key in keys:
        assert await moves.scores(key) == await plain.scores(key)
        assert (await moves.page(key, 0, 20)) == (await plain.page(key, 0, 20))
    # The case that matters most was exercised: athletes reported passing others.
    assert told > 0
