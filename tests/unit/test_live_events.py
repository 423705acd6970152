"""The pure part of live updates: which rank changes a workout announces, whom it passed."""

from __future__ import annotations

from uuid import UUID

from fitboard.application.processing import RankChange, passed_by, rank_changes
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, RankedEntry, Scope

WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
DAY = BoardKey(BoardId(Metric.CALORIES, Period.DAY, Scope.global_()), "2026-11-16")
ME = UUID(int=1)


def entry(rank: int, user: int, score: int) -> RankedEntry:
    return RankedEntry(rank, UUID(int=user), score)


def test_only_boards_where_the_athletes_own_score_changed_are_announced() -> None:
    before = {WEEK: entry(3, 1, 100), DAY: entry(2, 1, 50)}
    after = {WEEK: entry(2, 1, 150), DAY: entry(1, 1, 50)}  # DAY: others moved, not me
    assert rank_changes(before, after) == [RankChange(WEEK, entry(3, 1, 100), entry(2, 1, 150))]


def test_a_redelivered_duplicate_announces_nothing() -> None:
    same = {WEEK: entry(2, 1, 150)}
    assert rank_changes(same, dict(same)) == []


def test_entering_a_board_has_no_previous_rank_and_leaving_one_is_not_a_rank() -> None:
    assert rank_changes({WEEK: None, DAY: entry(1, 1, 5)}, {WEEK: entry(4, 1, 10), DAY: None}) == [
        RankChange(WEEK, None, entry(4, 1, 10))
    ]


def test_passed_are_those_now_behind_who_were_ahead() -> None:
    change = RankChange(WEEK, entry(5, 1, 100), entry(2, 1, 300))
    window = [entry(1, 9, 500), entry(2, 1, 300), entry(3, 7, 250), entry(4, 8, 120)]
    # 7 and 8 had more than my old 100: passed. Someone tied with my new score is not.
    assert passed_by(change, window) == [entry(3, 7, 250), entry(4, 8, 120)]
    tied = [entry(2, 1, 300), entry(2, 6, 300), entry(4, 7, 250)]
    assert passed_by(change, tied) == [entry(4, 7, 250)]
    # Behind me but never ahead of me (they had no more than my old score): not passed.
    assert passed_by(change, [entry(2, 1, 300), entry(3, 5, 100), entry(4, 4, 90)]) == []


def test_a_newcomer_passes_everyone_now_behind_and_a_vanished_athlete_nobody() -> None:
    change = RankChange(WEEK, None, entry(1, 1, 300))
    assert passed_by(change, [entry(1, 1, 300), entry(2, 2, 10)]) == [entry(2, 2, 10)]
    assert passed_by(change, [entry(1, 2, 900), entry(2, 3, 10)]) == []
    assert passed_by(change, []) == []
