"""Decoding a workout message: the worker holds it to the API's rules, and whatever cannot
ever be processed is a PermanentFailure whose reason names the problem."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.workouts.messages import decode_submission, submission_message
from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.workouts import WorkoutSubmission, check_submission
from tests.message_cases import (
    BAD_CASES,
    BadCase,
    bad_bodies,
    encode,
    json_values,
    message,
    valid_body,
    valid_submission,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
SKEW_S = 300
ATHLETE = uuid.UUID("00000000-0000-4000-8000-000000000001")


def decode(body: bytes, now: datetime = NOW) -> WorkoutSubmission:
    return decode_submission(message(body), now=now, clock_skew_s=SKEW_S)


def test_a_submission_round_trips() -> None:
    sent = valid_submission(
        ATHLETE,
        NOW,
        elevation_gain_m=120.5,
        device_calories=410.0,
        notes="hills 🏔 and a \\ in the notes",
        source="manual",
    )
    assert decode(submission_message(sent).body) == sent


def test_a_submission_message_is_compact_utf8_json_with_its_id() -> None:
    """The body compact (no space outside strings), UTF-8; the message id the workout's."""
    sent = valid_submission(ATHLETE, NOW, notes="a, b: c é 🏔")
    queued = submission_message(sent)
    compact = json.dumps(json.loads(queued.body), separators=(",", ":"), ensure_ascii=False)
    assert queued.body == compact.encode()
    assert '"notes":"a, b: c é 🏔","source"'.encode() in queued.body
    assert queued.message_id == str(sent.id)


def test_moments_keep_their_instant_offset_and_microseconds() -> None:
    """`to_json` writes the moments itself: UTC as "Z", any other offset as it is; the
    worker reads back the same instant with the same offset."""
    zone = timezone(timedelta(hours=-5, minutes=-30))
    started = datetime(2026, 11, 22, 5, 30, 15, 123456, tzinfo=zone)
    sent = valid_submission(ATHLETE, NOW, started_at=started)
    body = submission_message(sent).body
    assert b'"started_at":"2026-11-22T05:30:15.123456-05:30"' in body
    assert b'"submitted_at":"2026-11-22T12:00:00Z"' in body
    got = decode(body)
    assert got == sent
    assert got.started_at.utcoffset() == timedelta(hours=-5, minutes=-30)
    assert got.started_at.microsecond == 123456
    assert got.submitted_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize("indoor", [True, False, None])
def test_the_indoor_flag_round_trips_and_is_left_out_when_unsaid(indoor: bool | None) -> None:
    sent = valid_submission(ATHLETE, NOW, activity=Activity.ROW, indoor=indoor)
    body = submission_message(sent).body
    assert decode(body) == sent
    assert (b'"indoor"' in body) is (indoor is not None)


def test_a_backlog_processed_late_is_judged_against_its_own_submission_time() -> None:
    # Started 4 minutes in the future of the API's clock (within the skew), and processed
    # a day later: still valid, although the worker's own clock has moved on.
    sent = valid_submission(
        ATHLETE, NOW, started_at=NOW + timedelta(minutes=4), duration_s=30, distance_m=100.0
    )
    assert decode(submission_message(sent).body, now=NOW + timedelta(days=1)) == sent


def test_optional_fields_may_be_null_or_absent() -> None:
    body = valid_body(ATHLETE, NOW)
    for field in ("distance_m", "elevation_gain_m", "avg_heart_rate", "device_calories"):
        body[field] = None
    del body["notes"]
    del body["source"]
    decoded = decode(encode(body))
    assert decoded.distance_m is None
    assert decoded.notes is None
    assert decoded.source == "manual"


@pytest.mark.parametrize("source", ["api", "manual"])
def test_a_typed_in_source_queued_before_revision_0009_is_read_as_manual(source: str) -> None:
    """Messages queued by an older API say "api"; they are still processed, as "manual"."""
    assert decode(encode({**valid_body(ATHLETE, NOW), "source": source})).source == "manual"


def test_a_file_format_source_is_kept() -> None:
    assert decode(encode({**valid_body(ATHLETE, NOW), "source": "gpx"})).source == "gpx"


def test_an_integer_distance_is_a_number() -> None:
    decoded = decode(encode({**valid_body(ATHLETE, NOW), "distance_m": 5000}))
    assert decoded.distance_m == 5000.0
    assert isinstance(decoded.distance_m, float)


@pytest.mark.parametrize("case", BAD_CASES, ids=lambda case: case.name)
def test_a_bad_message_is_a_permanent_failure_naming_the_problem(case: BadCase) -> None:
    with pytest.raises(PermanentFailure) as caught:
        decode(case.build(valid_body(ATHLETE, NOW)))
    assert case.reason in caught.value.reason
    # A reason stays readable whatever was sent (5 MB of notes are not repeated in it).
    assert len(caught.value.reason) < 400


def test_a_body_led_by_a_byte_order_mark_is_refused_in_json_loads_words() -> None:
    # The worker decodes with a decoder made once, not json.loads, which refuses a BOM
    # itself before decoding: the reason must stay the one json.loads gave.
    with pytest.raises(PermanentFailure) as caught:
        decode("\ufeff".encode() + encode(valid_body(ATHLETE, NOW)))
    assert "the body is not JSON (Unexpected UTF-8 BOM" in caught.value.reason


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_every_generated_bad_message_is_a_permanent_failure(data: st.DataObject) -> None:
    body = data.draw(bad_bodies(valid_body(ATHLETE, NOW)))
    with pytest.raises(PermanentFailure) as caught:
        decode(body)
    assert caught.value.reason


@settings(max_examples=300, deadline=None)
@given(
    st.binary(max_size=200)
    | json_values.map(encode)
    | st.dictionaries(st.sampled_from(sorted(valid_body(ATHLETE, NOW))), json_values).map(
        lambda changes: encode({**valid_body(ATHLETE, NOW), **changes})
    )
)
def test_anything_on_the_queue_is_either_valid_or_a_permanent_failure(body: bytes) -> None:
    """No body makes decoding fail in another way (which would be retried in vain), and
    what it accepts passes the domain's rules, so the store never sees anything else."""
    try:
        decoded = decode(body)
    except PermanentFailure:
        return
    try:
        check_submission(decoded, clock_skew_s=SKEW_S)
    except InvalidField as invalid:  # pragma: no cover - this is the failure being tested
        pytest.fail(f"decoded a submission the rules refuse: {invalid}")
