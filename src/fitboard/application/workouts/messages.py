"""What travels on the exchange: routing keys, queues, and the bodies' JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from uuid import UUID

from pydantic_core import to_json

from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.ports import RETRY_DELAYS_S, Message, QueueSpec
from fitboard.application.tracing import HEADER as REQUEST_ID_HEADER
from fitboard.application.tracing import current as current_request_id
from fitboard.application.workouts.change_messages import CHANGE_ROUTING_KEYS
from fitboard.application.workouts.recording_messages import (
    RECORDING_SCHEMA_VERSION,
    decode_recording,
    recording_body,
)
from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.workouts import (
    LEGACY_MANUAL,
    MANUAL,
    Workout,
    WorkoutSubmission,
    check_submission,
)

WORKOUT_SUBMITTED = "workout.submitted"
WORKOUT_PROCESSED = "workout.processed"


def workouts_queue(
    namespace: str, max_attempts: int, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
) -> QueueSpec:
    """The queue the workers consume: every submitted workout, and every change to a
    stored one (change_messages), so one worker applies both in the order they came."""
    return QueueSpec(
        f"{namespace}.workouts",
        (WORKOUT_SUBMITTED, *CHANGE_ROUTING_KEYS),
        max_attempts,
        retry_delays_s,
    )


SCHEMA_VERSION = 1
# The versions this worker reads: v2 adds the optional `recording` (recording_messages).
READABLE_VERSIONS = (SCHEMA_VERSION, RECORDING_SCHEMA_VERSION)


def submission_message(submission: WorkoutSubmission) -> Message:
    """The message of a submission, with the id of the request being served (if any) as
    its `x-request-id` header, so the worker's lines about it carry the same id."""
    workout_id = str(submission.id)
    # The athlete's id and the moments as they are: `to_json` writes them as text itself,
    # at a fraction of what str() and isoformat() cost here (2.5 µs of the message's 5.7;
    # batch ingest builds one an item). A moment in UTC is written with "Z" for "+00:00"
    # (since 2026-12-05): the same instant to `datetime.fromisoformat`, which the worker
    # reads it with (`_Fields.timestamp`).
    body: dict[str, object] = {
        "v": SCHEMA_VERSION,
        "id": workout_id,
        "user_id": submission.user_id,
        "activity": submission.activity.value,
        "started_at": submission.started_at,
        "duration_s": submission.duration_s,
        "distance_m": submission.distance_m,
        "elevation_gain_m": submission.elevation_gain_m,
        "avg_heart_rate": submission.avg_heart_rate,
        "device_calories": submission.device_calories,
        "notes": submission.notes,
        "source": submission.source,
        "submitted_at": submission.submitted_at,
    }
    # Only when the client said: a message without it reads as one from before the field.
    if submission.indoor is not None:
        body["indoor"] = submission.indoor
    if submission.recording is not None:
        body["v"] = RECORDING_SCHEMA_VERSION
        body["recording"] = recording_body(submission.recording)
    request_id = current_request_id()
    return Message(
        routing_key=WORKOUT_SUBMITTED,
        # Compact JSON, as `json.dumps(body, separators=(",", ":"))` wrote it until
        # 2026-12-03, but in UTF-8 (non-ASCII notes no longer \u-escaped) and with some
        # floats spelled otherwise (1e-7 for 1e-07): the same JSON values, which is all a
        # worker reads (json.loads). 0.8 µs a message instead of 3.7: json's encoder had
        # 8-9% of the API process's samples on batch ingest.
        body=to_json(body),
        message_id=workout_id,
        headers={REQUEST_ID_HEADER: request_id} if request_id else {},
        # The athlete's partition, where their changes go too (change_messages).
        partition_key=submission.user_id.int,
    )


def decode_submission(message: Message, *, now: datetime, clock_skew_s: int) -> WorkoutSubmission:
    """Read a submission and hold it to the same rules as the API (`check_submission`):
    a queue carries whatever anybody published to it. A message that can never be
    processed raises PermanentFailure, whose reason names the field and what is wrong.

    `now` is the worker's clock, used only to refuse a `submitted_at` after it; the
    workout itself is judged against its own `submitted_at`."""
    data = _json_object(message.body)
    version = data.get("v")
    if type(version) is not int or version not in READABLE_VERSIONS:
        readable = " and ".join(f"v={v}" for v in READABLE_VERSIONS)
        raise PermanentFailure(
            f"unsupported message schema version {_shown(version)} (this worker reads "
            f"{readable}); deploy a worker that reads it, then replay the dead letter"
        )
    allowed = _SUBMISSION_FIELDS | ({"recording"} if version >= RECORDING_SCHEMA_VERSION else set())
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _malformed(f"unknown field(s) {_shown(unknown)}")
    fields = _Fields(data)
    submission = WorkoutSubmission(
        id=fields.uuid("id"),
        user_id=fields.uuid("user_id"),
        activity=fields.activity("activity"),
        started_at=fields.timestamp("started_at"),
        duration_s=fields.integer("duration_s"),
        submitted_at=fields.timestamp("submitted_at"),
        distance_m=fields.optional_number("distance_m"),
        elevation_gain_m=fields.optional_number("elevation_gain_m"),
        avg_heart_rate=fields.optional_integer("avg_heart_rate"),
        device_calories=fields.optional_number("device_calories"),
        notes=fields.optional_text("notes"),
        source=_source(fields.optional_text("source")),
        indoor=fields.optional_boolean("indoor"),
        recording=decode_recording(data.get("recording")),
    )
    if submission.submitted_at > now + timedelta(seconds=clock_skew_s):
        raise PermanentFailure(
            f"invalid workout: submitted_at: {submission.submitted_at.isoformat()} is later "
            f"than the worker's clock ({now.isoformat()}); a message cannot be submitted "
            "after it is processed"
        )
    try:
        check_submission(submission, clock_skew_s=clock_skew_s)
    except InvalidField as invalid:
        field = _MESSAGE_FIELD.get(invalid.field, invalid.field)
        raise PermanentFailure(f"invalid workout: {field}: {invalid.message}") from invalid
    return submission


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


# The largest valid message carries 2,000 characters of notes, each at most 12 bytes as
# JSON escapes: a bound well above it refuses a huge body before it is parsed.
MAX_SUBMISSION_BYTES = 64 * 1024

_SUBMISSION_FIELDS = frozenset(
    {
        "v",
        "id",
        "user_id",
        "activity",
        "started_at",
        "duration_s",
        "submitted_at",
        "distance_m",
        "elevation_gain_m",
        "avg_heart_rate",
        "device_calories",
        "notes",
        "source",
        "indoor",
    }
)


# The API's names for the fields the domain's rules name, as they are called in a message.
_MESSAGE_FIELD = {"calories": "device_calories"}


def _source(source: str | None) -> str:
    """A typed-in workout's source: a message queued before revision 0009 says "api", or
    (older still) nothing; both are read as "manual", what the record now keeps."""
    return MANUAL if source is None or source == LEGACY_MANUAL else source


def _shown(value: object) -> str:
    """A value as JSON, cut short: a reason must stay readable whatever was sent."""
    text = json.dumps(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def _malformed(problem: str) -> PermanentFailure:
    return PermanentFailure(f"malformed workout message: {problem}")


def _refuse_constant(name: str) -> object:
    # Python's json reads NaN and Infinity, which JSON itself does not allow.
    raise _malformed(f"{name} is not a JSON number")


# What `json.loads(text, parse_constant=_refuse_constant)` decodes with, made once: given
# a keyword, json.loads makes a decoder of its own on every call, which cost about as
# much as decoding a submission (12.9 against 7.0 us a message).
_DECODER = json.JSONDecoder(parse_constant=_refuse_constant)


def _json_object(body: bytes) -> dict[str, object]:
    if not body:
        raise _malformed("the body is empty")
    if len(body) > MAX_SUBMISSION_BYTES:
        raise _malformed(f"the body is {len(body)} bytes, more than {MAX_SUBMISSION_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _malformed(f"the body is not UTF-8 (byte {exc.start}: {exc.reason})") from None
    try:
        if text.startswith("\ufeff"):
            # What json.loads refuses before decoding, as it words it.
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        data = _DECODER.decode(text)
    except PermanentFailure:
        raise
    except (ValueError, RecursionError) as exc:
        raise _malformed(f"the body is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _malformed(f"the body must be a JSON object, not {_json_type(data)}")
    return data


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class _Fields:
    """Typed reads of a decoded body, each refusing a wrong type by the field's name.
    JSON types are taken as they are: no string is read as a number, no boolean as an
    integer, no fraction truncated."""

    def __init__(self, data: dict[str, object]) -> None:
        self._data = data

    def _required(self, name: str) -> object:
        if name not in self._data or self._data[name] is None:
            raise _malformed(f"{name} is missing")
        return self._data[name]

    def _wrong(self, name: str, expected: str) -> PermanentFailure:
        value = self._data[name]
        return _malformed(f"{name} must be {expected}, not {_json_type(value)} ({_shown(value)})")

    def _string(self, name: str, expected: str) -> str:
        value = self._required(name)
        if not isinstance(value, str):
            raise self._wrong(name, expected)
        return value

    def uuid(self, name: str) -> UUID:
        value = self._string(name, "a UUID string")
        try:
            return UUID(value)
        except ValueError:
            raise _malformed(f"{name} {_shown(value)} is not a UUID") from None

    def activity(self, name: str) -> Activity:
        value = self._string(name, "a string")
        try:
            return Activity(value)
        except ValueError:
            known = ", ".join(a.value for a in Activity)
            raise _malformed(f"{name} {_shown(value)} is not one of {known}") from None

    def timestamp(self, name: str) -> datetime:
        value = self._string(name, "an ISO 8601 string")
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise _malformed(f"{name} {_shown(value)} is not an ISO 8601 timestamp") from None
        if moment.tzinfo is None:
            raise _malformed(f"{name} {_shown(value)} has no time zone offset")
        return moment

    def integer(self, name: str) -> int:
        value = self._required(name)
        if type(value) is not int:
            raise self._wrong(name, "an integer")
        return value

    def optional_integer(self, name: str) -> int | None:
        return None if self._data.get(name) is None else self.integer(name)

    def optional_number(self, name: str) -> float | None:
        value = self._data.get(name)
        if value is None:
            return None
        if type(value) is float:
            return value
        if type(value) is not int:
            raise self._wrong(name, "a number")
        try:
            return float(value)
        except OverflowError:
            raise _malformed(f"{name} is too large to be a number") from None

    def optional_boolean(self, name: str) -> bool | None:
        value = self._data.get(name)
        if value is not None and not isinstance(value, bool):
            raise self._wrong(name, "a boolean")
        return value

    def optional_text(self, name: str) -> str | None:
        return None if self._data.get(name) is None else self._string(name, "a string")
