"""Closing a worker's Socket.IO manager (write-only, its client with a socket timeout, as
bootstrap builds it) while it publishes, on a real Redis: the publishing task ends even
when its cancellation is lost, though messages keep coming."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from fitboard.adapters.live_socketio import BatchingRedisManager
from tests.lost_cancellation import WrittenCommands, ends
from tests.services.session import SERVICES

pytestmark = pytest.mark.production


async def test_closed_while_a_batch_is_published_the_publishing_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The publisher's cancellation can be lost: redis-py sends a command through
    `asyncio.wait_for` when the client has a socket timeout, as a worker's manager has,
    and Python 3.11's `wait_for` returns the write's result instead of raising when its
    task is cancelled after the write is done but before it resumed (CPython gh-86296,
    fixed in 3.12). Closed at that moment, with events still emitted (by a consumer that
    outlived the process's stop, say), the manager must still stop publishing, not wait
    for a publisher that goes on as long as they come. Deterministic: the close's bounded
    drain ends in the turn of the event loop in which a batch's write completes, and an
    event is emitted with every write."""
    channel = f"test:{uuid.uuid4().hex}:socketio"
    manager = BatchingRedisManager(
        SERVICES.redis_url,
        channel=channel,
        write_only=True,
        redis_options={"socket_timeout": 2, "socket_connect_timeout": 2},
    )

    async def emit(packed: bytes) -> None:
        # An event emitted with every write, queued without a pause: the write's task
        # still ends in this turn.
        await manager.emit("tick", None, namespace="/")

    writes = WrittenCommands(monkeypatch, after=emit)

    async def drained_as_a_batch_is_written(timeout_s: float = 2.0) -> None:
        await writes.written(b"PUBLISH")

    monkeypatch.setattr(manager, "drain", drained_as_a_batch_is_written)
    await manager.emit("tick", None, namespace="/")
    closing = asyncio.create_task(manager.aclose())
    assert await ends(closing), "nothing published, or closing waits for a publisher for ever"
    closing.result()
