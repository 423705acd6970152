"""Calories against published figures: the Compendium's METs and Keytel et al. (2005)."""

import pytest

from fitboard.domain.activities import Activity, Sex
from fitboard.domain.calories import (
    MPH,
    Athlete,
    estimate_calories,
    keytel_kcal_per_min,
    met_for,
)
from fitboard.domain.workouts import CaloriesMethod

UNKNOWN = Athlete(body_mass_kg=None, age=None, sex=None)


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


@pytest.mark.parametrize(
    ("activity", "mph", "met"),
    [
        (Activity.RUN, 5.0, 8.3),  # 12030
        (Activity.RUN, 8.0, 11.8),  # 12090
        (Activity.RUN, 10.0, 14.5),  # 12120
        (Activity.WALK, 3.5, 4.3),  # 17190
        (Activity.WALK, 4.0, 5.0),  # 17200
        (Activity.CYCLE, 13.0, 8.0),  # 01030, 12-13.9 mph
    ],
)
def test_met_matches_the_compendium_at_its_listed_speeds(
    activity: Activity, mph: float, met: float
) -> None:
    assert met_for(activity, mph * MPH) == pytest.approx(met)


def test_met_is_interpolated_between_listed_speeds_and_flat_beyond() -> None:
    assert 9.8 < met_for(Activity.RUN, 6.35 * MPH) < 10.5
    assert met_for(Activity.RUN, 2.0 * MPH) == pytest.approx(6.0)
    assert met_for(Activity.RUN, 20 * MPH) == pytest.approx(23.0)


def test_without_distance_the_general_met_of_the_activity_is_used() -> None:
    assert met_for(Activity.YOGA, None) == pytest.approx(2.5)
    assert met_for(Activity.RUN, None) == pytest.approx(7.0)
    assert met_for(Activity.HIIT, 3.0) == pytest.approx(8.0)


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


def test_heart_rate_method_is_used_when_everything_is_known_and_in_range() -> None:
    athlete = Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)
    estimate = estimate_calories(Activity.RUN, 1800, 5000, 150, athlete, default_body_mass_kg=70)
    assert estimate.method is CaloriesMethod.HEART_RATE
    assert estimate.kcal == pytest.approx(14.46 * 30, abs=0.5)


@pytest.mark.parametrize(
    "athlete",
    [
        Athlete(body_mass_kg=75, age=None, sex=Sex.MALE),
        Athlete(body_mass_kg=75, age=30, sex=None),
        Athlete(body_mass_kg=None, age=30, sex=Sex.MALE),
        Athlete(body_mass_kg=75, age=12, sex=Sex.MALE),
    ],
)
def test_met_is_used_when_the_heart_rate_formula_does_not_apply(athlete: Athlete) -> None:
    estimate = estimate_calories(Activity.RUN, 1800, 5000, 150, athlete, default_body_mass_kg=70)
    assert estimate.method is CaloriesMethod.MET


def test_heart_rate_outside_the_fitted_range_falls_back_to_met() -> None:
    athlete = Athlete(body_mass_kg=75, age=30, sex=Sex.MALE)
    assert (
        estimate_calories(Activity.WALK, 1800, 2500, 70, athlete, 70).method is CaloriesMethod.MET
    )
    assert (
        estimate_calories(Activity.RUN, 1800, 6000, 195, athlete, 70).method is CaloriesMethod.MET
    )
