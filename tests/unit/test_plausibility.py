from datetime import UTC, datetime, timedelta

import pytest

from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.plausibility import check_possible, record_speed, suspicion

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
        ({"duration_s": 24 * 3600 + 1}, "duration_s"),
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
