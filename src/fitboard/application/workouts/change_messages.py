"""What travels on the exchange for a change to a stored workout: one routing key per kind
of change, bound to the workers' queue beside `workout.submitted`, and the body's JSON.

A change is read with the same care as a submission: a queue carries whatever anybody
published to it, so a body that can never be applied raises PermanentFailure naming what
is wrong (and is dead-lettered with that reason)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.ports import Message
from fitboard.application.tracing import HEADER as REQUEST_ID_HEADER
from fitboard.application.tracing import current as current_request_id
from fitboard.domain.activities import Activity
from fitboard.domain.changes import CORRECTABLE, ChangeKind, Correction, WorkoutChange
from fitboard.domain.errors import InvalidField

WORKOUT_APPROVED = "workout.approved"
WORKOUT_REJECTED = "workout.rejected"
WORKOUT_DELETED = "workout.deleted"
WORKOUT_CORRECTED = "workout.corrected"

ROUTING_KEYS: dict[ChangeKind, str] = {
    ChangeKind.APPROVE: WORKOUT_APPROVED,
    ChangeKind.REJECT: WORKOUT_REJECTED,
    ChangeKind.DELETE: WORKOUT_DELETED,
    ChangeKind.CORRECT: WORKOUT_CORRECTED,
}
KINDS = {key: kind for kind, key in ROUTING_KEYS.items()}
CHANGE_ROUTING_KEYS = tuple(ROUTING_KEYS.values())

CHANGE_SCHEMA_VERSION = 1
# A reason or notes of 2,000 characters, each at most 12 bytes as a JSON escape, fits.
MAX_CHANGE_BYTES = 64 * 1024
_FIELDS = frozenset(
    {"v", "id", "workout_id", "owner", "changed_by", "changed_at", "reason", "correction"}
)


def change_message(change: WorkoutChange) -> Message:
    """The message of a change; its id is the change's, so a redelivery is recognised."""
    body: dict[str, Any] = {
        "v": CHANGE_SCHEMA_VERSION,
        "id": str(change.id),
        "workout_id": str(change.workout_id),
        "owner": str(change.owner),
        "changed_by": str(change.changed_by),
        "changed_at": change.changed_at.isoformat(),
        "reason": change.reason,
    }
    if change.correction is not None:
        c = change.correction
        body["correction"] = {
            name: (value.value if isinstance(value, Activity) else value)
            for name in sorted(c.given)
            for value in [getattr(c, name)]
        }
    request_id = current_request_id()
    return Message(
        routing_key=ROUTING_KEYS[change.kind],
        body=json.dumps(body, separators=(",", ":")).encode(),
        message_id=str(change.id),
        headers={REQUEST_ID_HEADER: request_id} if request_id else {},
        # The owner's partition, after their submissions (messages.submission_message).
        partition_key=change.owner.int,
    )


def decode_change(message: Message) -> WorkoutChange:
    """Read a change; PermanentFailure, saying what is wrong, for one that never can be."""
    kind = KINDS.get(message.routing_key)
    if kind is None:
        raise _malformed(f"routing key {message.routing_key!r} is not a change")
    data = _object(message.body)
    if data.get("v") != CHANGE_SCHEMA_VERSION or type(data.get("v")) is not int:
        raise PermanentFailure(
            f"unsupported change schema version {json.dumps(data.get('v'))[:40]} (this "
            f"worker reads v={CHANGE_SCHEMA_VERSION}); deploy a worker that reads it, then "
            "replay the dead letter"
        )
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise _malformed(f"unknown field(s) {unknown}")
    reason = data.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise _malformed("reason must be a string or null")
    raw_correction = data.get("correction")
    try:
        return WorkoutChange(
            id=_uuid(data, "id"),
            kind=kind,
            workout_id=_uuid(data, "workout_id"),
            owner=_uuid(data, "owner"),
            changed_by=_uuid(data, "changed_by"),
            changed_at=_timestamp(data, "changed_at"),
            reason=reason,
            correction=None if raw_correction is None else _correction(raw_correction),
        )
    except InvalidField as invalid:
        raise _malformed(f"correction.{invalid.field}: {invalid.message}") from invalid
    except ValueError as exc:
        raise _malformed(str(exc)) from exc


def _malformed(problem: str) -> PermanentFailure:
    return PermanentFailure(f"malformed workout change message: {problem}")


def _object(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_CHANGE_BYTES:
        raise _malformed(f"the body is {len(body)} bytes, more than {MAX_CHANGE_BYTES}")
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except PermanentFailure:
        raise
    except (ValueError, RecursionError) as exc:
        raise _malformed(f"the body is not UTF-8 JSON ({exc})") from None
    if not isinstance(data, dict):
        raise _malformed("the body must be a JSON object")
    return data


def _refuse_constant(name: str) -> object:
    raise _malformed(f"{name} is not a JSON number")


def _uuid(data: dict[str, Any], name: str) -> UUID:
    value = data.get(name)
    if not isinstance(value, str):
        raise _malformed(f"{name} must be a UUID string")
    try:
        return UUID(value)
    except ValueError:
        raise _malformed(f"{name} {value[:40]!r} is not a UUID") from None


def _timestamp(data: dict[str, Any], name: str) -> datetime:
    value = data.get(name)
    if not isinstance(value, str):
        raise _malformed(f"{name} must be an ISO 8601 string")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _malformed(f"{name} {value[:40]!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        raise _malformed(f"{name} has no time zone offset")
    return moment


# The JSON type each correctable field must have (bool is not an int here, nor int a bool).
_TYPES: dict[str, tuple[type, ...]] = {
    "activity": (str,),
    "duration_s": (int,),
    "distance_m": (int, float),
    "avg_heart_rate": (int,),
    "indoor": (bool,),
    "notes": (str,),
}


def _correction(raw: object) -> Correction:
    if not isinstance(raw, dict):
        raise _malformed("correction must be a JSON object")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in CORRECTABLE:
            raise InvalidField(name, f"cannot be corrected (only {', '.join(CORRECTABLE)})")
        if value is not None and (
            type(value) not in _TYPES[name] or (isinstance(value, bool) and name != "indoor")
        ):
            raise InvalidField(name, f"has the wrong JSON type ({type(value).__name__})")
        values[name] = value
    if isinstance(values.get("activity"), str):
        try:
            values["activity"] = Activity(values["activity"])
        except ValueError:
            raise InvalidField("activity", f"{values['activity'][:40]!r} is no activity") from None
    if isinstance(values.get("distance_m"), int):
        values["distance_m"] = float(values["distance_m"])
    return Correction(given=frozenset(values), **values)
