"""What travels on the exchange: routing keys, queues, and the bodies' JSON."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from fitboard.application.errors import PermanentFailure
from fitboard.application.ports import Message, QueueSpec
from fitboard.domain.activities import Activity
from fitboard.domain.workouts import Workout, WorkoutSubmission

WORKOUT_SUBMITTED = "workout.submitted"
WORKOUT_PROCESSED = "workout.processed"


def workouts_queue(namespace: str, max_attempts: int) -> QueueSpec:
    """The queue the workers consume: every submitted workout."""
    return QueueSpec(f"{namespace}.workouts", (WORKOUT_SUBMITTED,), max_attempts)


SCHEMA_VERSION = 1


def submission_message(submission: WorkoutSubmission) -> Message:
    body = {
        "v": SCHEMA_VERSION,
        "id": str(submission.id),
        "user_id": str(submission.user_id),
        "activity": submission.activity.value,
        "started_at": submission.started_at.isoformat(),
        "duration_s": submission.duration_s,
        "distance_m": submission.distance_m,
        "elevation_gain_m": submission.elevation_gain_m,
        "avg_heart_rate": submission.avg_heart_rate,
        "device_calories": submission.device_calories,
        "notes": submission.notes,
        "source": submission.source,
        "submitted_at": submission.submitted_at.isoformat(),
    }
    return Message(
        routing_key=WORKOUT_SUBMITTED,
        body=json.dumps(body, separators=(",", ":")).encode(),
        message_id=str(submission.id),
    )


def decode_submission(message: Message) -> WorkoutSubmission:
    """Read a submission; a body that can never be read is a PermanentFailure."""
    try:
        data: dict[str, Any] = json.loads(message.body)
        if data.get("v") != SCHEMA_VERSION:
            raise PermanentFailure(f"unsupported message schema version {data.get('v')!r}")
        started_at = datetime.fromisoformat(data["started_at"])
        submitted_at = datetime.fromisoformat(data["submitted_at"])
        if started_at.tzinfo is None or submitted_at.tzinfo is None:
            raise PermanentFailure("timestamps without a time zone offset")
        return WorkoutSubmission(
            id=UUID(data["id"]),
            user_id=UUID(data["user_id"]),
            activity=Activity(data["activity"]),
            started_at=started_at,
            duration_s=int(data["duration_s"]),
            submitted_at=submitted_at,
            distance_m=_optional_float(data.get("distance_m")),
            elevation_gain_m=_optional_float(data.get("elevation_gain_m")),
            avg_heart_rate=_optional_int(data.get("avg_heart_rate")),
            device_calories=_optional_float(data.get("device_calories")),
            notes=data.get("notes"),
            source=str(data.get("source", "api")),
        )
    except PermanentFailure:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise PermanentFailure(f"malformed workout message: {exc!r}") from exc


def processed_message(workout: Workout, achievements: list[str]) -> Message:
    """Published after a workout is in the record, for consumers such as monthly reports."""
    body = {
        "v": SCHEMA_VERSION,
        "id": str(workout.id),
        "user_id": str(workout.user_id),
        "status": workout.status.value,
        "activity": workout.submission.activity.value,
        "started_at": workout.submission.started_at.isoformat(),
        "board_day": workout.board_day.isoformat(),
        "duration_s": workout.submission.duration_s,
        "distance_m": workout.submission.distance_m,
        "calories": workout.calories,
        "points": workout.points,
        "achievements": achievements,
    }
    return Message(
        routing_key=WORKOUT_PROCESSED,
        body=json.dumps(body, separators=(",", ":")).encode(),
        message_id=f"{workout.id}:processed",
    )


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _optional_int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]
