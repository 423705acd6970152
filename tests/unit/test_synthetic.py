"""The synthetic community of `fitboard seed`: reproducible, and every workout one the
API accepts and the worker counts (possible, and not flagged as suspicious)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from fitboard.application.accounts.athletes import USERNAME, check_timezone
from fitboard.domain import synthetic
from fitboard.domain.activities import Activity
from fitboard.domain.plausibility import check_possible, suspicion

NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def test_the_same_seed_gives_the_same_community_and_another_seed_another() -> None:
    def community(seed: int) -> tuple[object, ...]:
        people = synthetic.athletes(seed, 60, now=NOW)
        return (
            people,
            synthetic.groups(seed, people),
            list(synthetic.workouts(seed, people, 300, days=14, now=NOW)),
        )

    assert community(7) == community(7)
    assert community(7) != community(8)
    # More workouts leave the athletes as they were.
    assert synthetic.athletes(7, 60, now=NOW) == community(7)[0]


def test_every_workout_is_possible_believable_and_in_the_window() -> None:
    people = synthetic.athletes(3, 300, now=NOW)
    sessions = list(synthetic.workouts(3, people, 6000, days=30, now=NOW))
    assert len(sessions) == 6000
    for workout in sessions:
        check_possible(
            activity=workout.activity,
            started_at=workout.started_at,
            duration_s=workout.duration_s,
            distance_m=workout.distance_m,
            elevation_gain_m=workout.elevation_gain_m,
            avg_heart_rate=workout.avg_heart_rate,
            device_calories=None,
            now=NOW,
            clock_skew_s=0,
        )
        reason = suspicion(
            activity=workout.activity,
            duration_s=workout.duration_s,
            distance_m=workout.distance_m,
            avg_heart_rate=workout.avg_heart_rate,
        )
        assert reason is None, (workout, reason)
        # Within the window (a start that would end after now moves back one day).
        assert NOW - timedelta(days=31) < workout.started_at
        assert workout.started_at + timedelta(seconds=workout.duration_s) <= NOW


def test_the_mix_looks_like_a_community() -> None:
    people = synthetic.athletes(5, 1000, now=NOW)
    sessions = list(synthetic.workouts(5, people, 10_000, days=30, now=NOW))
    mix = Counter(w.activity for w in sessions)
    assert set(mix) == set(Activity)
    assert mix.most_common(1)[0][0] is Activity.RUN
    # Keen athletes log far more than most: the top tenth logs over a quarter.
    per_athlete = sorted(Counter(w.user_id for w in sessions).values(), reverse=True)
    assert sum(per_athlete[:100]) > 0.25 * len(sessions)
    # Runs are between a jog and a fast club runner's pace, on average about 5:30/km.
    runs = [w for w in sessions if w.activity is Activity.RUN]
    paces = [w.duration_s / (w.distance_m or 1) * 1000 for w in runs]
    assert 270 < sum(paces) / len(paces) < 420
    assert sum(w.avg_heart_rate is not None for w in sessions) > 0.7 * len(sessions)
    # Workouts start at the hours people train in their own zone.
    zones = {a.id: ZoneInfo(a.timezone) for a in people}
    hours = Counter(w.started_at.astimezone(zones[w.user_id]).hour for w in sessions)
    assert sum(hours[h] for h in range(5, 21)) > 0.97 * len(sessions)
    assert len({a.timezone for a in people}) >= 15


def test_athletes_and_groups_are_valid_and_distinct() -> None:
    people = synthetic.athletes(999_999, 2000, now=NOW)
    assert len({a.username.lower() for a in people}) == len(people)
    assert len({a.id for a in people}) == len(people)
    for athlete in people:
        assert USERNAME.fullmatch(athlete.username), athlete.username
        assert check_timezone(athlete.timezone) == athlete.timezone
    # The longest username the CLI allows (seed 999,999, the millionth athlete) fits.
    assert USERNAME.fullmatch(synthetic.username("viktor", "kowalski", 999_999, 999_999))
    clubs = synthetic.groups(999_999, people)
    assert len(clubs) == 2000 // synthetic.ATHLETES_PER_GROUP
    for club in clubs:
        assert club.owner_id not in club.member_ids
        assert len(set(club.member_ids)) == len(club.member_ids) >= synthetic.GROUP_SIZE[0] - 1
    assert synthetic.groups(1, people[:24]) == []
