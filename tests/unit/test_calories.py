"""Calories against published figures: the 2011 Compendium of Physical Activities
(Ainsworth et al., Med Sci Sports Exerc 2011;43(8):1575-81), Concept2's pace-power
relation and Keytel et al. (2005), J Sports Sci 23(3):289-97."""

import pytest

from fitboard.domain.activities import Activity, Sex
from fitboard.domain.calories import (
    MPH,
    YARD,
    Athlete,
    compendium_row,
    concept2_watts,
    estimate_calories,
    keytel_kcal_per_min,
    met_for,
)
from fitboard.domain.scoring import points_for
from fitboard.domain.workouts import CaloriesMethod

UNKNOWN = Athlete(body_mass_kg=None, age=None, sex=None)


def pace_500m_speed(minutes: int, seconds: float) -> float:
    """Metres per second of an ergometer split per 500 m."""
    return 500.0 / (minutes * 60 + seconds)


# Every (activity, speed, indoor) -> (code, MET) fitboard uses, as the Compendium lists it.
# Speeds in mph unless said otherwise; None: no distance.
COMPENDIUM_TABLE = [
    # running at its listed speeds (12029-12135)
    (Activity.RUN, 4.0, None, "12029", 6.0),
    (Activity.RUN, 5.0, None, "12030", 8.3),
    (Activity.RUN, 5.2, None, "12040", 9.0),
    (Activity.RUN, 6.0, None, "12050", 9.8),
    (Activity.RUN, 6.7, None, "12060", 10.5),
    (Activity.RUN, 7.0, None, "12070", 11.0),
    (Activity.RUN, 7.5, None, "12080", 11.5),
    (Activity.RUN, 8.0, None, "12090", 11.8),
    (Activity.RUN, 8.6, None, "12100", 12.3),
    (Activity.RUN, 9.0, None, "12110", 12.8),
    (Activity.RUN, 10.0, None, "12120", 14.5),
    (Activity.RUN, 11.0, None, "12130", 16.0),
    (Activity.RUN, 12.0, None, "12132", 19.0),
    (Activity.RUN, 13.0, None, "12134", 19.8),
    (Activity.RUN, 14.0, None, "12135", 23.0),
    (Activity.RUN, 6.0, True, "12050", 9.8),  # a treadmill run uses the same rows
    (Activity.RUN, None, None, "12020", 7.0),  # jogging, general
    # walking (17151-17231)
    (Activity.WALK, 1.5, None, "17151", 2.0),  # less than 2.0 mph, strolling
    (Activity.WALK, 2.0, None, "17152", 2.8),
    (Activity.WALK, 2.5, None, "17170", 3.0),
    (Activity.WALK, 3.0, None, "17190", 3.5),  # 2.8-3.2 mph
    (Activity.WALK, 3.5, None, "17200", 4.3),
    (Activity.WALK, 4.0, None, "17220", 5.0),
    (Activity.WALK, 4.5, None, "17230", 7.0),
    (Activity.WALK, 5.0, None, "17231", 8.3),
    (Activity.WALK, None, None, "17160", 3.5),  # walking for pleasure
    (Activity.HIKE, None, None, "17080", 6.0),
    # cycling bands (01010-01060), each speed gets its own band's MET
    (Activity.CYCLE, 5.5, None, "01010", 4.0),
    (Activity.CYCLE, 9.99, None, "01010", 4.0),
    (Activity.CYCLE, 10.0, None, "01020", 6.8),
    (Activity.CYCLE, 11.9, None, "01020", 6.8),
    (Activity.CYCLE, 12.0, None, "01030", 8.0),
    (Activity.CYCLE, 13.9, None, "01030", 8.0),
    (Activity.CYCLE, 14.0, None, "01040", 10.0),
    (Activity.CYCLE, 15.9, None, "01040", 10.0),
    (Activity.CYCLE, 16.0, None, "01050", 12.0),
    (Activity.CYCLE, 19.0, None, "01050", 12.0),
    (Activity.CYCLE, 20.5, None, "01060", 15.8),
    (Activity.CYCLE, None, None, "01015", 7.5),  # bicycling, general
    (Activity.CYCLE, 20.5, True, "02010", 7.0),  # a trainer's virtual speed: stationary
    (Activity.CYCLE, None, True, "02010", 7.0),
    # rowing on water by speed (18040-18060)
    (Activity.ROW, 3.0, False, "18040", 2.8),
    (Activity.ROW, 4.0, False, "18050", 5.8),
    (Activity.ROW, 5.9, False, "18050", 5.8),
    (Activity.ROW, 6.5, False, "18060", 12.5),
    (Activity.ROW, None, False, "18070", 3.5),  # canoeing, rowing, for pleasure
    (Activity.ROW, None, True, "02070", 6.0),  # ergometer, general
    (Activity.ROW, None, None, "02070", 6.0),  # unsaid: an ergometer
    # the rest have no speed rows
    (Activity.SWIM, None, None, "18310", 6.0),  # leisurely, not lap swimming
    (Activity.STRENGTH, 3.0, None, "02054", 3.5),
    (Activity.YOGA, 3.0, None, "02150", 2.5),
    (Activity.HIIT, 3.0, None, "02040", 8.0),
]


@pytest.mark.parametrize(("activity", "mph", "indoor", "code", "met"), COMPENDIUM_TABLE)
def test_every_row_is_the_compendiums(
    activity: Activity, mph: float | None, indoor: bool | None, code: str, met: float
) -> None:
    row, used = compendium_row(activity, None if mph is None else mph * MPH, indoor)
    assert (row.code, row.met) == (code, met)
    assert used == pytest.approx(met)


@pytest.mark.parametrize(
    ("yards_per_min", "code", "met"),
    [
        (40, "18240", 5.8),  # slow freestyle
        (50, "18290", 8.3),  # crawl, medium speed, ~50 yards/minute
        (74, "18290", 8.3),
        (75, "18280", 10.0),  # crawl, fast speed, ~75 yards/minute
    ],
)
def test_swimming_goes_by_the_compendiums_crawl_speeds(
    yards_per_min: float, code: str, met: float
) -> None:
    row, used = compendium_row(Activity.SWIM, yards_per_min * YARD / 60.0)
    assert (row.code, used) == (code, met)


def test_concept2_pace_to_power() -> None:
    # Concept2's calculator: a 2:00 /500 m split is 202.5 W, 1:45 is 302.3 W.
    assert concept2_watts(pace_500m_speed(2, 0)) == pytest.approx(202.5, abs=0.1)
    assert concept2_watts(pace_500m_speed(1, 45)) == pytest.approx(302.3, abs=0.1)


@pytest.mark.parametrize(
    ("split", "code", "met"),
    [
        ((2, 45), "02071", 4.8),  # 78 W: general, moderate effort
        ((2, 20), "02072", 7.0),  # 127 W: the 100 W row
        ((2, 10), "02073", 8.5),  # 159 W: the 150 W row
        ((1, 55), "02074", 12.0),  # 230 W: the 200 W row
    ],
)
def test_an_ergometer_row_goes_by_power(split: tuple[int, int], code: str, met: float) -> None:
    row, used = compendium_row(Activity.ROW, pace_500m_speed(*split), indoor=True)
    assert (row.code, used) == (code, met)


def test_an_easy_30_minute_erg_row_scores_what_the_compendium_says() -> None:
    # 2:40 /500 m for 30 min: 85 W, Compendium 02071 (4.8 MET). 70 kg: 4.8 x 70 x 0.5 =
    # 168 kcal and 24 points; before, any split from 3:06 earned 12 MET (crew racing).
    speed = pace_500m_speed(2, 40)
    athlete = Athlete(70, None, None)
    estimate = estimate_calories(Activity.ROW, 1800, speed * 1800, None, athlete, 70)
    assert estimate.met == pytest.approx(4.8)
    assert estimate.kcal == pytest.approx(168.0)
    assert points_for(estimate.met, 1800) == 24
    # The same session without a distance earns the general ergometer row, not less.
    no_distance = estimate_calories(Activity.ROW, 1800, None, None, athlete, 70)
    assert no_distance.met == pytest.approx(6.0)


def test_running_6_mph_for_30_min_at_70_kg_is_343_kcal() -> None:
    # Compendium 12050: running 6 mph (10 min/mile), MET 9.8; 9.8 x 70 kg x 0.5 h = 343.
    distance = 6 * MPH * 1800
    estimate = estimate_calories(
        Activity.RUN, 1800, distance, None, Athlete(70, None, None), default_body_mass_kg=70
    )
    assert estimate.met == pytest.approx(9.8)
    assert estimate.kcal == pytest.approx(343, abs=0.5)
    assert estimate.method is CaloriesMethod.MET
    assert not estimate.body_mass_is_default


def test_running_is_interpolated_between_listed_speeds_and_flat_beyond() -> None:
    # Halfway between 12050 (6 mph, 9.8) and 12060 (6.7 mph, 10.5).
    assert met_for(Activity.RUN, 6.35 * MPH) == pytest.approx(10.15)
    assert compendium_row(Activity.RUN, 6.35 * MPH)[0].code == "12050"
    assert met_for(Activity.RUN, 2.0 * MPH) == pytest.approx(6.0)
    assert met_for(Activity.RUN, 20 * MPH) == pytest.approx(23.0)


def test_default_body_mass_is_used_and_recorded_when_the_profile_has_none() -> None:
    estimate = estimate_calories(Activity.YOGA, 3600, None, None, UNKNOWN, default_body_mass_kg=70)
    assert estimate.body_mass_kg == 70
    assert estimate.body_mass_is_default
    assert estimate.kcal == pytest.approx(2.5 * 70)


def test_keytel_equation_for_men() -> None:
    # (-55.0969 + 0.6309*150 + 0.1988*75 + 0.2017*30) / 4.184 = 14.46 kcal/min
    assert keytel_kcal_per_min(150, 75, 30, Sex.MALE) == pytest.approx(14.46, abs=0.01)


def test_keytel_equation_for_women() -> None:
    # (-20.4022 + 0.4472*150 - 0.1263*60 + 0.074*30) / 4.184 = 9.88 kcal/min
    assert keytel_kcal_per_min(150, 60, 30, Sex.FEMALE) == pytest.approx(9.88, abs=0.01)


def test_heart_rate_method_is_used_inside_the_fitted_range() -> None:
    athlete = Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)
    estimate = estimate_calories(Activity.RUN, 1800, 5000, 150, athlete, default_body_mass_kg=70)
    assert estimate.method is CaloriesMethod.HEART_RATE
    assert estimate.kcal == pytest.approx(14.46 * 30, abs=0.5)


@pytest.mark.parametrize(
    ("activity", "heart_rate", "athlete"),
    [
        (Activity.RUN, 150, Athlete(body_mass_kg=75, age=None, sex=Sex.MALE)),
        (Activity.RUN, 150, Athlete(body_mass_kg=75, age=30, sex=None)),
        (Activity.RUN, 150, Athlete(body_mass_kg=None, age=30, sex=Sex.MALE)),
        # Keytel's subjects were 18-45 years old and weighed 47-120 kg.
        (Activity.RUN, 150, Athlete(body_mass_kg=75, age=17, sex=Sex.MALE)),
        (Activity.RUN, 150, Athlete(body_mass_kg=75, age=46, sex=Sex.MALE)),
        (Activity.RUN, 150, Athlete(body_mass_kg=46, age=30, sex=Sex.FEMALE)),
        (Activity.RUN, 150, Athlete(body_mass_kg=121, age=30, sex=Sex.MALE)),
        # Fitted at 57-90 % of maximal heart rate: 108.3-171 bpm at age 30 (220 - 30).
        (Activity.RUN, 108, Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)),
        (Activity.RUN, 172, Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)),
        # On a treadmill or a cycle ergometer: not yoga, swimming, rowing or lifting.
        (Activity.YOGA, 120, Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)),
        (Activity.SWIM, 150, Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)),
        (Activity.ROW, 150, Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)),
        (Activity.STRENGTH, 150, Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)),
    ],
)
def test_met_is_used_where_keytel_was_not_fitted(
    activity: Activity, heart_rate: int, athlete: Athlete
) -> None:
    estimate = estimate_calories(activity, 1800, None, heart_rate, athlete, 70)
    assert estimate.method is CaloriesMethod.MET


def test_the_ends_of_the_fitted_range_use_keytel() -> None:
    for heart_rate, athlete in [
        (109, Athlete(body_mass_kg=47, age=30, sex=Sex.FEMALE)),
        (171, Athlete(body_mass_kg=120, age=30, sex=Sex.MALE)),
        (100, Athlete(body_mass_kg=120, age=45, sex=Sex.FEMALE)),
        (181, Athlete(body_mass_kg=60, age=18, sex=Sex.MALE)),
    ]:
        estimate = estimate_calories(Activity.CYCLE, 1800, None, heart_rate, athlete, 70)
        assert estimate.method is CaloriesMethod.HEART_RATE
        assert estimate.kcal > 0


def test_an_hour_of_yoga_at_100_bpm_is_not_scored_like_a_run() -> None:
    # Before, a 30-year-old man at 100 bpm got Keytel's 6.7 kcal/min (401 kcal); the
    # Compendium's Hatha yoga (02150, 2.5 MET) gives 175 kcal at 70 kg.
    athlete = Athlete(body_mass_kg=70, age=30, sex=Sex.MALE)
    estimate = estimate_calories(Activity.YOGA, 3600, None, 100, athlete, 70)
    assert estimate.method is CaloriesMethod.MET
    assert estimate.kcal == pytest.approx(175.0)
