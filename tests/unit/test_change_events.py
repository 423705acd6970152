"""What a change to a stored workout tells its athlete live, and in what order."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

from fitboard.application.achievements.judging import Awarded, Judged, Revoked
from fitboard.application.workouts.change_handlers import events_of_change
from fitboard.application.workouts.changes import Changed, net_of
from fitboard.application.workouts.processing import RankChange
from fitboard.domain.achievements import Award, Measure, PersonalRecord
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, RankedEntry, Scope
from fitboard.domain.changes import ChangeKind, WorkoutChange
from fitboard.domain.workouts import CaloriesMethod, Workout, WorkoutStatus, WorkoutSubmission

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
ATHLETE = uuid.UUID(int=1)
WEEK = BoardKey(BoardId(Metric.DISTANCE, Period.WEEK, Scope.global_()), "2026-W49")
RECORD = PersonalRecord("record-longest-run", "Longest run", "d", None, Measure.DISTANCE)


def workout(status: WorkoutStatus) -> Workout:
    submission = WorkoutSubmission(
        id=uuid.UUID(int=7),
        user_id=ATHLETE,
        activity=Activity.RUN,
        started_at=NOW,
        duration_s=600,
        submitted_at=NOW,
        distance_m=5000,
    )
    return Workout(
        submission, status, date(2026, 12, 2), 400.0, CaloriesMethod.MET, 10.0, 60.0, 10, NOW
    )


def change(kind: ChangeKind) -> WorkoutChange:
    return WorkoutChange(uuid.uuid4(), kind, uuid.UUID(int=7), ATHLETE, uuid.UUID(int=2), NOW)


def awarded(workout_id: uuid.UUID) -> Awarded:
    return Awarded(RECORD, Award(RECORD.id, str(workout_id), 5000.0), ATHLETE, NOW, workout_id)


def revoked(workout_id: uuid.UUID) -> Revoked:
    return Revoked(RECORD, str(workout_id), ATHLETE, NOW, workout_id)


def test_an_approval_tells_the_result_then_the_ranks_then_the_awards() -> None:
    changed = Changed(
        change(ChangeKind.APPROVE),
        workout(WorkoutStatus.FLAGGED),
        workout(WorkoutStatus.PROCESSED),
        version=3,
        updates=[],
        rank_changes=[RankChange(WEEK, None, RankedEntry(1, ATHLETE, 5000))],
        awarded=[awarded(uuid.UUID(int=7))],
        revoked=[revoked(uuid.UUID(int=8))],
    )
    events = events_of_change(changed)
    assert [e.name for e in events] == [
        "workout:processed",
        "rank:update",
        "achievement:awarded",
        "achievement:revoked",
    ]
    assert events[0].payload["status"] == "processed"
    assert all(e.user_id == ATHLETE for e in events)


def test_a_deleted_workout_has_no_result_to_tell() -> None:
    changed = Changed(change(ChangeKind.DELETE), workout(WorkoutStatus.PROCESSED), None, 4, [])
    assert events_of_change(changed) == []


def test_an_award_taken_back_and_given_again_by_one_change_is_neither() -> None:
    kept, lost, won = uuid.UUID(int=7), uuid.UUID(int=8), uuid.UUID(int=9)
    net = net_of(
        [revoked(kept), revoked(lost)],
        Judged([awarded(kept), awarded(won)], [revoked(uuid.UUID(int=10))]),
    )
    assert [a.workout_id for a in net.awarded] == [won]
    assert [r.workout_id for r in net.revoked] == [lost, uuid.UUID(int=10)]
