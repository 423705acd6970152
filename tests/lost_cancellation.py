"""For tests of a loop whose cancellation Python 3.11 loses in redis-py (see
adapters/stopping.py): commands seen in the very step of the event loop in which their
write completes, and a bounded wait for a task to end."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import pytest
from redis.asyncio.connection import Connection


class WrittenCommands:
    """Watches the commands redis-py writes through `asyncio.wait_for`, those of clients
    with a socket timeout (a client without one writes its commands itself, unseen).
    `after(packed)`, if given, runs once each write completed, without a pause; a task
    woken by `written` runs before the writing task resumes, so a cancellation it sends
    then is one that Python 3.11's `wait_for` loses."""

    def __init__(
        self,
        monkeypatch: pytest.MonkeyPatch,
        after: Callable[[bytes], Awaitable[None]] | None = None,
    ) -> None:
        self._waiting: tuple[bytes, asyncio.Event] | None = None
        write = Connection._send_packed_command

        async def send(connection: Connection, command: Iterable[bytes]) -> None:
            parts = list(command)
            await write(connection, parts)
            packed = b"".join(parts)
            if after is not None:
                await after(packed)
            if self._waiting is not None and self._waiting[0] in packed:
                self._waiting[1].set()
                self._waiting = None

        monkeypatch.setattr(Connection, "_send_packed_command", send)

    async def written(self, part: bytes) -> None:
        """Wait until the next command holding `part` is written."""
        event = asyncio.Event()
        self._waiting = (part, event)
        await event.wait()


async def ends(task: asyncio.Task[Any], within_s: float = 10) -> bool:
    """Whether `task` ends within `within_s`, waited for by `asyncio.wait` (which cannot
    lose the test's own cancellation); cancelled if not."""
    done, _ = await asyncio.wait([task], timeout=within_s)
    if not done:
        task.cancel()
    return bool(done)
