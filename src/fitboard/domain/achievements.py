"""Achievements: declarative rules, judged from the stored workout and the athlete's record.

Every award has a *period key*, and an athlete holds an achievement at most once per
(achievement, period key) — the database enforces it, so redelivery and concurrent
workers can never double an award. The keys: `all` for one-off badges, the workout id for
personal records (each record-beating workout earns it again), the board's period key for
placements (`2026-W47`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID

from fitboard.domain.activities import Activity
from fitboard.domain.boards import Metric, Period
from fitboard.domain.workouts import ActivityTotals, Totals, Workout, WorkoutStatus

ONCE = "all"


class Measure(StrEnum):
    """What a rule measures on one workout, or summed over workouts."""

    DISTANCE = "distance_m"
    DURATION = "duration_s"
    CALORIES = "calories"
    POINTS = "points"
    WORKOUTS = "workouts"
    PACE = "pace_s_per_km"  # lower is better; records only


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    description: str
    # None: every activity counts.
    activities: frozenset[Activity] | None

    def counts(self, activity: Activity) -> bool:
        return self.activities is None or activity in self.activities


@dataclass(frozen=True)
class WorkoutThreshold(Rule):
    """One workout reaching a value: a 5 km run, 1,000 kcal in one go, the first workout."""

    measure: Measure
    at_least: float


@dataclass(frozen=True)
class TotalThreshold(Rule):
    """All workouts together reaching a value: 100 km run, 50 workouts, 10,000 kcal."""

    measure: Measure
    at_least: float


@dataclass(frozen=True)
class Streak(Rule):
    """Consecutive days with a workout, in the athlete's own time zone."""

    days: int


@dataclass(frozen=True)
class PersonalRecord(Rule):
    """Beating one's own best (strictly; a tie is not a record). Awarded again each time."""

    measure: Measure
    # For pace: only workouts at least this long count, and the pace is over the whole.
    min_distance_m: float = 0.0


# Where the morning starts for an early bird: a start between midnight and 04:00 local
# is the end of a late night, not an early morning. fitboard's choice (no published
# figure); 04:00 keeps the pre-dawn starts of marathon and ultra days (often 04:00-05:00).
MORNING_STARTS_AT_HOUR = 4


@dataclass(frozen=True)
class TimeOfDay(Rule):
    """A workout started in the morning before a local hour: the early bird. The morning
    starts at `from_hour`, so a session at 00:30 after a late night does not count."""

    before_hour: int
    from_hour: int = MORNING_STARTS_AT_HOUR


@dataclass(frozen=True)
class Placement(Rule):
    """A place on a global board when its period closes, judged once per period."""

    metric: Metric
    period: Period
    top: int


AnyRule = WorkoutThreshold | TotalThreshold | Streak | PersonalRecord | TimeOfDay | Placement


@dataclass(frozen=True)
class Award:
    rule_id: str
    period_key: str
    value: float | None = None


@dataclass(frozen=True)
class WorkoutFacts:
    """What the rules need to judge one stored workout."""

    workout: Workout
    local_start: datetime  # the start in the athlete's own time zone
    all_time: Totals  # the athlete's totals including this workout
    active_local_days: frozenset[date]  # days with a counted workout around this one
    previous_bests: dict[str, float | None]  # rule id → best before this workout


@dataclass(frozen=True)
class Measured:
    """A counted workout as the record rules see it (read back from the record for the
    workouts after a late one)."""

    id: UUID
    activity: Activity
    distance_m: float | None
    duration_s: int
    calories: float
    points: int


def measured(workout: Workout) -> Measured:
    submission = workout.submission
    return Measured(
        id=submission.id,
        activity=submission.activity,
        distance_m=submission.distance_m,
        duration_s=submission.duration_s,
        calories=workout.calories,
        points=workout.points,
    )


def pace_s_per_km(duration_s: int, distance_m: float) -> float:
    """Seconds per km as one IEEE double: duration × 1000 (exact below 2**53) divided by
    the distance, rounded once. The record's SQL computes the same expression
    (adapters/sql/achievements.py), so an identical run has an identical pace on either
    side and equal is never judged better."""
    return float(duration_s) * 1000.0 / distance_m


def measure_value(measure: Measure, workout: Measured) -> float | None:
    if measure is Measure.DISTANCE:
        return workout.distance_m
    if measure is Measure.DURATION:
        return float(workout.duration_s)
    if measure is Measure.CALORIES:
        return workout.calories
    if measure is Measure.POINTS:
        return float(workout.points)
    if measure is Measure.WORKOUTS:
        return 1.0
    if workout.distance_m:
        return pace_s_per_km(workout.duration_s, workout.distance_m)
    return None


def total_value(measure: Measure, totals: Totals, activities: frozenset[Activity] | None) -> float:
    parts: Iterable[ActivityTotals] = (
        t for a, t in totals.by_activity.items() if activities is None or a in activities
    )
    return sum(_activity_total(measure, t) for t in parts)


def _activity_total(measure: Measure, totals: ActivityTotals) -> float:
    if measure is Measure.DISTANCE:
        return totals.distance_m
    if measure is Measure.DURATION:
        return float(totals.duration_s)
    if measure is Measure.CALORIES:
        return totals.calories
    if measure is Measure.POINTS:
        return float(totals.points)
    if measure is Measure.WORKOUTS:
        return float(totals.workouts)
    raise ValueError(f"{measure.value} cannot be totalled")


def streak_through(days: Iterable[date], day: date) -> int:
    """The length of the run of consecutive days that contains `day` (0 if it is not in)."""
    present = set(days)
    if day not in present:
        return 0
    length, before, after = 1, day - timedelta(days=1), day + timedelta(days=1)
    while before in present:
        length, before = length + 1, before - timedelta(days=1)
    while after in present:
        length, after = length + 1, after + timedelta(days=1)
    return length


def is_better(rule: PersonalRecord, value: float, previous: float | None) -> bool:
    """Strictly better than the previous best; with no previous best there is nothing to
    beat yet, so the first workout of a kind sets the record without earning it."""
    if previous is None:
        return False
    return value < previous if rule.measure is Measure.PACE else value > previous


def best_of(rule: PersonalRecord, value: float, previous: float | None) -> float:
    return value if previous is None or is_better(rule, value, previous) else previous


# The least distance a workout needs for a distance or pace record (or any record with a
# least distance): a distance of zero is no distance, and brings no best.
LEAST_RECORD_DISTANCE_M = 1e-9


def least_record_distance(rule: PersonalRecord) -> float:
    """The least distance a workout needs for `rule` to look at it (0: none needed)."""
    if rule.min_distance_m > 0 or rule.measure in (Measure.PACE, Measure.DISTANCE):
        return max(rule.min_distance_m, LEAST_RECORD_DISTANCE_M)
    return 0.0


def record_applies(rule: PersonalRecord, workout: Measured) -> bool:
    """Whether `rule` looks at `workout`: its activity, and its distance when one is needed
    (the record's SQL picks the workouts it reads bests from by the same test)."""
    distance = workout.distance_m or 0.0
    return rule.counts(workout.activity) and distance >= least_record_distance(rule)


def record_value(rule: PersonalRecord, workout: Measured) -> float | None:
    """What `workout` brings to the athlete's best for `rule`: its value, or None when it
    has none or the rule does not look at it (`record_applies`)."""
    value = measure_value(rule.measure, workout)
    return value if value is not None and record_applies(rule, workout) else None


def record_setters(
    rule: PersonalRecord, best_before: float | None, later: Sequence[Measured]
) -> list[tuple[Measured, float]]:
    """Which of `later` (counted workouts in date order, all after the ones `best_before`
    sums up) hold the record by date order, with the value each set: each strictly beats
    every workout before it. Whatever order workouts arrived in, the holders of a
    complete history are exactly these, which is what makes records order-independent."""
    holders: list[tuple[Measured, float]] = []
    best = best_before
    for workout in later:
        value = record_value(rule, workout)
        if value is None:
            continue
        if is_better(rule, value, best):
            holders.append((workout, value))
        best = best_of(rule, value, best)
    return holders


def judge_workout(rules: Sequence[AnyRule], facts: WorkoutFacts) -> list[Award]:
    """Every award this workout earns by the rules, before checking what is already held.

    The worker judges every workout by every rule, so what several rules read is worked
    out once (the workout as measured, the streak through its day, each total a rule
    sums: the catalog's total rules share a few, four of them the count of workouts), and
    a rule narrowed to other activities is passed over before its value is worked out."""
    workout = facts.workout
    if workout.status is not WorkoutStatus.PROCESSED:
        return []  # flagged or rejected workouts earn nothing
    activity = workout.submission.activity
    this = measured(workout)
    streak: int | None = None
    totals: dict[tuple[Measure, frozenset[Activity] | None], float] = {}
    awards: list[Award] = []
    for rule in rules:
        if isinstance(rule, WorkoutThreshold):
            if rule.counts(activity):
                value = measure_value(rule.measure, this)
                if value is not None and value >= rule.at_least:
                    awards.append(Award(rule.id, ONCE, value))
        elif isinstance(rule, TotalThreshold):
            if rule.counts(activity):
                summed = (rule.measure, rule.activities)
                total = totals.get(summed)
                if total is None:
                    total = totals[summed] = total_value(
                        rule.measure, facts.all_time, rule.activities
                    )
                if total >= rule.at_least:
                    awards.append(Award(rule.id, ONCE, total))
        elif isinstance(rule, Streak):
            if rule.counts(activity):
                if streak is None:
                    streak = streak_through(facts.active_local_days, facts.local_start.date())
                if streak >= rule.days:
                    awards.append(Award(rule.id, ONCE, float(streak)))
        elif isinstance(rule, PersonalRecord):
            value = record_value(rule, this)
            if value is not None and is_better(rule, value, facts.previous_bests.get(rule.id)):
                awards.append(Award(rule.id, str(workout.id), value))
        elif (
            isinstance(rule, TimeOfDay)
            and rule.counts(activity)
            and rule.from_hour <= facts.local_start.hour < rule.before_hour
        ):
            awards.append(Award(rule.id, ONCE, float(facts.local_start.hour)))
    return awards


def progress(rule: AnyRule, all_time: Totals, current_streak: int) -> float | None:
    """How far toward a rule the athlete is, 0..1, where it has a meaning."""
    if isinstance(rule, TotalThreshold):
        return min(1.0, total_value(rule.measure, all_time, rule.activities) / rule.at_least)
    if isinstance(rule, Streak):
        return min(1.0, current_streak / rule.days)
    return None


def placement_awards(
    rule: Placement, ranked: Sequence[tuple[int, object]], period_key: str
) -> list[tuple[object, Award]]:
    """Who earns a placement rule from a closed board's (rank, athlete) list."""
    return [
        (who, Award(rule.id, period_key, float(rank))) for rank, who in ranked if rank <= rule.top
    ]


@dataclass(frozen=True)
class HeldAchievement:
    achievement_id: str
    period_key: str
    awarded_at: datetime
    workout_id: UUID | None
    value: float | None
