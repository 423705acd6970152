"""Changes to a stored workout: an admin's decision (approve, reject) or its athlete's
deletion or correction. Each is applied by the worker, through the queue like any change,
and recorded with who asked, when and why (docs/moderation.md)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from uuid import UUID

from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.workouts import Workout, WorkoutStatus, WorkoutSubmission


class ChangeKind(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    DELETE = "delete"
    CORRECT = "correct"

    @property
    def is_decision(self) -> bool:
        """An admin's decision, shown to the athlete on the workout."""
        return self in (ChangeKind.APPROVE, ChangeKind.REJECT)


# The fields of a workout its athlete may correct (../shared/API.md, PATCH /v1/workouts/{id}).
CORRECTABLE = ("activity", "duration_s", "distance_m", "avg_heart_rate", "indoor", "notes")


@dataclass(frozen=True)
class Correction:
    """New values for the fields named in `given` (a field given as None is cleared)."""

    given: frozenset[str]
    activity: Activity | None = None
    duration_s: int | None = None
    distance_m: float | None = None
    avg_heart_rate: int | None = None
    indoor: bool | None = None
    notes: str | None = None

    def __post_init__(self) -> None:
        unknown = sorted(self.given - set(CORRECTABLE))
        if unknown:
            raise InvalidField(unknown[0], f"cannot be corrected (only {', '.join(CORRECTABLE)})")
        if not self.given:
            raise InvalidField(
                "body", f"name at least one field to correct: {', '.join(CORRECTABLE)}"
            )
        for name in ("activity", "duration_s"):
            if name in self.given and getattr(self, name) is None:
                raise InvalidField(name, "cannot be cleared, only corrected")

    def applied_to(self, submission: WorkoutSubmission) -> WorkoutSubmission:
        """The submission as if it had been sent with the corrected fields."""
        return dataclasses.replace(
            submission, **{name: getattr(self, name) for name in sorted(self.given)}
        )


@dataclass(frozen=True)
class WorkoutChange:
    """One change to one workout. `id` makes it idempotent: the worker applies a change
    once, however often its message is delivered. `owner` is the workout's athlete;
    `changed_by` who asked (an admin for a decision, the athlete otherwise)."""

    id: UUID
    kind: ChangeKind
    workout_id: UUID
    owner: UUID
    changed_by: UUID
    changed_at: datetime
    reason: str | None = None
    correction: Correction | None = None

    def __post_init__(self) -> None:
        if (self.kind is ChangeKind.CORRECT) != (self.correction is not None):
            raise ValueError("a correction, and only a correction, carries corrected fields")


@dataclass(frozen=True)
class Decision:
    """An admin's decision on a workout, as recorded."""

    kind: ChangeKind
    decided_by: UUID
    decided_at: datetime
    reason: str | None


def decided(workout: Workout, kind: ChangeKind) -> Workout:
    """The workout after an admin's decision: approved, it counts; rejected, it never does."""
    status = WorkoutStatus.PROCESSED if kind is ChangeKind.APPROVE else WorkoutStatus.REJECTED
    return dataclasses.replace(workout, status=status)


def kept_rejected(corrected: Workout, before: Workout) -> Workout:
    """A corrected workout is judged like a new one, except that a rejected workout stays
    rejected (an admin's rejection, or a duplicate import): a correction is no way around
    a rejection. An approved one is judged again, and flagged again if still suspicious."""
    if before.status is not WorkoutStatus.REJECTED:
        return corrected
    return dataclasses.replace(
        corrected, status=WorkoutStatus.REJECTED, flag_reason=before.flag_reason
    )
