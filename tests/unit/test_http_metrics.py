"""The HTTP counter labels each request with the status its client was answered, and a
request abandoned before any answer (cancelled by the server) with 499, not 500. The
requests open are counted while they are, however they end, Socket.IO's aside."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from starlette.types import Message, Receive, Scope, Send

from fitboard.adapters.process_metrics import HTTP_DURATION, HTTP_REQUESTS
from fitboard.entrypoints.api.http_metrics import (
    CLIENT_CLOSED_REQUEST,
    HttpMetrics,
    OpenRequests,
)


def count(method: str, status: int) -> float:
    value = HTTP_REQUESTS.labels(method, "unmatched", str(status))._value.get()
    return float(value)


def scope(method: str, path: str = "/") -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": []}


async def nothing() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


async def dropped(message: Message) -> None:
    pass


async def test_an_answer_is_counted_with_its_status() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    method = f"M{uuid.uuid4().hex[:6]}"
    await HttpMetrics(app)(scope(method), nothing, dropped)
    assert count(method, 204) == 1


async def test_each_answer_is_counted_and_timed_in_the_series_of_its_status() -> None:
    # One middleware for every request, as in the app: its series found once are reused.
    statuses = [204, 204, 404]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": statuses.pop(0), "headers": []})
        await send({"type": "http.response.body", "body": b""})

    method = f"M{uuid.uuid4().hex[:6]}"
    metrics = HttpMetrics(app)
    for _ in range(3):
        await metrics(scope(method), nothing, dropped)
    assert (count(method, 204), count(method, 404)) == (2, 1)
    timed = next(iter(HTTP_DURATION.labels(method, "unmatched").collect())).samples
    assert next(s.value for s in timed if s.name.endswith("_count")) == 3


async def test_a_request_cancelled_before_its_answer_is_a_499_not_a_500() -> None:
    waiting = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        waiting.set()
        await asyncio.sleep(60)

    method = f"M{uuid.uuid4().hex[:6]}"
    request = asyncio.create_task(HttpMetrics(app)(scope(method), nothing, dropped))
    await waiting.wait()
    request.cancel()
    with pytest.raises(asyncio.CancelledError):
        await request
    assert (count(method, CLIENT_CLOSED_REQUEST), count(method, 500)) == (1, 0)


async def test_an_app_that_fails_before_answering_is_a_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("broken")

    method = f"M{uuid.uuid4().hex[:6]}"
    with pytest.raises(RuntimeError):
        await HttpMetrics(app)(scope(method), nothing, dropped)
    assert count(method, 500) == 1


@pytest.mark.parametrize("ending", ["answered", "failed", "cancelled"])
async def test_a_request_is_open_until_it_ends_however_it_ends(ending: str) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        inside.set()
        await release.wait()
        if ending == "failed":
            raise RuntimeError("broken")
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    open_requests = OpenRequests()
    metrics = HttpMetrics(app, open_requests)
    assert not open_requests.any()
    request = asyncio.create_task(metrics(scope("GET"), nothing, dropped))
    await inside.wait()
    assert open_requests.any()
    assert open_requests.count == 1
    if ending == "cancelled":
        request.cancel()
    else:
        release.set()
    await asyncio.gather(request, return_exceptions=True)
    assert not open_requests.any()
    assert open_requests.count == 0


async def test_socket_io_requests_are_not_counted_open() -> None:
    # A long poll waits for events, using no loop time: the API is not busy with it.
    seen: list[bool] = []
    open_requests = OpenRequests()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(open_requests.any())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    metrics = HttpMetrics(app, open_requests)
    await metrics(scope("GET", "/socket.io/"), nothing, dropped)
    await metrics(scope("GET", "/v1/me"), nothing, dropped)
    assert seen == [False, True]
