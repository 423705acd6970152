"""Messages of changes to stored workouts: what is sent is read back as it was, and a body
that can never be applied is refused with a reason that says what is wrong."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest

from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.ports import Message
from fitboard.application.workouts.change_messages import (
    CHANGE_ROUTING_KEYS,
    WORKOUT_CORRECTED,
    change_message,
    decode_change,
)
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED, workouts_queue
from fitboard.domain.activities import Activity
from fitboard.domain.changes import ChangeKind, Correction, WorkoutChange
from fitboard.domain.errors import InvalidField


def change(kind: ChangeKind, correction: Correction | None = None) -> WorkoutChange:
    return WorkoutChange(
        id=uuid.uuid4(),
        kind=kind,
        workout_id=uuid.uuid4(),
        owner=uuid.uuid4(),
        changed_by=uuid.uuid4(),
        changed_at=datetime(2026, 12, 2, 8, 30, tzinfo=UTC),
        reason="why" if kind.is_decision else None,
        correction=correction,
    )


CORRECTION = Correction(
    given=frozenset({"activity", "distance_m", "notes", "avg_heart_rate"}),
    activity=Activity.WALK,
    distance_m=4200.5,
    notes=None,
    avg_heart_rate=120,
)


@pytest.mark.parametrize("kind", list(ChangeKind))
def test_a_change_is_read_back_as_it_was_sent(kind: ChangeKind) -> None:
    sent = change(kind, CORRECTION if kind is ChangeKind.CORRECT else None)
    message = change_message(sent)
    assert message.message_id == str(sent.id)
    assert decode_change(message) == sent


def test_the_workers_queue_receives_every_kind_of_change() -> None:
    bindings = workouts_queue("fitboard", 5).bindings
    assert bindings == (WORKOUT_SUBMITTED, *CHANGE_ROUTING_KEYS)
    assert len(set(CHANGE_ROUTING_KEYS)) == len(ChangeKind)


def _body(**fields: object) -> bytes:
    good = json.loads(change_message(change(ChangeKind.CORRECT, CORRECTION)).body)
    return json.dumps({**good, **fields}).encode()


@pytest.mark.parametrize(
    ("routing_key", "body", "reason"),
    [
        ("workout.exploded", _body(), "is not a change"),
        (WORKOUT_CORRECTED, b"\xff", "not UTF-8 JSON"),
        (WORKOUT_CORRECTED, b"[]", "must be a JSON object"),
        (WORKOUT_CORRECTED, _body(v=2), "unsupported change schema version 2"),
        (WORKOUT_CORRECTED, _body(v=True), "unsupported change schema version true"),
        (WORKOUT_CORRECTED, _body(extra=1), "unknown field(s) ['extra']"),
        (WORKOUT_CORRECTED, _body(id="nope"), "id 'nope' is not a UUID"),
        (WORKOUT_CORRECTED, _body(changed_at="2026-12-02T08:30:00"), "no time zone offset"),
        (WORKOUT_CORRECTED, _body(reason=3), "reason must be a string"),
        (WORKOUT_CORRECTED, _body(correction=None), "only a correction, carries"),
        (WORKOUT_CORRECTED, _body(correction={}), "correction.body: name at least one"),
        (WORKOUT_CORRECTED, _body(correction={"started_at": "x"}), "correction.started_at"),
        (WORKOUT_CORRECTED, _body(correction={"duration_s": True}), "wrong JSON type"),
        (WORKOUT_CORRECTED, _body(correction={"duration_s": None}), "cannot be cleared"),
        (WORKOUT_CORRECTED, _body(correction={"activity": "fly"}), "'fly' is no activity"),
        (WORKOUT_CORRECTED, b'{"v": NaN}', "NaN is not a JSON number"),
    ],
)
def test_a_change_that_can_never_be_applied_is_refused_saying_why(
    routing_key: str, body: bytes, reason: str
) -> None:
    with pytest.raises(PermanentFailure) as refused:
        decode_change(Message(routing_key, body, "m"))
    assert "malformed workout change message" in refused.value.reason or "version" in reason
    assert reason in refused.value.reason


def test_a_correction_names_only_fields_that_can_be_corrected() -> None:
    with pytest.raises(InvalidField) as refused:
        Correction(given=frozenset({"started_at"}))
    assert refused.value.field == "started_at"
