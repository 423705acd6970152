"""The `recording` object of a v2 workout message: the file a workout came from and its
device's figures (domain.recordings.Recording).

v2 is v1 plus this one optional object. A message with a recording is written as v2, so a
worker that reads only v1 dead-letters it as an unsupported version (replayable once a
newer worker runs) instead of as malformed; a typed-in workout is still written as v1."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from fitboard.application.messaging.errors import PermanentFailure
from fitboard.domain.recordings import FileFormat, Recording

RECORDING_SCHEMA_VERSION = 2

_NUMBERS = ("device_distance_m", "avg_power_w", "avg_cadence")
_INTEGERS = ("moving_time_s", "elapsed_time_s", "max_heart_rate")
_TEXTS = ("file_format", "file_name", "file_identity")
_FIELDS = frozenset(_NUMBERS + _INTEGERS + _TEXTS)


def recording_body(recording: Recording) -> dict[str, Any]:
    return {**asdict(recording), "file_format": recording.file_format.value}


def _malformed(problem: str) -> PermanentFailure:
    return PermanentFailure(f"malformed workout message: recording.{problem}")


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else f"{text[:57]}..."


def decode_recording(value: object) -> Recording | None:
    """The recording of a v2 message (None when absent); PermanentFailure naming the field
    for anything else. Its figures are checked with the workout (check_submission)."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise PermanentFailure(
            f"malformed workout message: recording must be an object, not {_shown(value)}"
        )
    unknown = sorted(set(value) - _FIELDS)
    if unknown:
        raise PermanentFailure(
            f"malformed workout message: recording has unknown field(s) {_shown(unknown)}"
        )
    for name in _TEXTS:
        if not isinstance(value.get(name), str):
            raise _malformed(f"{name} must be a string, not {_shown(value.get(name))}")
    for name in _INTEGERS:
        if value.get(name) is not None and type(value[name]) is not int:
            raise _malformed(f"{name} must be an integer or null, not {_shown(value[name])}")
    for name in _NUMBERS:
        if value.get(name) is not None and type(value[name]) not in (int, float):
            raise _malformed(f"{name} must be a number or null, not {_shown(value[name])}")
    try:
        file_format = FileFormat(value["file_format"])
    except ValueError:
        known = ", ".join(f.value for f in FileFormat)
        raise _malformed(
            f"file_format {_shown(value['file_format'])} is not one of {known}"
        ) from None

    def number(name: str) -> float | None:
        found = value.get(name)
        return None if found is None else float(found)

    return Recording(
        file_format=file_format,
        file_name=value["file_name"],
        file_identity=value["file_identity"],
        device_distance_m=number("device_distance_m"),
        moving_time_s=value.get("moving_time_s"),
        elapsed_time_s=value.get("elapsed_time_s"),
        max_heart_rate=value.get("max_heart_rate"),
        avg_power_w=number("avg_power_w"),
        avg_cadence=number("avg_cadence"),
    )
