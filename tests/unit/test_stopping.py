"""adapters/stopping.py: `stop` ends a loop whose cancellation is lost (as Python 3.11's
`wait_for` in redis-py loses one, see the module), waits for it even when the stopper is
cancelled meanwhile and then raises that cancellation, and raises a loop's own failure.
Each test is bounded: a wait that never ends fails it."""

from __future__ import annotations

import asyncio
from contextlib import suppress

import pytest

from fitboard.adapters.stopping import pause, stop


async def deaf_loop(stopping: asyncio.Event, writing: asyncio.Event, gate: asyncio.Event) -> None:
    """A loop whose first cancellation comes while it writes, and is lost there: it goes on,
    pausing between writes, as one over redis-py does."""
    while True:
        writing.set()
        with suppress(asyncio.CancelledError):
            await gate.wait()
        if await pause(3600, stopping):
            return


async def test_a_loop_whose_cancellation_is_lost_ends() -> None:
    stopping, writing, gate = asyncio.Event(), asyncio.Event(), asyncio.Event()
    loop = asyncio.create_task(deaf_loop(stopping, writing, gate))
    await writing.wait()
    stopper = asyncio.create_task(stop([loop], stopping))
    done, _ = await asyncio.wait([stopper], timeout=10)
    assert done, "stop waits for a loop that goes on for ever"
    stopper.result()
    assert loop.done()
    assert not loop.cancelled()  # it ended by its cue, its cancellation lost


async def test_a_stopper_cancelled_meanwhile_is_cancelled_once_the_loop_ended() -> None:
    stopping, gate = asyncio.Event(), asyncio.Event()
    in_flight, told = asyncio.Event(), asyncio.Event()

    async def held_write() -> None:
        # A write that outlasts its cancellation until the gate opens.
        in_flight.set()
        try:
            await gate.wait()
        except asyncio.CancelledError:
            told.set()
            await gate.wait()
            raise

    loop = asyncio.create_task(held_write())
    await in_flight.wait()
    stopper = asyncio.create_task(stop([loop], stopping))
    async with asyncio.timeout(10):
        await told.wait()
    # The stopper waits for the write to end; its own cancellation comes meanwhile.
    stopper.cancel()
    await asyncio.sleep(0)
    assert not stopper.done(), "the stopper left a loop still running"
    gate.set()
    done, _ = await asyncio.wait([stopper], timeout=10)
    assert done
    assert loop.cancelled()
    assert stopper.cancelled(), "the stopper's own cancellation was swallowed"


async def test_a_loop_that_failed_has_its_failure_raised() -> None:
    async def failing() -> None:
        raise RuntimeError("broken loop")

    stopping = asyncio.Event()
    loop = asyncio.create_task(failing())
    await asyncio.wait([loop])
    async with asyncio.timeout(10):
        with pytest.raises(RuntimeError, match="broken loop"):
            await stop([loop], stopping)
    assert stopping.is_set()
