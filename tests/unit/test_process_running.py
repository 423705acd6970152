"""entrypoints/process.py `running`: its shutdown cannot lose a cancellation of its own
(Python 3.11's `wait_for` returns its result instead of raising when the waiting task is
cancelled once what it waits for is done but before the task resumed, CPython gh-86296),
and names the tasks that did not stop in time. Each test is bounded."""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace
from typing import cast

import pytest

from fitboard.bootstrap import Container, Task
from fitboard.entrypoints.process import running
from tests.lost_cancellation import ends

CONTAINER = cast(Container, SimpleNamespace(background=[Task.WORKER]))


async def stops_when_told(_: Container, stop: asyncio.Event) -> None:
    await stop.wait()


async def never_stops(_: Container, stop: asyncio.Event) -> None:
    await asyncio.Event().wait()


async def test_a_cancellation_as_the_tasks_end_cancels_the_shutdown() -> None:
    went_on = asyncio.Event()
    sent: list[bool] = []

    async def serving() -> None:
        host = asyncio.current_task()
        assert host is not None
        loop = asyncio.get_running_loop()
        async with running(CONTAINER, {Task.WORKER: stops_when_told}, stop_within_s=10) as (
            worker,
        ):
            # Once the worker has ended, the shutdown's wait is woken, and the host is
            # cancelled in a later step, before it resumes: the moment `wait_for` loses it.
            worker.add_done_callback(lambda _: loop.call_soon(lambda: sent.append(host.cancel())))
        went_on.set()

    host = asyncio.create_task(serving())
    assert await ends(host)
    assert sent == [True], "the cancellation came once the host had ended"
    assert not went_on.is_set(), "the host went on past its shutdown as if never cancelled"
    assert host.cancelled()


async def test_the_tasks_that_did_not_stop_in_time_are_named(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def serving() -> None:
        async with running(CONTAINER, {Task.WORKER: never_stops}, stop_within_s=0.05):
            pass

    with caplog.at_level(logging.ERROR, logger="fitboard.entrypoints.process"):
        host = asyncio.create_task(serving())
        assert await ends(host)
    host.result()
    assert [r.getMessage() for r in caplog.records] == [
        "background tasks (worker) did not stop in 0.05 s"
    ]
