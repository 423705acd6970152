"""Bodies over FITBOARD_MAX_BODY_BYTES are refused with 413 before they are read, whether
their length is announced (Content-Length) or not (chunked), with or without a token."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from fitboard.config import Settings
from tests.e2e.conftest import Api, run_at

LIMIT = Settings.model_fields["max_body_bytes"].default
CHUNK = 64 * 1024


async def _chunks(total: int) -> AsyncIterator[bytes]:
    """A body of `total` bytes, streamed: httpx sends no Content-Length for it."""
    sent = 0
    while sent < total:
        size = min(CHUNK, total - sent)
        yield b" " * size
        sent += size


def _refused(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    assert f"{LIMIT} bytes" in response.json()["detail"]


@pytest.mark.parametrize("path", ["/v1/workouts", "/v1/auth/register", "/v1/nowhere"])
async def test_a_body_over_the_limit_with_a_content_length_is_413(api: Api, path: str) -> None:
    token, _ = await api.register("heavy")
    for headers in ({}, api.auth(token)):
        response = await api.client.post(
            path,
            content=b" " * (LIMIT + 1),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert "content-length" in response.request.headers
        _refused(response)


@pytest.mark.parametrize("path", ["/v1/workouts", "/v1/auth/register"])
async def test_a_chunked_body_over_the_limit_is_413(api: Api, path: str) -> None:
    token, _ = await api.register("heavy")
    for headers in ({}, api.auth(token)):
        response = await api.client.post(
            path,
            content=_chunks(LIMIT + CHUNK),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        _refused(response)


async def test_a_chunked_body_within_the_limit_is_read(api: Api) -> None:
    token, _ = await api.register("light")
    body = (
        b'{"activity": "run", "started_at": "' + run_at().encode() + b'", "duration_s": 1800, '
        b'"notes": "' + b"x" * 2000 + b'"}'
    )

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 100):
            yield body[start : start + 100]

    response = await api.client.post(
        "/v1/workouts",
        content=streamed(),
        headers={**api.auth(token), "Content-Type": "application/json"},
    )
    assert response.status_code == 202, response.text
