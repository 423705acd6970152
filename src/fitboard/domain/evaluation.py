"""Turning a submitted workout into a processed one: calories, points, plausibility, day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fitboard.domain.calories import Athlete, estimate_calories
from fitboard.domain.periods import board_day
from fitboard.domain.plausibility import suspicion
from fitboard.domain.scoring import points_for
from fitboard.domain.users import User
from fitboard.domain.workouts import DailyContribution, Workout, WorkoutStatus, WorkoutSubmission


@dataclass(frozen=True)
class Rules:
    """The deployment's choices that the domain needs."""

    board_zone: ZoneInfo
    default_body_mass_kg: float


def local_start(moment: datetime, user: User) -> datetime:
    """A moment on the athlete's own clock (an unknown zone falls back to UTC)."""
    try:
        zone = ZoneInfo(user.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return moment.astimezone(zone)


def athlete_at(user: User, moment: datetime) -> Athlete:
    age = moment.year - user.birth_year if user.birth_year is not None else None
    return Athlete(body_mass_kg=user.weight_kg, age=age, sex=user.sex)


def evaluate(submission: WorkoutSubmission, user: User, rules: Rules, now: datetime) -> Workout:
    """Compute everything the record keeps about a workout, once, at processing time."""
    estimate = estimate_calories(
        submission.activity,
        submission.duration_s,
        submission.distance_m,
        submission.avg_heart_rate,
        athlete_at(user, submission.started_at),
        rules.default_body_mass_kg,
        submission.indoor,
    )
    reason = suspicion(
        activity=submission.activity,
        duration_s=submission.duration_s,
        distance_m=submission.distance_m,
        avg_heart_rate=submission.avg_heart_rate,
    )
    return Workout(
        submission=submission,
        status=WorkoutStatus.FLAGGED if reason else WorkoutStatus.PROCESSED,
        board_day=board_day(submission.started_at, rules.board_zone),
        calories=estimate.kcal,
        calories_method=estimate.method,
        met=estimate.met,
        body_mass_kg=estimate.body_mass_kg,
        points=points_for(estimate.met, submission.duration_s),
        processed_at=now,
        flag_reason=reason,
        local_day=local_start(submission.started_at, user).date(),
    )


def contribution(workout: Workout) -> DailyContribution:
    """What a workout that counts adds to its athlete's daily rollup."""
    distance = workout.submission.distance_m or 0.0
    return DailyContribution(
        calories=workout.calories,
        distance_m=distance,
        duration_s=workout.submission.duration_s,
        workouts=1,
        points=workout.points,
        ended_at=workout.submission.ended_at,
        submitted_at=workout.submission.submitted_at,
    )
