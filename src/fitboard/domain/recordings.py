"""What a device recorded about a workout, kept beside it, and when two workouts are one.

A workout imported from a file carries the file's name and identity and the device's own
figures. They are shown to the athlete but never ranked: fitboard's own calorie
estimate is what the boards count, the same for a typed-in workout and a recorded one."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.plausibility import MAX_HEART_RATE, MIN_HEART_RATE
from fitboard.domain.text import check_text

MAX_FILE_NAME_CHARS = 255
MAX_FILE_IDENTITY_CHARS = 160
MAX_POWER_W = 3000
MAX_CADENCE = 300
# Half an ultra-marathon is far; a device total past this is a corrupt field, not a run.
MAX_DEVICE_DISTANCE_M = 2_000_000
# A recording left running for a week is a forgotten watch, not a workout.
MAX_ELAPSED_S = 7 * 24 * 3600


class FileFormat(StrEnum):
    """Also the workout's `source` when it came from a file ("manual" when typed in)."""

    GPX = "gpx"
    TCX = "tcx"
    FIT = "fit"


@dataclass(frozen=True)
class Recording:
    """The file a workout came from and what its device measured."""

    file_format: FileFormat
    file_name: str
    # The activity's own identity (FIT serial and creation time, TCX unit and Id) or, for
    # a file without one, a hash of its bytes: the same activity gets the same workout id.
    file_identity: str
    device_distance_m: float | None = None
    moving_time_s: int | None = None
    # The whole recording, pauses included. A moving sport's workout lasts its moving time
    # (its `duration_s`), so this is where the time spent stopped is still told.
    elapsed_time_s: int | None = None
    max_heart_rate: int | None = None
    avg_power_w: float | None = None
    avg_cadence: float | None = None


def check_recording(recording: Recording, *, duration_s: int) -> None:
    """Raise InvalidField for figures no device can have recorded; named as the API
    shows them (`GET /v1/workouts/{id}`)."""
    check_text("file_name", recording.file_name, max_chars=MAX_FILE_NAME_CHARS)
    check_text("file_identity", recording.file_identity, max_chars=MAX_FILE_IDENTITY_CHARS)
    _in_range("device_distance_m", recording.device_distance_m, 0, MAX_DEVICE_DISTANCE_M)
    _in_range("moving_time_s", recording.moving_time_s, 0, duration_s)
    _in_range("elapsed_time_s", recording.elapsed_time_s, duration_s, MAX_ELAPSED_S)
    _in_range("max_heart_rate", recording.max_heart_rate, MIN_HEART_RATE, MAX_HEART_RATE)
    _in_range("avg_power_w", recording.avg_power_w, 0, MAX_POWER_W)
    _in_range("avg_cadence", recording.avg_cadence, 0, MAX_CADENCE)


def _in_range(field: str, value: float | None, low: float, high: float) -> None:
    if value is None:
        return
    if not math.isfinite(value) or not low <= value <= high:
        raise InvalidField(field, f"must be between {low} and {high}")


# Two workouts of one athlete are the same activity when they are of the same sport and
# their spans overlap by at least this share of the shorter one. Half is loose enough for a
# typed-in start rounded to the minute or a watch started late, and strict enough that a
# run and the run straight after it stay two.
SAME_ACTIVITY_OVERLAP = 0.5


def same_activity(
    activity: Activity,
    started_at: datetime,
    duration_s: int,
    other_activity: Activity,
    other_started_at: datetime,
    other_duration_s: int,
) -> bool:
    """Whether two workouts of one athlete record the same activity."""
    if activity is not other_activity:
        return False
    start = max(started_at, other_started_at).timestamp()
    end = min(started_at.timestamp() + duration_s, other_started_at.timestamp() + other_duration_s)
    shorter = min(duration_s, other_duration_s)
    if shorter <= 0:
        # A zero-length workout overlaps when it lies inside the other one.
        return start <= end
    return end - start >= SAME_ACTIVITY_OVERLAP * shorter
