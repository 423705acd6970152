"""A workout as submitted, and as stored once processed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from fitboard.domain.activities import Activity


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
    source: str = "api"

    @property
    def ended_at(self) -> datetime:
        return self.started_at + timedelta(seconds=self.duration_s)


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
    has_distance: bool


@dataclass(frozen=True)
class ActivityTotals:
    """Sums over a range of days of one athlete's rollups for one activity."""

    calories: float = 0.0
    distance_m: float = 0.0
    duration_s: int = 0
    workouts: int = 0
    points: int = 0
    active_days: int = 0
    # When each total was last increased: ties on a board go to whoever got there first.
    last_ended_at: datetime | None = None
    distance_last_ended_at: datetime | None = None
    active_day_reached_at: datetime | None = None


@dataclass(frozen=True)
class Totals:
    """One athlete's totals over a range of days, per activity and across all of them."""

    by_activity: dict[Activity, ActivityTotals]
    active_days: int = 0
    active_day_reached_at: datetime | None = None
