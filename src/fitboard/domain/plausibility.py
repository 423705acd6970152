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
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField

# Real events last longer than a day: a 100-mile trail race in 28-30 h, UTMB (171 km)
# with a 46.5 h cut-off, a 600 km brevet within 40 h, Paris-Brest-Paris (1,200 km) within
# 90 h, the Tor des Geants (330 km) within 150 h. Fourteen days covers all of them and
# the Race Across America's solo cut-off (about 12 days; from memory, not re-checked).
# Beyond a day what is judged is the speed and the volume (below), not the clock.
MAX_DURATION_S = 14 * 24 * 3600
EARLIEST_START = datetime(1990, 1, 1, tzinfo=UTC)
MIN_HEART_RATE, MAX_HEART_RATE = 25, 250
SUSPICIOUS_LOW_HEART_RATE, SUSPICIOUS_HIGH_HEART_RATE = 40, 220
# Elevation is judged by rate: the vertical-kilometre record is 1,000 m in under 30 min
# (about 2,100 m/h; Philip Goetsch, 28:53 in 2022, from memory), so 3,000 m per hour of
# workout is out of reach. A double Everesting (2 x 8,848 m = 17,700 m) in a day is real.
# The absolute cap only bounds the field: the Race Across America climbs about 52,000 m.
MAX_ELEVATION_GAIN_M_PER_HOUR = 3_000
MAX_ELEVATION_GAIN_M = 100_000
# Device calories: 20,000 kcal, or 2,000 kcal per hour for efforts longer than ten hours
# (Grand Tour riders sustain about 1,000 kcal/h; multi-day racers burn about 10,000 a day).
DEVICE_CALORIES_ANY_DURATION = 20_000
MAX_DEVICE_CALORIES_PER_HOUR = 2_000
# The ceiling of the field itself (the longest workout at the hourly rate).
MAX_DEVICE_CALORIES = MAX_DEVICE_CALORIES_PER_HOUR * MAX_DURATION_S // 3600

# Average speeds (m/s) that no human reaches under their own power for this activity.
HARD_SPEED_LIMIT_M_S: dict[Activity, float] = {
    Activity.RUN: 12.5,  # above Usain Bolt's peak speed
    Activity.WALK: 5.0,  # the 5,000 m walk record averages 4.65
    Activity.HIKE: 5.0,
    Activity.CYCLE: 35.0,
    Activity.SWIM: 3.0,  # the 50 m freestyle record averages 2.4
    # On a rowing machine the sprints are fastest: the Concept2 100 m records are 12.5 s,
    # and 11.8 s on slides (8.5 m/s; Loic Schalbetter, British Rowing, November 2025); the
    # 500 m record averages 7.2 m/s. An eight over 2,000 m averages 6.3.
    Activity.ROW: 10.0,
    Activity.STRENGTH: 12.5,
    Activity.YOGA: 12.5,
    Activity.HIIT: 12.5,
    Activity.OTHER: 12.5,
}


@dataclass(frozen=True)
class WorldRecord:
    """The fastest time over a distance: a ratified world record, or where there is none
    the best known performance, said so in `source`."""

    activity: Activity
    distance_m: float
    time_s: float
    holder: str
    # ISO date the performance was set; the year alone where the sources found give no day
    # (the source says what the year is).
    date: str
    source: str


# Men's outright bests: a suspicion threshold must be the fastest anyone has gone, so a
# crew, a team or a peloton counts where it is faster than anyone alone (the eight over
# 2,000 m, the team pursuit over 4 km, a Grand Tour stage over 200 km). Records as listed
# by World Athletics (WA), World Aquatics, World Rowing, Concept2 (the rowing machine), the
# UCI, the IAU (ultra running) and the WUCA (ultra cycling); the newer rows were checked
# against published reports up to early 2026 (docs/domain.md lists each row's source).
# Review when a record falls. Where no record could be confirmed the row is left out and
# the neighbours judge that distance: a rowing machine's 6,000 m lies between the eight's
# 2,000 m and the machine's marathon.
WORLD_RECORDS: Sequence[WorldRecord] = (
    WorldRecord(Activity.RUN, 100, 9.58, "Usain Bolt", "2009-08-16", "WA, Berlin"),
    WorldRecord(Activity.RUN, 400, 43.03, "Wayde van Niekerk", "2016-08-14", "WA, Rio"),
    WorldRecord(Activity.RUN, 1500, 206.00, "Hicham El Guerrouj", "1998-07-14", "WA, Rome"),
    WorldRecord(Activity.RUN, 5000, 755.36, "Joshua Cheptegei", "2020-08-14", "WA, Monaco"),
    WorldRecord(Activity.RUN, 10000, 1571.00, "Joshua Cheptegei", "2020-10-07", "WA, Valencia"),
    WorldRecord(Activity.RUN, 21097.5, 3402.0, "Jacob Kiplimo", "2025-02-16", "WA, Barcelona"),
    WorldRecord(Activity.RUN, 42195, 7235.0, "Kelvin Kiptum", "2023-10-08", "WA, Chicago"),
    WorldRecord(Activity.RUN, 100000, 21935.0, "Aleksandr Sorokin", "2022-04-24", "WA, road"),
    WorldRecord(Activity.RUN, 319614, 86400.0, "Aleksandr Sorokin", "2022-09-18", "IAU 24 h"),
    WorldRecord(
        Activity.RUN,
        1046310,
        518400.0,
        "Matthieu Bonne",
        "2024-09-11",
        "IAU world best, 6 days, GOMU-EMU World Championship, Balatonfured (ultramarathon.se; "
        "beat Yiannis Kouros's 1,036.8 km of 2005)",
    ),
    WorldRecord(
        Activity.WALK,
        5000,
        1074.48,
        "Francesco Fortunato",
        "2026-02-28",
        "WA world indoor record as reported, Ancona (Athletics Weekly)",
    ),
    WorldRecord(
        Activity.WALK,
        10000,
        2231.0,
        "Roman Rasskazov",
        "2000-05-28",
        "IAAF world best, 10 km road, Saransk (IAAF Statistics Handbook, Daegu 2011)",
    ),
    WorldRecord(Activity.WALK, 20000, 4570.0, "Toshikazu Yamanishi", "2025-02-16", "WA, Kobe"),
    WorldRecord(
        Activity.WALK, 35000, 8443.0, "Massimo Stano", "2025-05-18", "WA, 35 km road, Podebrady"
    ),
    WorldRecord(Activity.WALK, 50000, 12753.0, "Yohann Diniz", "2014-08-15", "WA, Zurich"),
    WorldRecord(Activity.CYCLE, 1000, 55.433, "Jeffrey Hoogland", "2023-10-31", "UCI track"),
    WorldRecord(
        Activity.CYCLE,
        4000,
        220.730,
        "Australia (Bleddyn, Welsford, Leahy, O'Brien)",
        "2024-08-06",
        "UCI team pursuit, Paris Olympics (Reuters)",
    ),
    WorldRecord(Activity.CYCLE, 56792, 3600.0, "Filippo Ganna", "2022-10-08", "UCI hour"),
    WorldRecord(
        Activity.CYCLE,
        219600,
        15615.0,
        "Philippe Gilbert",
        "2019-09-11",
        "Ruban Jaune (fastest race or stage over 200 km): Vuelta a Espana stage 17 (ANSA)",
    ),
    WorldRecord(
        Activity.CYCLE,
        1026215,
        86400.0,
        "Christoph Strasser",
        "2021-07-17",
        "WUCA 24 h road, Zeltweg, 16-17 July (APA, Tiroler Tageszeitung)",
    ),
    WorldRecord(Activity.SWIM, 50, 20.91, "Cesar Cielo", "2009-12-18", "World Aquatics, LCM"),
    WorldRecord(Activity.SWIM, 100, 46.40, "Pan Zhanle", "2024-07-31", "World Aquatics, LCM"),
    WorldRecord(Activity.SWIM, 400, 220.07, "Paul Biedermann", "2009-07-26", "World Aquatics"),
    WorldRecord(Activity.SWIM, 1500, 870.67, "Bobby Finke", "2024-08-04", "World Aquatics"),
    WorldRecord(
        Activity.SWIM, 10000, 6513.7, "Florian Wellbrock", "2021-08-05", "Olympic 10 km, no WR"
    ),
    WorldRecord(
        Activity.ROW,
        500,
        69.8,
        "Phil Clapp",
        "2024",
        "Concept2 RowErg world record (concept2.com.au, '500 Meter RowErg Record Broken', 2024)",
    ),
    WorldRecord(Activity.ROW, 2000, 318.68, "Germany men's eight", "2017-06-18", "World Rowing"),
    WorldRecord(
        Activity.ROW,
        42195,
        8468.7,
        "Ben de Wit",
        "2017",
        "Concept2 world record as Concept2 gave it in 2017 ('Can a 2-Hour Marathon Be "
        "Rowed?'); set on or before then, the day not published",
    ),
)


def _records_of(activity: Activity) -> Sequence[tuple[float, float]]:
    return sorted((r.distance_m, r.time_s) for r in WORLD_RECORDS if r.activity is activity)


# (distance m, best time s) per activity, ascending; a faster average speed is flagged.
# Hiking is judged by walking's records.
RECORDS: dict[Activity, Sequence[tuple[float, float]]] = {
    Activity.RUN: _records_of(Activity.RUN),
    Activity.WALK: _records_of(Activity.WALK),
    Activity.HIKE: _records_of(Activity.WALK),
    Activity.CYCLE: _records_of(Activity.CYCLE),
    Activity.SWIM: _records_of(Activity.SWIM),
    Activity.ROW: _records_of(Activity.ROW),
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
        raise InvalidField(
            "duration_s",
            f"must be at most {MAX_DURATION_S} seconds ({MAX_DURATION_S // 86400} days)",
        )
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
    if elevation_gain_m is not None:
        climbable = min(MAX_ELEVATION_GAIN_M, MAX_ELEVATION_GAIN_M_PER_HOUR * duration_s / 3600)
        if not 0 <= elevation_gain_m <= climbable:
            raise InvalidField(
                "elevation_gain_m",
                f"must be between 0 and {climbable:.0f} m: at most "
                f"{MAX_ELEVATION_GAIN_M_PER_HOUR} m per hour of workout",
            )
    if avg_heart_rate is not None and not MIN_HEART_RATE <= avg_heart_rate <= MAX_HEART_RATE:
        raise InvalidField(
            "avg_heart_rate", f"must be between {MIN_HEART_RATE} and {MAX_HEART_RATE} bpm"
        )
    if device_calories is not None:
        most = max(DEVICE_CALORIES_ANY_DURATION, MAX_DEVICE_CALORIES_PER_HOUR * duration_s / 3600)
        if not 0 <= device_calories <= most:
            raise InvalidField("calories", f"must be between 0 and {most:.0f} kcal")


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
