"""From the points of a track to one activity's figures: the arithmetic every format
shares, so each rule below is stated once."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from fitboard.application.imports.ports import ParsedActivity, UnreadableFile
from fitboard.domain.activities import Activity
from fitboard.domain.recordings import FileFormat

# The mean Earth radius (IUGG), the same as the reference figures' method.
EARTH_RADIUS_M = 6_371_008.8
# Elevation noise: a climb counts once the track has risen this far above its lowest
# point since the last counted climb. Barometric altimeters wander by about a metre and
# GPS altitude by several; 5 m (what common trackers use) keeps most flat runs flat
# without losing real hills, though a phone with a poor GPS fix still adds some.
ELEVATION_NOISE_M = 5.0
# Moving: a stretch between two points at or above this speed (1.8 km/h, a slow walk).
MOVING_SPEED_M_S = 0.5


@dataclass(frozen=True)
class TrackPoint:
    time: datetime | None
    lat: float | None = None
    lon: float | None = None
    elevation_m: float | None = None
    heart_rate: int | None = None
    power_w: float | None = None
    cadence: float | None = None
    # The device's running total, where the file has one.
    distance_m: float | None = None


@dataclass(frozen=True)
class DeviceTotals:
    """What the device itself summed up, where the file says it."""

    distance_m: float | None = None
    calories: float | None = None
    ascent_m: float | None = None
    avg_heart_rate: float | None = None
    max_heart_rate: float | None = None
    avg_power_w: float | None = None
    avg_cadence: float | None = None


def finite(value: float | None) -> float | None:
    """A number read from a file, or None for NaN, infinities and absurd magnitudes."""
    if value is None or not math.isfinite(value) or abs(value) > 1e12:
        return None
    return value


def as_utc(moment: datetime) -> datetime:
    # GPX and TCX times are UTC by their schemas; a time written without an offset is UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _step_m(a: TrackPoint, b: TrackPoint) -> float | None:
    if a.lat is not None and a.lon is not None and b.lat is not None and b.lon is not None:
        return haversine_m(a.lat, a.lon, b.lat, b.lon)
    if a.distance_m is not None and b.distance_m is not None and b.distance_m >= a.distance_m:
        return b.distance_m - a.distance_m  # no position (a treadmill): the device's wheel
    return None


def elevation_gain_m(elevations: Sequence[float]) -> float:
    gain, low = 0.0, None
    for elevation in elevations:
        if low is None or elevation < low:
            low = elevation
        elif elevation - low >= ELEVATION_NOISE_M:
            gain += elevation - low
            low = elevation
    return gain


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def check_times(points: Sequence[TrackPoint], what: str) -> list[datetime]:
    """The points' times, refusing a track a workout cannot be built from."""
    if not points:
        raise UnreadableFile(f"{what} has no track points: there is no activity to import")
    times = [p.time for p in points if p.time is not None]
    if len(times) < 2:
        raise UnreadableFile(
            f"{what} has no timestamps on its track points (at least two are needed to know "
            "when the activity started and how long it took); export it with times"
        )
    for index in range(1, len(times)):
        if times[index] < times[index - 1]:
            raise UnreadableFile(
                f"{what}: timestamps go backwards at point {index + 1} "
                f"({times[index].isoformat()} after {times[index - 1].isoformat()}); "
                "the file is damaged or edited by hand"
            )
    return times


def summarize(
    segments: Sequence[Sequence[TrackPoint]],
    *,
    file_format: FileFormat,
    file_identity: str,
    activity: Activity | None,
    device: DeviceTotals,
    what: str,
) -> ParsedActivity:
    """One activity from its track segments (distances are never summed across the gap
    between two segments) and the device's own totals.

    Distance: the device's total wins where the file has one. It comes from the wheel or
    foot sensor, or from the device's own filtered GPS; a plain sum over raw 1 Hz points
    adds every metre of jitter (10 % too long on a real MapMyRide file). GPX carries no
    total, so its distance is the geodesic (haversine) sum of its points. Elevation gain,
    heart rate, power and cadence likewise prefer the device's summary where it has one."""
    points = [p for segment in segments for p in segment]
    times = check_times(points, what)
    started_at, ended_at = times[0], times[-1]
    track_m = 0.0
    has_track = False
    moving_s = 0.0
    # Heart rates at the end of each stretch moved: the samples taken while moving.
    moving_heart_rates: list[int] = []
    elevations: list[float] = []
    for segment in segments:
        for a, b in itertools.pairwise(segment):
            step = _step_m(a, b)
            if step is None:
                continue
            has_track = True
            track_m += step
            if a.time is not None and b.time is not None:
                seconds = (b.time - a.time).total_seconds()
                if seconds > 0 and step / seconds >= MOVING_SPEED_M_S:
                    moving_s += seconds
                    if b.heart_rate is not None:
                        moving_heart_rates.append(b.heart_rate)
        elevations_here = [p.elevation_m for p in segment if p.elevation_m is not None]
        elevations += elevations_here
    gain = (
        device.ascent_m
        if device.ascent_m is not None
        else (elevation_gain_m(elevations) if len(elevations) > 1 else None)
    )
    heart_rates = [p.heart_rate for p in points if p.heart_rate is not None]
    powers = [p.power_w for p in points if p.power_w is not None]
    cadences = [p.cadence for p in points if p.cadence is not None]
    avg_hr = _mean(heart_rates) if heart_rates else device.avg_heart_rate
    moving_hr = _mean(moving_heart_rates) if moving_heart_rates else avg_hr
    max_hr = max(heart_rates) if heart_rates else device.max_heart_rate
    duration_s = round((ended_at - started_at).total_seconds())
    return ParsedActivity(
        file_format=file_format,
        file_identity=file_identity,
        activity=activity,
        started_at=started_at,
        duration_s=duration_s,
        moving_time_s=min(duration_s, round(moving_s)) if has_track else None,
        distance_m=device.distance_m
        if device.distance_m is not None
        else (track_m if has_track else None),
        device_distance_m=device.distance_m,
        elevation_gain_m=gain,
        avg_heart_rate=None if avg_hr is None else round(avg_hr),
        moving_avg_heart_rate=None if moving_hr is None else round(moving_hr),
        max_heart_rate=None if max_hr is None else round(max_hr),
        avg_power_w=device.avg_power_w if device.avg_power_w is not None else _mean(powers),
        avg_cadence=device.avg_cadence if device.avg_cadence is not None else _mean(cadences),
        device_calories=device.calories,
    )
