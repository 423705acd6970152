"""Is a workout physically possible, and is it believable?

Two tiers. **Impossible** input is refused (InvalidField → 422 at the API): it can never
be a real workout. **Suspicious** input — faster than the world record for the distance,
or a heart rate no human sustains — is stored as *flagged*: kept off the boards until an
admin approves it, with the reason shown to the athlete.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField

MAX_DURATION_S = 24 * 3600
EARLIEST_START = datetime(1990, 1, 1, tzinfo=UTC)
MIN_HEART_RATE, MAX_HEART_RATE = 25, 250
SUSPICIOUS_LOW_HEART_RATE, SUSPICIOUS_HIGH_HEART_RATE = 40, 220
MAX_ELEVATION_GAIN_M = 15_000
MAX_DEVICE_CALORIES = 20_000

# Average speeds (m/s) that no human reaches under their own power for this activity.
HARD_SPEED_LIMIT_M_S: dict[Activity, float] = {
    Activity.RUN: 12.5,  # above Usain Bolt's peak speed
    Activity.WALK: 5.0,  # race walkers hold 4.3
    Activity.HIKE: 5.0,
    Activity.CYCLE: 35.0,
    Activity.SWIM: 3.0,  # the 50 m freestyle record averages 2.4
    Activity.ROW: 7.0,  # an eight over 2,000 m averages 6.3
    Activity.STRENGTH: 12.5,
    Activity.YOGA: 12.5,
    Activity.HIIT: 12.5,
    Activity.OTHER: 12.5,
}

# World records as (distance m, best time s); a faster average speed is flagged.
_RUN_RECORDS: Sequence[tuple[float, float]] = (
    (100, 9.58),
    (400, 43.03),
    (1500, 206.0),
    (5000, 755.36),
    (10000, 1571.0),
    (21097.5, 3451.0),
    (42195, 7235.0),
    (100000, 21935.0),
)
_WALK_RECORDS: Sequence[tuple[float, float]] = (
    (5000, 1085.0),
    (10000, 2231.0),
    (20000, 4596.0),
    (50000, 12813.0),
)
_CYCLE_RECORDS: Sequence[tuple[float, float]] = (
    (1000, 55.4),
    (4000, 240.0),
    (56792, 3600.0),  # the hour record
    (200000, 14400.0),
)
_SWIM_RECORDS: Sequence[tuple[float, float]] = (
    (50, 20.91),
    (100, 46.40),
    (400, 220.07),
    (1500, 871.02),
    (10000, 6600.0),
)
_ROW_RECORDS: Sequence[tuple[float, float]] = (
    (500, 72.0),
    (2000, 318.68),
    (6000, 1081.0),
    (42195, 8400.0),
)
RECORDS: dict[Activity, Sequence[tuple[float, float]]] = {
    Activity.RUN: _RUN_RECORDS,
    Activity.WALK: _WALK_RECORDS,
    Activity.HIKE: _WALK_RECORDS,
    Activity.CYCLE: _CYCLE_RECORDS,
    Activity.SWIM: _SWIM_RECORDS,
    Activity.ROW: _ROW_RECORDS,
}


def check_possible(
    *,
    activity: Activity,
    started_at: datetime,
    duration_s: int,
    distance_m: float | None,
    elevation_gain_m: float | None,
    avg_heart_rate: int | None,
    device_calories: float | None,
    now: datetime,
    clock_skew_s: int,
) -> None:
    """Raise InvalidField, naming the field, for a workout that cannot have happened.

    `now` is when the workout was submitted: a queued workout judged later is judged
    against the moment it was sent, not the moment it is processed."""
    # Refused by name, before any bound: NaN compares false with everything, so a check
    # such as `distance_m < 0` (or the speed limit) would let it through.
    for name, value in (
        ("distance_m", distance_m),
        ("elevation_gain_m", elevation_gain_m),
        ("calories", device_calories),
    ):
        if value is not None and not math.isfinite(value):
            raise InvalidField(name, "must be a finite number, not NaN or infinity")
    if started_at.tzinfo is None:
        raise InvalidField("started_at", "needs a time zone offset, e.g. 2026-11-22T07:30:00+01:00")
    if duration_s <= 0:
        raise InvalidField("duration_s", "must be more than 0 seconds")
    if duration_s > MAX_DURATION_S:
        raise InvalidField("duration_s", f"must be at most {MAX_DURATION_S} seconds (24 hours)")
    latest = now + timedelta(seconds=clock_skew_s)
    if started_at > latest:
        raise InvalidField("started_at", "is in the future; check the device's clock")
    if started_at + timedelta(seconds=duration_s) > latest:
        raise InvalidField("duration_s", "the workout would end in the future")
    if started_at < EARLIEST_START:
        raise InvalidField("started_at", f"must be after {EARLIEST_START.date().isoformat()}")
    if distance_m is not None:
        if distance_m < 0:
            raise InvalidField("distance_m", "must not be negative")
        speed = distance_m / duration_s
        limit = HARD_SPEED_LIMIT_M_S[activity]
        if speed > limit:
            raise InvalidField(
                "distance_m",
                f"an average speed of {speed * 3.6:.1f} km/h is impossible for {activity.value} "
                f"(limit {limit * 3.6:.0f} km/h); check the distance, duration and activity",
            )
    if elevation_gain_m is not None and not 0 <= elevation_gain_m <= MAX_ELEVATION_GAIN_M:
        raise InvalidField("elevation_gain_m", f"must be between 0 and {MAX_ELEVATION_GAIN_M} m")
    if avg_heart_rate is not None and not MIN_HEART_RATE <= avg_heart_rate <= MAX_HEART_RATE:
        raise InvalidField(
            "avg_heart_rate", f"must be between {MIN_HEART_RATE} and {MAX_HEART_RATE} bpm"
        )
    if device_calories is not None and not 0 <= device_calories <= MAX_DEVICE_CALORIES:
        raise InvalidField("calories", f"must be between 0 and {MAX_DEVICE_CALORIES} kcal")


def record_speed(activity: Activity, distance_m: float) -> float | None:
    """The world-record average speed at this distance (log-distance interpolation), or None
    for activities without distance records."""
    table = RECORDS.get(activity)
    if table is None or distance_m <= 0:
        return None
    speeds = [(d, d / t) for d, t in table]
    if distance_m <= speeds[0][0]:
        return speeds[0][1]
    if distance_m >= speeds[-1][0]:
        return speeds[-1][1]
    for (d0, v0), (d1, v1) in itertools.pairwise(speeds):
        if d0 <= distance_m <= d1:
            w = (math.log(distance_m) - math.log(d0)) / (math.log(d1) - math.log(d0))
            return v0 + (v1 - v0) * w
    return None  # unreachable: the table is sorted and the ends are handled above


def suspicion(
    *, activity: Activity, duration_s: int, distance_m: float | None, avg_heart_rate: int | None
) -> str | None:
    """Why a possible workout is not believable, or None when it is."""
    if distance_m:
        best = record_speed(activity, distance_m)
        speed = distance_m / duration_s
        if best is not None and speed > best:
            return (
                f"average speed {speed * 3.6:.1f} km/h over {distance_m / 1000:.2f} km is faster "
                f"than the world record ({best * 3.6:.1f} km/h)"
            )
    if avg_heart_rate is not None and not (
        SUSPICIOUS_LOW_HEART_RATE <= avg_heart_rate <= SUSPICIOUS_HIGH_HEART_RATE
    ):
        return f"an average heart rate of {avg_heart_rate} bpm is implausible during exercise"
    return None
