"""Energy expenditure of a workout.

Two methods, both published:

* **MET** — kcal = MET × body mass (kg) × hours, with every MET and activity code from
  the 2011 Compendium of Physical Activities (Ainsworth et al., Med Sci Sports Exerc
  2011;43(8):1575-81). `compendium_row` picks the row the Compendium itself would: by speed
  where it lists speeds (running and walking at listed speeds, interpolated between
  them; cycling, on-water rowing and crawl swimming by speed band), by power for an
  ergometer row (watts from the pace by Concept2's formula), and the activity's general
  row when nothing says more.
* **Heart rate** — Keytel et al. (2005), J Sports Sci 23(3):289-97, "Prediction of
  energy expenditure from heart rate monitoring during submaximal exercise", the
  equations without VO2max. Used only inside what the equations were fitted on (see
  `keytel_applies`); otherwise MET.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from fitboard.domain.activities import Activity, Sex
from fitboard.domain.workouts import CalorieEstimate, CaloriesMethod

MPH = 0.44704  # metres per second in one mile per hour (international mile, exact)
YARD = 0.9144  # metres in one yard (exact)
KJ_PER_KCAL = 4.184


@dataclass(frozen=True)
class CompendiumRow:
    """One row of the 2011 Compendium: its code, MET and the activity it names."""

    code: str
    met: float
    label: str


def _row(code: str, met: float, label: str) -> CompendiumRow:
    return CompendiumRow(code, met, label)


# --- Running and walking: rows at listed speeds (mph). Between two listed speeds the MET
# is interpolated linearly (the rows are measurements at those speeds, and a runner at
# 6.3 mph works harder than one at 6.0); below the slowest and above the fastest it is held
# at the end row. At every listed speed the MET is exactly the Compendium's. The code
# reported between two rows is the lower row's.
_RUN: Sequence[tuple[float, CompendiumRow]] = (
    (4.0, _row("12029", 6.0, "running, 4 mph (13 min/mile)")),
    (5.0, _row("12030", 8.3, "running, 5 mph (12 min/mile)")),
    (5.2, _row("12040", 9.0, "running, 5.2 mph (11.5 min/mile)")),
    (6.0, _row("12050", 9.8, "running, 6 mph (10 min/mile)")),
    (6.7, _row("12060", 10.5, "running, 6.7 mph (9 min/mile)")),
    (7.0, _row("12070", 11.0, "running, 7 mph (8.5 min/mile)")),
    (7.5, _row("12080", 11.5, "running, 7.5 mph (8 min/mile)")),
    (8.0, _row("12090", 11.8, "running, 8 mph (7.5 min/mile)")),
    (8.6, _row("12100", 12.3, "running, 8.6 mph (7 min/mile)")),
    (9.0, _row("12110", 12.8, "running, 9 mph (6.5 min/mile)")),
    (10.0, _row("12120", 14.5, "running, 10 mph (6 min/mile)")),
    (11.0, _row("12130", 16.0, "running, 11 mph (5.5 min/mile)")),
    (12.0, _row("12132", 19.0, "running, 12 mph (5 min/mile)")),
    (13.0, _row("12134", 19.8, "running, 13 mph (4.6 min/mile)")),
    (14.0, _row("12135", 23.0, "running, 14 mph (4.3 min/mile)")),
)
# 17151 is a band (below 2.0 mph); 17190 is the 2.8-3.2 mph band, placed at its middle.
_WALK_SLOW = _row("17151", 2.0, "walking, less than 2.0 mph, level ground, strolling, very slow")
_WALK: Sequence[tuple[float, CompendiumRow]] = (
    (2.0, _row("17152", 2.8, "walking, 2.0 mph, level, slow pace, firm surface")),
    (2.5, _row("17170", 3.0, "walking, 2.5 mph, level, firm surface")),
    (3.0, _row("17190", 3.5, "walking, 2.8 to 3.2 mph, level, moderate pace, firm surface")),
    (3.5, _row("17200", 4.3, "walking, 3.5 mph, level, brisk, firm surface, for exercise")),
    (4.0, _row("17220", 5.0, "walking, 4.0 mph, level, firm surface, very brisk pace")),
    (4.5, _row("17230", 7.0, "walking, 4.5 mph, level, firm surface, very, very brisk")),
    (5.0, _row("17231", 8.3, "walking, 5.0 mph, level, firm surface")),
)

# --- Bands: (lowest value of the band, row), ascending. A value belongs to the last band
# whose lower bound it reaches, so every speed gets exactly its band's MET.
#
# Cycling outdoors, by speed in mph. The Compendium's 16-19 mph band (01050) is taken up
# to 20 mph, where 01060 (>20 mph) starts; 01018 (5.5 mph) and 01019 (9.4 mph) are single
# measurements inside the <10 mph band, which is the row used below 10 mph.
_CYCLE: Sequence[tuple[float, CompendiumRow]] = (
    (0.0, _row("01010", 4.0, "bicycling, <10 mph, leisure, to work or for pleasure")),
    (10.0, _row("01020", 6.8, "bicycling, 10-11.9 mph, leisure, slow, light effort")),
    (12.0, _row("01030", 8.0, "bicycling, 12-13.9 mph, leisure, moderate effort")),
    (14.0, _row("01040", 10.0, "bicycling, 14-15.9 mph, racing or leisure, fast, vigorous")),
    (16.0, _row("01050", 12.0, "bicycling, 16-19 mph, racing/not drafting, very fast")),
    (20.0, _row("01060", 15.8, "bicycling, >20 mph, racing, not drafting")),
)
# Rowing on water, by speed in mph. Below 2.0 mph (drifting) is taken as the light band.
# (The codes 18040-18060 here and the swimming codes 18240, 18280 and 18290 below, with
# their METs and descriptions, were checked against transcriptions of the 2011 table
# (code, MET, description) in public code, not against the printed paper.)
_ROW_WATER: Sequence[tuple[float, CompendiumRow]] = (
    (0.0, _row("18040", 2.8, "canoeing, rowing, 2.0-3.9 mph, light effort")),
    (4.0, _row("18050", 5.8, "canoeing, rowing, 4.0-5.9 mph, moderate effort")),
    (6.0, _row("18060", 12.5, "canoeing, rowing, kayaking, competition, >6 mph, vigorous")),
)
# Rowing on an ergometer, by power in watts. The Compendium lists 100, 150 and 200 W; a
# row earns a band once it reaches its power, and below 100 W it is the general
# moderate-effort ergometer row.
_ROW_ERGOMETER: Sequence[tuple[float, CompendiumRow]] = (
    (0.0, _row("02071", 4.8, "rowing, stationary, general, moderate effort")),
    (100.0, _row("02072", 7.0, "rowing, stationary, 100 watts, moderate effort")),
    (150.0, _row("02073", 8.5, "rowing, stationary, 150 watts, vigorous effort")),
    (200.0, _row("02074", 12.0, "rowing, stationary, 200 watts, very vigorous effort")),
)
# Swimming, by speed in yards per minute. The Compendium gives speeds for the crawl only
# ("~50" and "~75 yards/minute"); a swim earns a band once it reaches its speed, and a
# slower one is the slow freestyle row. The distance does not say the stroke; freestyle is
# assumed (the stroke of most lap swimming).
_SWIM: Sequence[tuple[float, CompendiumRow]] = (
    (0.0, _row("18240", 5.8, "swimming laps, freestyle, front crawl, slow, light/moderate")),
    (50.0, _row("18290", 8.3, "swimming, crawl, medium speed, ~50 yards/minute, vigorous")),
    (75.0, _row("18280", 10.0, "swimming, crawl, fast speed, ~75 yards/minute, vigorous")),
)

# The activity's row when no speed or power is known (or it has no speed rows).
_GENERAL: dict[Activity, CompendiumRow] = {
    Activity.RUN: _row("12020", 7.0, "jogging, general"),
    Activity.WALK: _row("17160", 3.5, "walking for pleasure"),
    Activity.HIKE: _row("17080", 6.0, "hiking, cross country"),
    Activity.CYCLE: _row("01015", 7.5, "bicycling, general"),
    Activity.SWIM: _row("18310", 6.0, "swimming, leisurely, not lap swimming, general"),
    Activity.ROW: _row("18070", 3.5, "canoeing, rowing, for pleasure, general"),
    Activity.STRENGTH: _row(
        "02054", 3.5, "resistance training, multiple exercises, 8-15 repetitions"
    ),
    Activity.YOGA: _row("02150", 2.5, "yoga, Hatha"),
    Activity.HIIT: _row("02040", 8.0, "circuit training, vigorous intensity, minimal rest"),
    # No row names an unnamed activity: fitboard's choice is 3.5, a moderate intensity by
    # the Compendium's own classes (moderate is 3.0-5.9 MET), not a measured figure.
    Activity.OTHER: _row("", 3.5, "fitboard default for an activity it does not know"),
}
# Indoors: an ergometer row without a distance, and a trainer ride, whose "distance" is a
# virtual figure the Compendium has no speed rows for (its stationary rows go by watts).
_INDOOR_GENERAL: dict[Activity, CompendiumRow] = {
    Activity.ROW: _row("02070", 6.0, "rowing, stationary ergometer, general, vigorous effort"),
    Activity.CYCLE: _row("02010", 7.0, "bicycling, stationary, general"),
}


def concept2_watts(speed_m_s: float) -> float:
    """Power on a Concept2 ergometer at an average speed: watts = 2.80 / pace³, pace in
    seconds per metre (Concept2's published pace-power relation)."""
    return 2.80 * speed_m_s**3


def rows_indoors(activity: Activity, indoor: bool | None) -> bool:
    """Whether the workout is taken as indoors. When nothing says, a row is taken as an
    ergometer row (what rowing apps and gyms log) and anything else as outdoors."""
    if indoor is None:
        return activity is Activity.ROW
    return indoor


def compendium_row(
    activity: Activity, speed_m_s: float | None, indoor: bool | None = None
) -> tuple[CompendiumRow, float]:
    """The Compendium row for a workout, and its MET (interpolated for running and walking
    between listed speeds, so it may lie between two rows' METs)."""
    inside = rows_indoors(activity, indoor)
    known = speed_m_s is not None and speed_m_s > 0
    if inside and activity in _INDOOR_GENERAL:
        if activity is Activity.ROW and known:
            assert speed_m_s is not None
            row = _band(_ROW_ERGOMETER, concept2_watts(speed_m_s))
            return row, row.met
        row = _INDOOR_GENERAL[activity]
        return row, row.met
    if not known:
        row = _GENERAL[activity]
        return row, row.met
    assert speed_m_s is not None
    mph = speed_m_s / MPH
    if activity is Activity.RUN:
        return _interpolated(_RUN, mph)
    if activity is Activity.WALK:
        if mph < _WALK[0][0]:
            return _WALK_SLOW, _WALK_SLOW.met
        return _interpolated(_WALK, mph)
    if activity is Activity.CYCLE:
        row = _band(_CYCLE, mph)
    elif activity is Activity.ROW:
        row = _band(_ROW_WATER, mph)
    elif activity is Activity.SWIM:
        row = _band(_SWIM, speed_m_s * 60.0 / YARD)
    else:
        row = _GENERAL[activity]
    return row, row.met


def met_for(activity: Activity, speed_m_s: float | None, indoor: bool | None = None) -> float:
    """The MET of an activity at an average speed (None: speed unknown)."""
    return compendium_row(activity, speed_m_s, indoor)[1]


def _band(table: Sequence[tuple[float, CompendiumRow]], value: float) -> CompendiumRow:
    i = bisect_right([low for low, _ in table], value)
    return table[max(i - 1, 0)][1]


def _interpolated(
    table: Sequence[tuple[float, CompendiumRow]], mph: float
) -> tuple[CompendiumRow, float]:
    speeds = [speed for speed, _ in table]
    if mph <= speeds[0]:
        return table[0][1], table[0][1].met
    if mph >= speeds[-1]:
        return table[-1][1], table[-1][1].met
    i = bisect_right(speeds, mph)
    (x0, low), (x1, high) = table[i - 1], table[i]
    return low, round(low.met + (high.met - low.met) * (mph - x0) / (x1 - x0), 2)


# --- Keytel et al. (2005): 115 regularly exercising adults, aged 18-45, body mass
# 47-120 kg, on a treadmill or a cycle ergometer, in steady states at 35, 62 and 80 % of
# VO2max, which the paper reports as 57, 77 and 90 % of maximal heart rate.
KEYTEL_MIN_AGE, KEYTEL_MAX_AGE = 18, 45
KEYTEL_MIN_MASS_KG, KEYTEL_MAX_MASS_KG = 47.0, 120.0
KEYTEL_MIN_HR_FRACTION, KEYTEL_MAX_HR_FRACTION = 0.57, 0.90
# The modes the equations were fitted on: treadmill walking or running, cycle ergometer.
KEYTEL_ACTIVITIES = frozenset({Activity.RUN, Activity.WALK, Activity.CYCLE})


def age_predicted_max_heart_rate(age: int) -> int:
    """220 - age: the usual estimate of maximal heart rate (Fox et al. 1971). The
    athlete's own maximum is not known; this places the fitted intensities in bpm."""
    return 220 - age


@dataclass(frozen=True)
class Athlete:
    """What the calorie formulas need to know about the athlete at the time of the workout."""

    body_mass_kg: float | None
    age: int | None
    sex: Sex | None


def met_kcal(met: float, body_mass_kg: float, duration_s: float) -> float:
    return met * body_mass_kg * duration_s / 3600.0


def keytel_kcal_per_min(heart_rate: float, body_mass_kg: float, age: int, sex: Sex) -> float:
    """Keytel et al. (2005), equation without VO2max; the paper's result is kJ/min."""
    if sex is Sex.MALE:
        kj = -55.0969 + 0.6309 * heart_rate + 0.1988 * body_mass_kg + 0.2017 * age
    else:
        kj = -20.4022 + 0.4472 * heart_rate - 0.1263 * body_mass_kg + 0.074 * age
    return kj / KJ_PER_KCAL


def keytel_applies(activity: Activity, heart_rate: int | None, athlete: Athlete) -> bool:
    """Whether the workout lies inside what Keytel et al. fitted: a treadmill-like or
    cycling activity, an adult of 18-45 and 47-120 kg, at 57-90 % of the age-predicted
    maximal heart rate. Outside it the equations extrapolate, and MET is used."""
    if heart_rate is None or athlete.age is None or athlete.sex is None:
        return False
    if athlete.body_mass_kg is None or activity not in KEYTEL_ACTIVITIES:
        return False
    if not KEYTEL_MIN_AGE <= athlete.age <= KEYTEL_MAX_AGE:
        return False
    if not KEYTEL_MIN_MASS_KG <= athlete.body_mass_kg <= KEYTEL_MAX_MASS_KG:
        return False
    maximum = age_predicted_max_heart_rate(athlete.age)
    return KEYTEL_MIN_HR_FRACTION * maximum <= heart_rate <= KEYTEL_MAX_HR_FRACTION * maximum


def estimate_calories(
    activity: Activity,
    duration_s: int,
    distance_m: float | None,
    avg_heart_rate: int | None,
    athlete: Athlete,
    default_body_mass_kg: float,
    indoor: bool | None = None,
) -> CalorieEstimate:
    """Calories of a workout, with the method, MET and body mass used recorded beside them."""
    speed = distance_m / duration_s if distance_m and duration_s > 0 else None
    met = met_for(activity, speed, indoor)
    mass = athlete.body_mass_kg if athlete.body_mass_kg is not None else default_body_mass_kg
    defaulted = athlete.body_mass_kg is None
    if keytel_applies(activity, avg_heart_rate, athlete):
        assert avg_heart_rate is not None
        assert athlete.age is not None
        assert athlete.sex is not None
        # Inside the fitted range both equations are positive (the female one is lowest at
        # 100 bpm, 120 kg, age 18: 2.5 kcal/min), so no figure below zero reaches here.
        per_min = keytel_kcal_per_min(avg_heart_rate, mass, athlete.age, athlete.sex)
        kcal = round(per_min * duration_s / 60.0, 1)
        return CalorieEstimate(kcal, CaloriesMethod.HEART_RATE, met, mass, defaulted)
    kcal = round(met_kcal(met, mass, duration_s), 1)
    return CalorieEstimate(kcal, CaloriesMethod.MET, met, mass, defaulted)
