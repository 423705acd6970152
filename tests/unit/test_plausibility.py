from datetime import UTC, datetime, timedelta

import pytest

from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.plausibility import (
    MAX_DURATION_S,
    WORLD_RECORDS,
    check_possible,
    record_speed,
    suspicion,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def check(**overrides: object) -> None:
    args: dict[str, object] = {
        "activity": Activity.RUN,
        "started_at": NOW - timedelta(hours=2),
        "duration_s": 1800,
        "distance_m": 5000.0,
        "elevation_gain_m": None,
        "avg_heart_rate": None,
        "device_calories": None,
        "now": NOW,
        "clock_skew_s": 300,
    }
    args.update(overrides)
    check_possible(**args)  # type: ignore[arg-type]


def test_a_normal_run_is_possible() -> None:
    check()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"duration_s": 0}, "duration_s"),
        ({"duration_s": -5}, "duration_s"),
        (
            {"started_at": NOW - timedelta(days=20), "duration_s": MAX_DURATION_S + 1},
            "duration_s",
        ),
        # 3,000 m of climbing in one hour is above the vertical-kilometre record's rate.
        ({"duration_s": 3600, "elevation_gain_m": 3001.0}, "elevation_gain_m"),
        ({"started_at": NOW + timedelta(minutes=10)}, "started_at"),
        ({"started_at": NOW - timedelta(minutes=10), "duration_s": 3600}, "duration_s"),
        ({"started_at": datetime(2026, 11, 22, 9, 0)}, "started_at"),
        ({"distance_m": -1.0}, "distance_m"),
        ({"distance_m": 50_000.0}, "distance_m"),  # 100 km/h on foot
        ({"activity": Activity.SWIM, "distance_m": 10_000.0}, "distance_m"),
        ({"avg_heart_rate": 24}, "avg_heart_rate"),
        ({"avg_heart_rate": 251}, "avg_heart_rate"),
        ({"elevation_gain_m": -3.0}, "elevation_gain_m"),
        ({"device_calories": -1.0}, "calories"),
        # NaN compares false with every bound: a negative-distance check lets it through.
        ({"distance_m": float("nan")}, "distance_m"),
        ({"distance_m": float("inf")}, "distance_m"),
        ({"elevation_gain_m": float("nan")}, "elevation_gain_m"),
        ({"device_calories": float("nan")}, "calories"),
    ],
)
def test_impossible_input_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        check(**overrides)
    assert caught.value.field == field


def test_a_start_within_the_clock_skew_is_accepted() -> None:
    check(started_at=NOW + timedelta(seconds=100), duration_s=60, distance_m=None)


def test_heart_rate_limits_are_inclusive() -> None:
    check(avg_heart_rate=25)
    check(avg_heart_rate=250)


def test_record_speed_interpolates_between_records() -> None:
    five_k = record_speed(Activity.RUN, 5000)
    ten_k = record_speed(Activity.RUN, 10000)
    seven_k = record_speed(Activity.RUN, 7000)
    assert five_k is not None
    assert ten_k is not None
    assert seven_k is not None
    assert five_k == pytest.approx(5000 / 755.36)
    assert ten_k < seven_k < five_k
    assert record_speed(Activity.YOGA, 1000) is None


def test_faster_than_the_world_record_is_flagged_not_refused() -> None:
    # 5 km in 12:00 beats the 12:35 world record: possible to type, not believable.
    check(distance_m=5000.0, duration_s=720)
    reason = suspicion(activity=Activity.RUN, duration_s=720, distance_m=5000, avg_heart_rate=None)
    assert reason is not None
    assert "world record" in reason


def test_an_ordinary_run_is_not_suspicious() -> None:
    assert (
        suspicion(activity=Activity.RUN, duration_s=1800, distance_m=5000, avg_heart_rate=150)
        is None
    )


def test_implausible_heart_rate_is_flagged() -> None:
    reason = suspicion(activity=Activity.YOGA, duration_s=1800, distance_m=None, avg_heart_rate=235)
    assert reason is not None
    assert "heart rate" in reason


# Real multi-day and big-climb events: each must be accepted and believed.
REAL_EVENTS = [
    # A 100-mile trail race (160.9 km) in 28:30 with 5,500 m of climbing (Western States).
    (Activity.RUN, 160_934.0, 28 * 3600 + 30 * 60, 5_500.0, 12_000.0),
    # UTMB: about 171 km and 10,000 m of climbing in 40 h (cut-off 46.5 h).
    (Activity.RUN, 171_000.0, 40 * 3600, 10_000.0, 15_000.0),
    # A 600 km brevet in 36 h (the limit is 40 h).
    (Activity.CYCLE, 600_000.0, 36 * 3600, 6_000.0, 14_000.0),
    # Paris-Brest-Paris, about 1,200 km and 12,000 m of climbing, in 80 h (limit 90 h),
    # with the 25,000 kcal a rider's device reports.
    (Activity.CYCLE, 1_219_000.0, 80 * 3600, 12_000.0, 25_000.0),
    # A double Everesting on a bike: 2 x 8,848 m = 17,700 m of climbing, 380 km in 28 h.
    (Activity.CYCLE, 380_000.0, 28 * 3600, 17_700.0, 12_000.0),
]


@pytest.mark.parametrize(("activity", "distance", "duration", "elevation", "kcal"), REAL_EVENTS)
def test_real_events_longer_than_a_day_are_possible_and_believed(
    activity: Activity, distance: float, duration: int, elevation: float, kcal: float
) -> None:
    check(
        activity=activity,
        started_at=NOW - timedelta(seconds=duration + 3600),
        duration_s=duration,
        distance_m=distance,
        elevation_gain_m=elevation,
        device_calories=kcal,
    )
    reason = suspicion(
        activity=activity, duration_s=duration, distance_m=distance, avg_heart_rate=None
    )
    assert reason is None


def test_speed_still_judges_multi_day_efforts() -> None:
    # 330 km in 24 h beats Aleksandr Sorokin's 319.614 km (IAU 24 h record, 2022).
    reason = suspicion(
        activity=Activity.RUN, duration_s=86400, distance_m=330_000, avg_heart_rate=None
    )
    assert reason is not None
    assert "world record" in reason


@pytest.mark.parametrize(
    ("activity", "distance", "record_s"),
    [
        (Activity.SWIM, 1500, 14 * 60 + 30.67),  # Bobby Finke, Paris, 2024-08-04
        (Activity.WALK, 20000, 3600 + 16 * 60 + 10),  # Toshikazu Yamanishi, Kobe, 2025-02-16
        (Activity.WALK, 50000, 3 * 3600 + 32 * 60 + 33),  # Yohann Diniz, Zurich, 2014-08-15
        (Activity.RUN, 21097.5, 56 * 60 + 42),  # Jacob Kiplimo, Barcelona, 2025-02-16
    ],
)
def test_the_current_world_record_is_the_threshold(
    activity: Activity, distance: float, record_s: float
) -> None:
    def flagged(seconds: float) -> bool:
        duration = round(seconds)
        return (
            suspicion(
                activity=activity, duration_s=duration, distance_m=distance, avg_heart_rate=None
            )
            is not None
        )

    assert record_speed(activity, distance) == pytest.approx(distance / record_s)
    assert flagged(record_s - 1)
    assert not flagged(record_s + 1)


def test_every_record_names_its_source_and_date() -> None:
    for record in WORLD_RECORDS:
        assert record.source
        assert record.source.startswith("unverified") or (
            record.holder != "-" and record.date[:2] in {"19", "20"}
        )
