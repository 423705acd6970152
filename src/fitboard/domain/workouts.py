"""A workout as submitted, and as stored once processed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from fitboard.domain.activities import Activity
from fitboard.domain.plausibility import check_possible
from fitboard.domain.recordings import Recording, check_recording
from fitboard.domain.text import check_text

MAX_NOTES_CHARS = 2000
# Where a workout came from (MANUAL when typed in, else the file's format): a short tag,
# not prose.
MAX_SOURCE_CHARS = 32
MANUAL = "manual"
# What typed-in workouts were called before revision 0009; a queued message may still say it.
LEGACY_MANUAL = "api"


class WorkoutStatus(StrEnum):
    QUEUED = "queued"
    PROCESSED = "processed"
    FLAGGED = "flagged"
    REJECTED = "rejected"


class CaloriesMethod(StrEnum):
    MET = "met"
    HEART_RATE = "keytel_2005"


@dataclass(frozen=True)
class WorkoutSubmission:
    """What the athlete sent, already validated against hard physical limits."""

    id: UUID
    user_id: UUID
    activity: Activity
    started_at: datetime
    duration_s: int
    submitted_at: datetime
    distance_m: float | None = None
    elevation_gain_m: float | None = None
    avg_heart_rate: int | None = None
    device_calories: float | None = None
    notes: str | None = None
    source: str = MANUAL
    # On a treadmill, a trainer or a rowing ergometer (None: not said); it chooses the
    # Compendium rows calories are estimated by (domain/calories.py).
    indoor: bool | None = None
    # The file and the device's own figures, for a workout imported from a file.
    recording: Recording | None = None

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.duration_s)


def check_submission(submission: WorkoutSubmission, *, clock_skew_s: int) -> None:
    """Raise InvalidField, naming the field, for a submission that can never be stored.

    The one statement of what a workout must be, applied by the API before it queues one
    and by the worker before it stores one (a queue carries whatever was published to
    it). "Not in the future" is judged against the submission's own `submitted_at`, so a
    backlog processed hours later is judged as it was when it was sent."""
    check_possible(
        activity=submission.activity,
        started_at=submission.started_at,
        duration_s=submission.duration_s,
        distance_m=submission.distance_m,
        elevation_gain_m=submission.elevation_gain_m,
        avg_heart_rate=submission.avg_heart_rate,
        device_calories=submission.device_calories,
        now=submission.submitted_at,
        clock_skew_s=clock_skew_s,
    )
    if submission.notes is not None:
        check_text("notes", submission.notes, max_chars=MAX_NOTES_CHARS)
    check_text("source", submission.source, max_chars=MAX_SOURCE_CHARS)
    if submission.recording is not None:
        check_recording(submission.recording, duration_s=submission.duration_s)


@dataclass(frozen=True)
class CalorieEstimate:
    kcal: float
    method: CaloriesMethod
    met: float
    body_mass_kg: float
    body_mass_is_default: bool


@dataclass(frozen=True)
class Workout:
    """A workout in the record. Calories and points are fixed when it is processed,
    with the body mass and method used, so a later profile change never rewrites them."""

    submission: WorkoutSubmission
    status: WorkoutStatus
    board_day: date
    calories: float
    calories_method: CaloriesMethod
    met: float
    body_mass_kg: float
    points: int
    processed_at: datetime
    flag_reason: str | None = None
    # The day in the athlete's own time zone, for streaks (boards use the board zone).
    local_day: date | None = None

    @property
    def id(self) -> UUID:
        return self.submission.id

    @property
    def user_id(self) -> UUID:
        return self.submission.user_id

    @property
    def counts_on_boards(self) -> bool:
        return self.status is WorkoutStatus.PROCESSED


@dataclass(frozen=True)
class DailyContribution:
    """What one processed workout adds to its athlete's daily rollup row."""

    calories: float
    distance_m: float
    duration_s: int
    workouts: int
    points: int
    ended_at: datetime
    # When it was submitted: a backdated workout reaches its score when it arrives.
    submitted_at: datetime | None = None

    @property
    def reached_at(self) -> datetime:
        """When the totals this raises were reached, for ties on boards: the later of the
        workout's end and its submission (docs/domain.md, "Ties")."""
        if self.submitted_at is None:
            return self.ended_at
        return max(self.ended_at, self.submitted_at)


@dataclass(frozen=True)
class ActivityTotals:
    """Sums over a range of days of one athlete's rollups for one activity."""

    calories: float = 0.0
    distance_m: float = 0.0
    duration_s: int = 0
    workouts: int = 0
    points: int = 0
    active_days: int = 0
    # When each total was last increased (`DailyContribution.reached_at` of the last
    # workout that raised it): ties on a board go to whoever got there first. Duration and
    # workouts rise with every workout; distance, calories and points only with a workout
    # that adds some.
    last_ended_at: datetime | None = None
    distance_last_ended_at: datetime | None = None
    active_day_reached_at: datetime | None = None
    calories_reached_at: datetime | None = None
    points_reached_at: datetime | None = None


@dataclass(frozen=True)
class Totals:
    """One athlete's totals over a range of days, per activity and across all of them."""

    by_activity: dict[Activity, ActivityTotals]
    active_days: int = 0
    active_day_reached_at: datetime | None = None
