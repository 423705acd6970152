"""Energy expenditure of a workout.

Two methods, both published:

* **MET** — kcal = MET × body mass (kg) × hours, with MET values from the 2011
  Compendium of Physical Activities (Ainsworth et al., Med Sci Sports Exerc 43(8)).
  Where the Compendium lists an activity at several speeds, the MET is interpolated
  linearly between its listed speeds and held flat beyond the ends; the code next to
  each row is the Compendium's activity code.
* **Heart rate** — Keytel et al. (2005), J Sports Sci 23(3):289-97, "Prediction of
  energy expenditure from heart rate monitoring during submaximal exercise", the
  equations without VO2max. Used only when average heart rate, age, sex and mass are all
  known and inside the range the equations were fitted on (below); otherwise MET.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from fitboard.domain.activities import Activity, Sex
from fitboard.domain.workouts import CalorieEstimate, CaloriesMethod

MPH = 0.44704  # metres per second in one mile per hour
KJ_PER_KCAL = 4.184

# Keytel et al. fitted their equations on adults exercising at submaximal intensity.
KEYTEL_MIN_HEART_RATE = 90
KEYTEL_MAX_HEART_RATE = 180
KEYTEL_MIN_AGE = 18
KEYTEL_MAX_AGE = 80

# (speed in mph, MET, Compendium code)
_RUN: Sequence[tuple[float, float, str]] = (
    (4.0, 6.0, "12029"),
    (5.0, 8.3, "12030"),
    (5.2, 9.0, "12040"),
    (6.0, 9.8, "12050"),
    (6.7, 10.5, "12060"),
    (7.0, 11.0, "12070"),
    (7.5, 11.5, "12080"),
    (8.0, 11.8, "12090"),
    (8.6, 12.3, "12100"),
    (9.0, 12.8, "12110"),
    (10.0, 14.5, "12120"),
    (11.0, 16.0, "12130"),
    (12.0, 19.0, "12132"),
    (13.0, 19.8, "12134"),
    (14.0, 23.0, "12135"),
)
_WALK: Sequence[tuple[float, float, str]] = (
    (1.5, 2.0, "17150"),
    (2.0, 2.8, "17151"),
    (2.5, 3.0, "17152"),
    (3.0, 3.5, "17170"),
    (3.5, 4.3, "17190"),
    (4.0, 5.0, "17200"),
    (4.5, 7.0, "17220"),
    (5.0, 8.3, "17230"),
)
# Cycling rows are speed bands; each band is placed at its midpoint.
_CYCLE: Sequence[tuple[float, float, str]] = (
    (5.5, 3.5, "01018"),
    (9.4, 5.8, "01070"),
    (11.0, 6.8, "01020"),
    (13.0, 8.0, "01030"),
    (15.0, 10.0, "01040"),
    (17.5, 12.0, "01050"),
    (20.0, 15.8, "01060"),
)
# Rowing on water by speed (canoeing/rowing bands), which also covers ergometer splits.
_ROW: Sequence[tuple[float, float, str]] = (
    (3.0, 3.5, "18070"),
    (5.0, 5.8, "18080"),
    (6.0, 12.0, "18100"),
)
# Swimming: the Compendium distinguishes effort, not speed; 0.75 m/s (2:13 per 100 m)
# separates a light freestyle from a vigorous one here.
_SWIM: Sequence[tuple[float, float, str]] = (
    (1.0, 5.8, "18320"),
    (2.5, 9.8, "18310"),
)

# MET when no distance is known (or the activity has no speed dependence).
_FLAT_MET: dict[Activity, tuple[float, str]] = {
    Activity.RUN: (7.0, "12020"),  # jogging, general
    Activity.WALK: (3.5, "17170"),  # walking 2.8-3.2 mph, level, moderate pace
    Activity.HIKE: (6.0, "17080"),  # hiking, cross country
    Activity.CYCLE: (7.5, "01015"),  # bicycling, general
    Activity.SWIM: (6.0, "18355"),  # swimming, leisurely, general
    Activity.ROW: (6.0, "02070"),  # rowing, stationary ergometer, general, vigorous
    Activity.STRENGTH: (3.5, "02054"),  # resistance training, multiple exercises
    Activity.YOGA: (2.5, "02150"),  # yoga, Hatha
    Activity.HIIT: (8.0, "02040"),  # circuit training, vigorous, minimal rest
    Activity.OTHER: (3.5, "02060"),  # conditioning exercise, moderate (fitboard's default)
}

_BY_SPEED: dict[Activity, Sequence[tuple[float, float, str]]] = {
    Activity.RUN: _RUN,
    Activity.WALK: _WALK,
    Activity.CYCLE: _CYCLE,
    Activity.ROW: _ROW,
    Activity.SWIM: _SWIM,
}


@dataclass(frozen=True)
class Athlete:
    """What the calorie formulas need to know about the athlete at the time of the workout."""

    body_mass_kg: float | None
    age: int | None
    sex: Sex | None


def met_for(activity: Activity, speed_m_s: float | None) -> float:
    """The MET of an activity at an average speed (None: speed unknown)."""
    table = _BY_SPEED.get(activity)
    if table is None or speed_m_s is None or speed_m_s <= 0:
        return _FLAT_MET[activity][0]
    mph = speed_m_s / MPH
    return _interpolate(table, mph)


def _interpolate(table: Sequence[tuple[float, float, str]], mph: float) -> float:
    speeds = [row[0] for row in table]
    if mph <= speeds[0]:
        return table[0][1]
    if mph >= speeds[-1]:
        return table[-1][1]
    i = bisect_right(speeds, mph)
    (x0, y0, _), (x1, y1, _) = table[i - 1], table[i]
    return round(y0 + (y1 - y0) * (mph - x0) / (x1 - x0), 2)


def met_kcal(met: float, body_mass_kg: float, duration_s: float) -> float:
    return met * body_mass_kg * duration_s / 3600.0


def keytel_kcal_per_min(heart_rate: float, body_mass_kg: float, age: int, sex: Sex) -> float:
    """Keytel et al. (2005), equation without VO2max; the paper's result is kJ/min."""
    if sex is Sex.MALE:
        kj = -55.0969 + 0.6309 * heart_rate + 0.1988 * body_mass_kg + 0.2017 * age
    else:
        kj = -20.4022 + 0.4472 * heart_rate - 0.1263 * body_mass_kg + 0.074 * age
    return kj / KJ_PER_KCAL


def keytel_applies(heart_rate: int | None, athlete: Athlete) -> bool:
    return (
        heart_rate is not None
        and athlete.age is not None
        and athlete.sex is not None
        and athlete.body_mass_kg is not None
        and KEYTEL_MIN_HEART_RATE <= heart_rate <= KEYTEL_MAX_HEART_RATE
        and KEYTEL_MIN_AGE <= athlete.age <= KEYTEL_MAX_AGE
    )


def estimate_calories(
    activity: Activity,
    duration_s: int,
    distance_m: float | None,
    avg_heart_rate: int | None,
    athlete: Athlete,
    default_body_mass_kg: float,
) -> CalorieEstimate:
    """Calories of a workout, with the method, MET and body mass used recorded beside them."""
    speed = distance_m / duration_s if distance_m and duration_s > 0 else None
    met = met_for(activity, speed)
    mass = athlete.body_mass_kg if athlete.body_mass_kg is not None else default_body_mass_kg
    defaulted = athlete.body_mass_kg is None
    if keytel_applies(avg_heart_rate, athlete):
        assert avg_heart_rate is not None
        assert athlete.age is not None
        assert athlete.sex is not None
        per_min = keytel_kcal_per_min(avg_heart_rate, mass, athlete.age, athlete.sex)
        # The female equation goes negative at low heart rates; MET is the better estimate then.
        if per_min > 0:
            kcal = round(per_min * duration_s / 60.0, 1)
            return CalorieEstimate(kcal, CaloriesMethod.HEART_RATE, met, mass, defaulted)
    kcal = round(met_kcal(met, mass, duration_s), 1)
    return CalorieEstimate(kcal, CaloriesMethod.MET, met, mass, defaulted)
