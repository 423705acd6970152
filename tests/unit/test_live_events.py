"""The pure part of live updates: which rank changes a workout announces, whom it passed."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from fitboard.application.achievements.judging import Revoked
from fitboard.application.boards.ports import Projected
from fitboard.application.workouts.handlers import revoked_events
from fitboard.application.workouts.processing import (
    Overtaken,
    RankChange,
    overtaken_by,
    passed_by,
    rank_changes,
)
from fitboard.domain.achievements import Measure, PersonalRecord
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, RankedEntry, Scope

WEEK = BoardKey(BoardId(Metric.CALORIES, Period.WEEK, Scope.global_()), "2026-W47")
DAY = BoardKey(BoardId(Metric.CALORIES, Period.DAY, Scope.global_()), "2026-11-16")
ME = UUID(int=1)


def entry(rank: int, user: int, score: int) -> RankedEntry:
    return RankedEntry(rank, UUID(int=user), score)


def moved(key: BoardKey, before: RankedEntry | None, after: RankedEntry | None) -> Projected:
    return Projected(key, before, after)


def test_only_boards_where_the_athletes_own_score_changed_are_announced() -> None:
    projected = [
        moved(WEEK, entry(3, 1, 100), entry(2, 1, 150)),
        moved(DAY, entry(2, 1, 50), entry(1, 1, 50)),  # others moved, not me
    ]
    assert rank_changes(projected) == [RankChange(WEEK, entry(3, 1, 100), entry(2, 1, 150))]


def test_a_redelivered_duplicate_announces_nothing() -> None:
    assert rank_changes([moved(WEEK, entry(2, 1, 150), entry(2, 1, 150))]) == []


def test_entering_a_board_has_no_previous_rank_and_leaving_one_is_not_a_rank() -> None:
    projected = [moved(WEEK, None, entry(4, 1, 10)), moved(DAY, entry(1, 1, 5), None)]
    assert rank_changes(projected) == [RankChange(WEEK, None, entry(4, 1, 10))]


def test_a_board_that_is_not_loaded_announces_nothing() -> None:
    assert rank_changes([moved(WEEK, None, None)]) == []
    assert overtaken_by([Projected(WEEK, None, None, [])]) == []


def test_passed_are_those_now_behind_who_were_ahead() -> None:
    change = RankChange(WEEK, entry(5, 1, 100), entry(2, 1, 300))
    behind = [entry(3, 7, 250), entry(4, 8, 120)]
    # 7 and 8 had more than my old 100: passed.
    assert passed_by(change, behind) == behind
    # Someone tied with my new score shares my rank: not passed.
    assert passed_by(change, [entry(2, 6, 300), entry(4, 7, 250)]) == [entry(4, 7, 250)]
    # Behind me but never ahead of me (they had no more than my old score): not passed.
    assert passed_by(change, [entry(3, 5, 100), entry(4, 4, 90)]) == []


def test_a_newcomer_passes_everyone_now_behind() -> None:
    change = RankChange(WEEK, None, entry(1, 1, 300))
    assert passed_by(change, [entry(2, 2, 10)]) == [entry(2, 2, 10)]
    assert passed_by(change, []) == []


def test_nobody_is_passed_on_a_board_where_the_athlete_did_not_climb() -> None:
    # More points but the same rank (the gap ahead was too big): whoever is behind was
    # behind before too.
    change = RankChange(WEEK, entry(2, 1, 100), entry(2, 1, 150))
    assert passed_by(change, [entry(3, 2, 120)]) == []


def test_overtaken_names_the_passed_on_each_board_the_athlete_climbed() -> None:
    projected = [
        Projected(WEEK, entry(3, 1, 100), entry(1, 1, 300), [entry(2, 7, 250), entry(3, 8, 50)]),
        Projected(DAY, entry(1, 1, 50), entry(1, 1, 80), [entry(2, 9, 40)]),
    ]
    assert overtaken_by(projected) == [Overtaken(WEEK, entry(2, 7, 250))]


def test_a_record_taken_back_is_told_to_its_athlete() -> None:
    rule = PersonalRecord("record-longest-run", "Longest run", "d", None, Measure.DISTANCE)
    athlete, workout = UUID(int=1), UUID(int=2)
    moment = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    [event] = revoked_events([Revoked(rule, str(workout), athlete, moment, workout)])
    assert (event.user_id, event.name) == (athlete, "achievement:revoked")
    assert event.payload == {
        "id": "record-longest-run",
        "name": "Longest run",
        "revoked_at": "2026-11-25T08:00:00+00:00",
        "workout_id": str(workout),
    }
