"""Workout messages as anybody could publish them on the queue: a valid body to start from,
hand-written bad ones, and hypothesis strategies for more bad ones and valid edge cases.

Shared by the unit tests of decoding and the fuzzing of real workers in both modes."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitboard.application.messaging.ports import Message
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED, submission_message
from fitboard.domain.activities import Activity
from fitboard.domain.plausibility import (
    MAX_DURATION_S,
    MAX_ELEVATION_GAIN_M,
    MAX_ELEVATION_GAIN_M_PER_HOUR,
)
from fitboard.domain.workouts import WorkoutSubmission

Body = dict[str, Any]


def valid_submission(user_id: uuid.UUID, now: datetime, **changes: Any) -> WorkoutSubmission:
    """A 5 km run that ended an hour before `now`, submitted at `now`."""
    fields: dict[str, Any] = {
        "id": uuid.uuid4(),
        "user_id": user_id,
        "activity": Activity.RUN,
        "started_at": now - timedelta(hours=1, minutes=30),
        "duration_s": 1800,
        "submitted_at": now,
        "distance_m": 5000.0,
        "avg_heart_rate": 150,
        "notes": "easy run",
        **changes,
    }
    return WorkoutSubmission(**fields)


def valid_body(user_id: uuid.UUID, now: datetime) -> Body:
    """The JSON object the API would publish for `valid_submission`."""
    body: Body = json.loads(submission_message(valid_submission(user_id, now)).body)
    return body


def message(body: bytes, message_id: str | None = None) -> Message:
    return Message(
        routing_key=WORKOUT_SUBMITTED, body=body, message_id=message_id or str(uuid.uuid4())
    )


def encode(body: object) -> bytes:
    """JSON as Python writes it: NaN and Infinity included, as a careless producer would."""
    return json.dumps(body).encode()


@dataclass(frozen=True)
class BadCase:
    """A body built from a valid one, and words its dead-letter reason must contain."""

    name: str
    build: Callable[[Body], bytes]
    reason: str


def _with(**changes: Any) -> Callable[[Body], bytes]:
    return lambda body: encode({**body, **changes})


def _without(field: str) -> Callable[[Body], bytes]:
    return lambda body: encode({k: v for k, v in body.items() if k != field})


def _raw(text: bytes) -> Callable[[Body], bytes]:
    return lambda _body: text


def _distance_literal(literal: str) -> Callable[[Body], bytes]:
    """The body with distance_m written as `literal`, verbatim."""
    return lambda body: encode({**body, "distance_m": 0.5}).replace(
        b'"distance_m": 0.5', b'"distance_m": ' + literal.encode()
    )


def _notes_with_lone_surrogate(body: Body) -> bytes:
    return encode(body).replace(b'"notes": "easy run"', b'"notes": "easy \\ud800 run"')


BAD_CASES: list[BadCase] = [
    BadCase("negative distance", _with(distance_m=-1e9), "distance_m: must not be negative"),
    BadCase("negative duration", _with(duration_s=-3600), "duration_s: must be more than 0"),
    BadCase("zero duration", _with(duration_s=0), "duration_s: must be more than 0"),
    BadCase(
        "duration over the multi-day bound",
        _with(duration_s=MAX_DURATION_S + 1),
        "duration_s: must be at most",
    ),
    BadCase("huge duration", _with(duration_s=10**30), "duration_s: must be at most"),
    BadCase("5 MB notes", _with(notes="x" * 5_000_000), "bytes, more than"),
    BadCase("notes over the limit", _with(notes="x" * 2001), "notes: must be at most 2000"),
    BadCase("indoor as a string", _with(indoor="yes"), "indoor must be a boolean"),
    BadCase("indoor as a number", _with(indoor=1), "indoor must be a boolean"),
    BadCase("NUL in notes", _with(notes="easy\x00run"), "notes: must not contain a NUL"),
    BadCase("lone surrogate in notes", _notes_with_lone_surrogate, "notes: contains a lone"),
    BadCase("NUL in source", _with(source="api\x00"), "source: must not contain a NUL"),
    BadCase("body is a list", _raw(b"[1, 2, 3]"), "must be a JSON object, not an array"),
    BadCase("body is a string", _raw(b'"workout"'), "must be a JSON object, not a string"),
    BadCase("body is null", _raw(b"null"), "must be a JSON object, not null"),
    BadCase("empty body", _raw(b""), "the body is empty"),
    BadCase("not JSON", _raw(b"\x00\xffnot json{"), "not UTF-8"),
    BadCase("invalid UTF-8", lambda body: encode(body)[:-1] + b"\xc3\x28}", "not UTF-8"),
    BadCase("truncated", lambda body: encode(body)[:40], "the body is not JSON"),
    BadCase("deeply nested", _raw(b"[" * 30_000 + b"]" * 30_000), "the body is not JSON"),
    BadCase("NaN distance", _distance_literal("NaN"), "NaN is not a JSON number"),
    BadCase("Infinity distance", _distance_literal("Infinity"), "Infinity is not a JSON"),
    BadCase("-Infinity distance", _distance_literal("-Infinity"), "-Infinity is not a JSON"),
    BadCase("distance beyond a float", _distance_literal("1e400"), "distance_m: must be a finite"),
    BadCase("huge int distance", _with(distance_m=10**400), "distance_m is too large"),
    BadCase("digits beyond Python's limit", _distance_literal("9" * 5000), "not JSON"),
    BadCase("boolean duration", _with(duration_s=True), "duration_s must be an integer"),
    BadCase("fractional duration", _with(duration_s=1800.5), "duration_s must be an integer"),
    BadCase("duration as a string", _with(duration_s="1800"), "duration_s must be an integer"),
    BadCase("distance as an object", _with(distance_m={"m": 5}), "distance_m must be a number"),
    BadCase("boolean distance", _with(distance_m=False), "distance_m must be a number"),
    BadCase("heart rate as a fraction", _with(avg_heart_rate=70.5), "avg_heart_rate must be"),
    BadCase("heart rate out of range", _with(avg_heart_rate=400), "avg_heart_rate: must be"),
    BadCase("negative elevation", _with(elevation_gain_m=-3.0), "elevation_gain_m: must be"),
    BadCase("negative calories", _with(device_calories=-1.0), "device_calories: must be"),
    BadCase("notes as a number", _with(notes=42), "notes must be a string"),
    BadCase("id not a UUID", _with(id="workout-1"), 'id "workout-1" is not a UUID'),
    BadCase("id as a number", _with(id=12345), "id must be a UUID string"),
    BadCase("user_id not a UUID", _with(user_id="ada"), 'user_id "ada" is not a UUID'),
    BadCase("unknown activity", _with(activity="swimrun"), 'activity "swimrun" is not one of'),
    BadCase("naive start", _with(started_at="2026-11-22T07:30:00"), "has no time zone offset"),
    BadCase("start not a time", _with(started_at="yesterday"), "is not an ISO 8601"),
    BadCase("naive submission", _with(submitted_at="2026-11-22T07:30:00"), "no time zone"),
    BadCase("missing id", _without("id"), "id is missing"),
    BadCase("missing duration", _without("duration_s"), "duration_s is missing"),
    BadCase("unknown field", _with(admin=True), 'unknown field(s) ["admin"]'),
    BadCase("version 3", _with(v=3), "unsupported message schema version 3"),
    BadCase("version true", _with(v=True), "unsupported message schema version true"),
    BadCase("version as a string", _with(v="1"), 'unsupported message schema version "1"'),
    BadCase("no version", _without("v"), "unsupported message schema version null"),
    BadCase(
        "start before 1990",
        _with(started_at="1989-12-31T23:00:00+00:00"),
        "started_at: must be after 1990",
    ),
]


def started_after_submission(body: Body) -> bytes:
    """A start in the future of the message's own submission time."""
    submitted = datetime.fromisoformat(body["submitted_at"])
    return encode({**body, "started_at": (submitted + timedelta(hours=1)).isoformat()})


def submitted_in_the_future(body: Body) -> bytes:
    """A submission time (and a workout) a year after the worker's clock."""
    year = timedelta(days=365)
    submitted = datetime.fromisoformat(body["submitted_at"]) + year
    started = datetime.fromisoformat(body["started_at"]) + year
    return encode(
        {**body, "submitted_at": submitted.isoformat(), "started_at": started.isoformat()}
    )


BAD_CASES += [
    BadCase("start after its submission", started_after_submission, "started_at: is in the future"),
    BadCase("submitted in the future", submitted_in_the_future, "later than the worker's clock"),
]

# Values of every JSON type, for putting where they do not belong.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)
# None is no mistake in an optional field, so it is not among the wrong values.
_NOT_A_NUMBER = json_values.filter(
    lambda v: v is not None and (isinstance(v, bool) or not isinstance(v, int | float))
)
_NOT_A_STRING = json_values.filter(lambda v: v is not None and not isinstance(v, str))
_NUMBER_FIELDS = ("duration_s", "distance_m", "elevation_gain_m", "avg_heart_rate")
_STRING_FIELDS = ("id", "user_id", "activity", "started_at", "submitted_at", "notes")
_REQUIRED = ("v", "id", "user_id", "activity", "started_at", "duration_s", "submitted_at")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


@st.composite
def bad_bodies(draw: st.DrawFn, base: Body) -> bytes:
    """A body that no worker may ever store, made from a valid one by one mistake (with a
    workout id of its own, so that none is taken for a redelivery of another)."""
    body = {**base, "id": str(draw(st.uuids()))}
    kind = draw(st.sampled_from(["type", "range", "missing", "extra", "version", "cut", "text"]))
    if kind == "type":
        if draw(st.booleans()):
            body[draw(st.sampled_from(_NUMBER_FIELDS))] = draw(_NOT_A_NUMBER)
        else:
            body[draw(st.sampled_from(_STRING_FIELDS))] = draw(_NOT_A_STRING)
    elif kind == "range":
        field, values = draw(
            st.sampled_from(
                [
                    ("duration_s", st.integers(max_value=0) | st.integers(min_value=86_401)),
                    ("distance_m", st.floats(max_value=-1e-6) | st.just(float("nan"))),
                    ("avg_heart_rate", st.integers(max_value=24) | st.integers(min_value=251)),
                    ("elevation_gain_m", st.floats(min_value=15_000.5) | st.floats(max_value=-1)),
                    ("device_calories", st.floats(min_value=20_000.5) | st.floats(max_value=-1)),
                    ("id", st.text(max_size=40).filter(lambda t: not _is_uuid(t))),
                    ("activity", st.text(max_size=10).filter(lambda t: t not in set(Activity))),
                ]
            )
        )
        body[field] = draw(values)
    elif kind == "missing":
        del body[draw(st.sampled_from(_REQUIRED))]
    elif kind == "extra":
        name = draw(st.text(min_size=1, max_size=10).filter(lambda t: t not in body))
        body[name] = draw(json_values)
    elif kind == "version":
        body["v"] = draw(json_values.filter(lambda v: not (type(v) is int and v in (1, 2))))
    elif kind == "cut":
        encoded = encode(body)
        return encoded[: draw(st.integers(min_value=0, max_value=len(encoded) - 1))]
    else:
        field = draw(st.sampled_from(["notes", "source"]))
        clean = st.text(max_size=30)
        body[field] = (
            draw(clean) + draw(st.sampled_from(["\x00", "\ud800", "\udfff"])) + draw(clean)
        )
    return encode(body)


# Accepted by the rules, at their edges: the store must take every one of them.
@st.composite
def _valid_edges(draw: st.DrawFn) -> dict[str, Any]:
    duration_s = draw(st.sampled_from([1, 60, 86_400]))
    # The most a workout that long may climb: the rule's own bound (domain/plausibility.py).
    climbable = min(MAX_ELEVATION_GAIN_M, MAX_ELEVATION_GAIN_M_PER_HOUR * duration_s / 3600)
    return {
        "activity": draw(st.sampled_from(list(Activity))),
        "duration_s": duration_s,
        # At most 2 m/s, which every activity allows (and none flags) even over one second.
        "distance_m": draw(st.sampled_from([None, 0.0, 1e-300, 2.0])),
        "elevation_gain_m": draw(st.sampled_from([None, 0.0, climbable])),
        "avg_heart_rate": draw(st.sampled_from([None, 25, 250])),
        "device_calories": draw(st.sampled_from([None, 0.0, 20_000.0])),
        "notes": draw(st.sampled_from([None, "", "🏃" * 2000, "é\u200b\U0010fffd", "x" * 2000])),
    }


valid_edges: st.SearchStrategy[dict[str, Any]] = _valid_edges()


def collected(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """`count` examples of `strategy`, the same on every run, for tests that send them
    through real services rather than calling a function per example."""
    examples: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: Any) -> None:
        examples.append(example)

    collect()
    return examples[:count]


def utc_now() -> datetime:
    return datetime.now(UTC)
