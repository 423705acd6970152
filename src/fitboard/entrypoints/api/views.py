"""Domain objects to response bodies."""

from __future__ import annotations

from fitboard.domain.changes import ChangeKind, Decision
from fitboard.domain.recordings import Recording
from fitboard.domain.users import User
from fitboard.domain.workouts import Workout, WorkoutStatus
from fitboard.entrypoints.api.schemas import DecisionOut, RecordingOut, UserOut, WorkoutOut


def user_out(user: User) -> UserOut:
    return UserOut(
        id=user.id,
        username=user.username,
        display_name=user.display_name,
        weight_kg=user.weight_kg,
        birth_year=user.birth_year,
        sex=user.sex,
        timezone=user.timezone,
        show_on_leaderboards=user.show_on_leaderboards,
        is_admin=user.is_admin,
        created_at=user.created_at,
    )


def workout_out(workout: Workout) -> WorkoutOut:
    s = workout.submission
    assert workout.status is not WorkoutStatus.QUEUED
    return WorkoutOut(
        id=s.id,
        status=workout.status.value,
        activity=s.activity,
        started_at=s.started_at,
        duration_s=s.duration_s,
        distance_m=s.distance_m,
        elevation_gain_m=s.elevation_gain_m,
        avg_heart_rate=s.avg_heart_rate,
        calories=workout.calories,
        calories_method=workout.calories_method.value,
        met=workout.met,
        body_mass_kg=workout.body_mass_kg,
        points=workout.points,
        device_calories=s.device_calories,
        notes=s.notes,
        flag_reason=workout.flag_reason,
        processed_at=workout.processed_at,
        source=s.source,
        recording=None if s.recording is None else recording_out(s.recording),
    )


def recording_out(recording: Recording) -> RecordingOut:
    return RecordingOut(
        file_name=recording.file_name,
        file_identity=recording.file_identity,
        device_distance_m=recording.device_distance_m,
        moving_time_s=recording.moving_time_s,
        elapsed_time_s=recording.elapsed_time_s,
        max_heart_rate=recording.max_heart_rate,
        avg_power_w=recording.avg_power_w,
        avg_cadence=recording.avg_cadence,
    )


def decision_out(decision: Decision) -> DecisionOut:
    return DecisionOut(
        decision="approve" if decision.kind is ChangeKind.APPROVE else "reject",
        reason=decision.reason,
        decided_at=decision.decided_at,
    )
