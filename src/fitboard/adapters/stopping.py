"""Stopping a background loop that talks to Redis, even when its cancellation is lost.

redis-py writes each command through `asyncio.wait_for` when the client has a socket
timeout (fitboard's command clients have one; its pub/sub listeners' have none, a quiet
channel being no dead one), and Python 3.11's `wait_for` returns the write's result
instead of raising `CancelledError` when its task is cancelled once the write is done but
before the task resumed (CPython gh-86296, fixed in 3.12). A loop cancelled at that
moment goes on as if never cancelled, and whoever waits for it to end waits for ever. So
such a loop is also told to stop by an event, set before it is cancelled, which it checks
between its commands (`pause`, or a check of its own); and its stopper waits for it by
`stop`, which also keeps the stopper's own cancellation apart from the loop's (awaiting
a cancelled task swallows a cancellation of the awaiting task with the task's own).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress
from typing import Any

__all__ = ["ended", "pause", "stop"]


async def pause(seconds: float, stopping: asyncio.Event) -> bool:
    """Wait `seconds`, or less if `stopping` is set meanwhile; whether it is set (the
    loop's cue to end). Its own wait cannot lose a cancellation: no `wait_for` in it."""
    with suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stopping.wait()
    return stopping.is_set()


async def ended(task: asyncio.Future[Any]) -> bool:
    """Wait for `task` to end, however often the waiting task is cancelled meanwhile;
    whether it was, for it to raise its cancellation once its clean-up is done. Awaiting
    `task` itself cannot tell a cancellation of the waiter from the task's own: the
    waiter's would be swallowed with the task's."""
    cancelled = False
    while not task.done():
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            cancelled = True
    return cancelled


async def stop(tasks: Sequence[asyncio.Task[Any]], stopping: asyncio.Event | None = None) -> None:
    """Stop `tasks` and wait until they have all ended: `stopping` is set first (a loop
    whose cancellation is lost still ends at its next check of it; None for tasks that
    send nothing through `wait_for`), then each is cancelled (so that a command under way
    stops at once). Once they have, the caller's own cancellation, if one came
    meanwhile, is raised; else the first failure of a task's own."""
    if stopping is not None:
        stopping.set()
    for task in tasks:
        task.cancel()
    cancelled = False
    for task in tasks:
        cancelled = await ended(task) or cancelled
    if cancelled:
        raise asyncio.CancelledError
    for task in tasks:
        if not task.cancelled():
            task.result()  # a failure of the task's own is raised
