"""Whether a workout is an activity the athlete already has, by another file or typed in.

The one lookup behind both places that judge it: the import route (to answer 409 with
the existing workout's id) and the worker (which stores a duplicate that slipped past the
route, say two uploads at once, or a workout typed in after its file was imported, as
rejected, so it never counts twice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from uuid import UUID

from fitboard.application.workouts.ports import WorkoutsUnit
from fitboard.domain.plausibility import MAX_DURATION_S
from fitboard.domain.recordings import same_activity
from fitboard.domain.workouts import Workout, WorkoutStatus, WorkoutSubmission


async def duplicate_of(uow: WorkoutsUnit, submission: WorkoutSubmission) -> Workout | None:
    """A workout in the record, other than this one, of the same athlete and sport whose
    time span overlaps this one's (domain.recordings.same_activity). Rejected workouts
    do not count: they are on no board, so an upload that replaces one counts once.

    At least one of the two must come from a file: a file duplicates any workout, a
    typed-in one duplicates only a recorded one. Two typed-in workouts are never judged
    the same activity (each keeps its own `id` idempotency), whichever came first."""
    since, until = duplicate_span(submission)
    candidates = await uow.workouts.started_between(submission.user_id, since, until)
    return first_duplicate(submission, candidates)


def duplicate_span(submission: WorkoutSubmission) -> tuple[datetime, datetime]:
    """When a workout that may duplicate this one started: [first, last]."""
    # No workout lasts longer than MAX_DURATION_S: one that overlaps started after this.
    return submission.started_at - timedelta(seconds=MAX_DURATION_S), submission.ended_at


def first_duplicate(submission: WorkoutSubmission, candidates: Sequence[Workout]) -> Workout | None:
    """`duplicate_of` among `candidates`: the athlete's workouts that started in
    `duplicate_span(submission)`, oldest first (ties by id); the first that is one."""
    for workout in candidates:
        other = workout.submission
        if (
            workout.id != submission.id
            and workout.status is not WorkoutStatus.REJECTED
            and (submission.recording is not None or other.recording is not None)
            and same_activity(
                submission.activity,
                submission.started_at,
                submission.duration_s,
                other.activity,
                other.started_at,
                other.duration_s,
            )
        ):
            return workout
    return None


def rejected_as_duplicate(workout: Workout, original: UUID) -> Workout:
    """The workout as the record keeps a duplicate: rejected, saying of what."""
    return replace(
        workout,
        status=WorkoutStatus.REJECTED,
        flag_reason=f"the same activity as workout {original}, which already counts",
    )
