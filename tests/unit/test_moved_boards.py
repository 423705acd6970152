"""Which board instances a batch of processed workouts moved (announcing.moved_boards):
what the live layer sends snapshots of."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from fitboard.application.workouts.announcing import moved_boards
from fitboard.application.workouts.processing import Processed, RankChange
from fitboard.domain.activities import Activity
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Metric,
    Period,
    RankedEntry,
    Scope,
    ScoreUpdate,
)
from fitboard.domain.workouts import CaloriesMethod, Workout, WorkoutStatus, WorkoutSubmission

AT = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)


def _key(metric: Metric, period: Period = Period.DAY, key: str = "2026-11-20") -> BoardKey:
    return BoardKey(BoardId(metric, period, Scope.global_()), key)


def _processed(
    updates: list[BoardKey],
    status: WorkoutStatus = WorkoutStatus.PROCESSED,
    changes: Sequence[BoardKey] = (),
) -> Processed:
    athlete = uuid.uuid4()
    submission = WorkoutSubmission(uuid.uuid4(), athlete, Activity.RUN, AT, 1800, AT, 5000.0)
    workout = Workout(
        submission=submission, status=status, board_day=AT.date(), calories=300.0,
        calories_method=CaloriesMethod.MET, met=9.8, body_mass_kg=70.0, points=49,
        processed_at=AT,
    )  # fmt: skip
    entry = RankedEntry(1, athlete, 300)
    return Processed(
        workout,
        duplicate=False,
        version=1,
        updates=[ScoreUpdate(k, 300, AT) for k in updates],
        rank_changes=[RankChange(k, None, entry) for k in changes],
    )


def test_every_board_once_in_the_order_first_moved() -> None:
    calories, distance, points = _key(Metric.CALORIES), _key(Metric.DISTANCE), _key(Metric.POINTS)
    # An equal key made again (another object) is the same board.
    again = _key(Metric.CALORIES)
    assert again is not calories
    batch = [
        _processed([distance, calories]),
        _processed([again, points, distance]),
        _processed([points]),
    ]
    moved = moved_boards(batch)
    assert moved == [distance, calories, points]
    assert moved[1] is calories


def test_a_workout_off_the_boards_moves_only_where_its_rank_changed() -> None:
    """A flagged or rejected workout's updates are its athlete's unchanged totals; only a
    rank it changed (a redelivery of one that since counted, say) is a move."""
    week = _key(Metric.WORKOUTS, Period.WEEK, "2026-W47")
    day = _key(Metric.WORKOUTS)
    batch = [
        _processed([day, week], WorkoutStatus.FLAGGED, changes=[week]),
        _processed([_key(Metric.DURATION)], WorkoutStatus.REJECTED),
    ]
    assert moved_boards(batch) == [week]
    assert moved_boards([]) == []
