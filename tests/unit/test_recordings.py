"""The device recording kept with an imported workout: its rules, its place in the v2
message, and when two workouts are the same activity."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.workouts.messages import decode_submission, submission_message
from fitboard.domain.activities import Activity
from fitboard.domain.errors import InvalidField
from fitboard.domain.recordings import FileFormat, Recording, same_activity
from fitboard.domain.workouts import WorkoutSubmission, check_submission

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
START = NOW - timedelta(hours=3)
RECORDING = Recording(
    file_format=FileFormat.FIT,
    file_name="morning.fit",
    file_identity="fit:garmin:1:2026-11-22T09:00:00+00:00",
    device_distance_m=5012.5,
    moving_time_s=1700,
    max_heart_rate=181,
    avg_power_w=240.5,
    avg_cadence=88.0,
)
SUBMISSION = WorkoutSubmission(
    id=uuid.uuid4(),
    user_id=uuid.uuid4(),
    activity=Activity.RUN,
    started_at=START,
    duration_s=1800,
    submitted_at=NOW,
    distance_m=5012.5,
    source="fit",
    recording=RECORDING,
)


def test_an_imported_workout_travels_as_v2_and_comes_back_whole() -> None:
    message = submission_message(SUBMISSION)
    assert json.loads(message.body)["v"] == 2
    assert decode_submission(message, now=NOW, clock_skew_s=300) == SUBMISSION


def test_a_typed_in_workout_is_still_v1_for_workers_that_read_only_v1() -> None:
    message = submission_message(replace(SUBMISSION, recording=None, source="api"))
    body = json.loads(message.body)
    assert body["v"] == 1
    assert "recording" not in body


@pytest.mark.parametrize(
    ("version", "recording", "reason"),
    [
        (1, {}, 'unknown field(s) ["recording"]'),
        (2, "a file", "recording must be an object"),
        (2, {"file_name": "a"}, "recording.file_format must be a string"),
        (2, {"file_format": "kml", "file_name": "a", "file_identity": "b"}, "is not one of"),
        (2, {"file_format": "fit", "file_name": "a", "file_identity": "b", "x": 1}, '["x"]'),
        (
            2,
            {"file_format": "fit", "file_name": "a", "file_identity": "b", "max_heart_rate": "1"},
            "recording.max_heart_rate must be an integer",
        ),
    ],
)
def test_a_bad_recording_in_a_message_is_a_permanent_failure(
    version: int, recording: object, reason: str
) -> None:
    body = json.loads(submission_message(SUBMISSION).body)
    body["v"], body["recording"] = version, recording
    message = replace(submission_message(SUBMISSION), body=json.dumps(body).encode())
    with pytest.raises(PermanentFailure) as caught:
        decode_submission(message, now=NOW, clock_skew_s=300)
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"max_heart_rate": 400}, "max_heart_rate"),
        ({"moving_time_s": 1801}, "moving_time_s"),
        ({"elapsed_time_s": 1799}, "elapsed_time_s"),
        ({"elapsed_time_s": 8 * 24 * 3600}, "elapsed_time_s"),
        ({"avg_power_w": float("nan")}, "avg_power_w"),
        ({"file_name": "x" * 300}, "file_name"),
        ({"file_identity": "a\x00b"}, "file_identity"),
    ],
)
def test_impossible_device_figures_are_refused_by_name(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidField) as caught:
        check_submission(
            replace(SUBMISSION, recording=replace(RECORDING, **change)), clock_skew_s=0
        )
    assert caught.value.field == field


def _same(offset_s: int, duration_s: int, activity: Activity = Activity.RUN) -> bool:
    return same_activity(
        Activity.RUN, START, 1800, activity, START + timedelta(seconds=offset_s), duration_s
    )


def test_the_same_activity_is_the_same_sport_overlapping_at_least_half() -> None:
    assert _same(0, 1800)
    assert _same(60, 1700)  # typed in a minute late, rounded down
    assert _same(900, 1800)  # half of the shorter span overlaps
    assert not _same(901, 1800)
    assert not _same(1800, 600)  # the run straight after
    assert not _same(0, 1800, Activity.CYCLE)
    assert _same(600, 0)  # a zero-length entry inside the span
