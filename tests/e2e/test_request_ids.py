"""One request id follows a workout from the HTTP request through its message to the
worker's log lines; log lines are JSON for machines or text for people."""

from __future__ import annotations

import json
import logging

import pytest

from fitboard.application.tracing import REQUEST_ID
from fitboard.entrypoints.logs import RequestIdFilter, formatter
from tests.e2e.conftest import Api, run_at
from tests.integration.processes import eventually


async def test_the_request_id_reaches_the_workers_lines(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.handler.addFilter(RequestIdFilter())
    caplog.set_level(logging.INFO)
    token, _ = await api.register("ada")
    answer = await api.client.post(
        "/v1/workouts",
        json={"activity": "run", "started_at": run_at(), "duration_s": 1800},
        headers={**api.auth(token), "X-Request-ID": "trace-2026-ada"},
    )
    assert answer.status_code == 202, answer.text
    assert answer.headers["x-request-id"] == "trace-2026-ada"
    workout_id = answer.json()["id"]
    await api.wait_processed(token, workout_id)

    def processed() -> list[logging.LogRecord]:
        return [r for r in caplog.records if f"workout {workout_id} processed" in r.getMessage()]

    # The worker writes that line after the workout is stored (once it is on the boards),
    # so it may come a moment after the record answers.
    await eventually(lambda: bool(processed()), within_s=10)
    assert {getattr(r, "request_id", None) for r in processed()} == {"trace-2026-ada"}


@pytest.mark.parametrize("sent", ["has spaces in it", "x" * 65, "line\\nbreak"])
async def test_an_unacceptable_id_is_replaced(api: Api, sent: str) -> None:
    answer = await api.client.get("/healthz", headers={"X-Request-ID": sent})
    made = answer.headers["x-request-id"]
    assert made != sent
    assert len(made) == 32
    assert (await api.client.get("/healthz")).headers["x-request-id"] != made


def record(message: str) -> logging.LogRecord:
    made = logging.LogRecord("fitboard.test", logging.WARNING, __file__, 1, message, (), None)
    RequestIdFilter().filter(made)
    return made


def test_json_lines_carry_level_logger_message_and_request_id() -> None:
    token = REQUEST_ID.set("trace-json")
    try:
        line = formatter("json").format(record("queue unreachable"))
    finally:
        REQUEST_ID.reset(token)
    parsed = json.loads(line)
    assert parsed["level"] == "WARNING"
    assert parsed["logger"] == "fitboard.test"
    assert parsed["message"] == "queue unreachable"
    assert parsed["request_id"] == "trace-json"
    assert "time" in parsed


def test_text_lines_are_for_people() -> None:
    line = formatter("text").format(record("queue unreachable"))
    assert line.endswith("WARNING fitboard.test [-]: queue unreachable")
