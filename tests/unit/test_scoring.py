from fitboard.domain.scoring import points_for


def test_ten_points_per_met_hour() -> None:
    assert points_for(9.8, 1800) == 49
    assert points_for(2.5, 3600) == 25
    assert points_for(8.0, 3600) == 80


def test_a_short_light_session_still_rounds_sensibly() -> None:
    assert points_for(2.5, 60) == 0
    assert points_for(3.5, 600) == 6
