"""Running a process's background tasks: bootstrap says which (`Container.background`),
the entry point hands the runner of each; they run until asked to stop, then each
finishes what it holds.

`fitboard serve` runs them beside the API for as long as the server lives (`running`);
`fitboard worker` and `fitboard reports` run nothing else, until SIGTERM or SIGINT
(`run_until_signalled`)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from typing import Any

from fitboard.bootstrap import Container, Task

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

# How to run one task in a process, until the event is set.
Runner = Callable[[Container, asyncio.Event], Coroutine[Any, Any, None]]
Runners = Mapping[Task, Runner]


@contextlib.asynccontextmanager
async def running(
    container: Container, runners: Runners, *, stop_within_s: float | None = None
) -> AsyncIterator[list[asyncio.Task[None]]]:
    """Start the process's background tasks; on leaving, ask every one to stop and wait
    for them all (at most `stop_within_s`, logging those that did not stop), then raise
    the first failure."""
    missing = [task.value for task in container.background if task not in runners]
    if missing:
        raise RuntimeError(f"this process has no runner for {', '.join(missing)}")
    stop = asyncio.Event()
    started = [
        asyncio.create_task(runners[task](container, stop), name=task.value)
        for task in container.background
    ]
    try:
        yield started
    finally:
        stop.set()
        if started:
            # `asyncio.timeout`, not `wait_for`: cancelled once the tasks had ended but
            # before resuming, Python 3.11's `wait_for` returns their outcomes instead of
            # raising (CPython gh-86296), and whoever cancelled the shutdown would see it
            # go on. Either way, the deadline or a cancellation cancels the gather, which
            # cancels the tasks still running and waits for them to end.
            try:
                async with asyncio.timeout(stop_within_s):
                    outcomes = await asyncio.gather(*started, return_exceptions=True)
            except TimeoutError:
                # Those still running at the deadline ended cancelled by it (one that
                # caught its cancellation and returned is not named).
                late = ", ".join(t.get_name() for t in started if t.cancelled())
                log.error("background tasks (%s) did not stop in %g s", late, stop_within_s)
            else:
                failure = next((o for o in outcomes if isinstance(o, BaseException)), None)
                if failure is not None:
                    raise failure


def tune_garbage_collector(gen0_threshold: int) -> None:
    """Freeze what start-up allocated (modules, the app, the container: long-lived, never
    garbage) so no collection scans it again, and collect the young generation less often,
    so that objects living only through one request, fan-out or batch die by reference
    counting before any collection promotes them towards the old generation, and full
    collections stay rare. The figures are the ones measured in docs/benchmarks.md (an API
    process's fan-out; a worker's batches)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(gen0_threshold, 20, 100)


async def run_until_signalled(container: Container, runners: Runners) -> None:
    """Run the process's background tasks until SIGTERM or SIGINT, or until one of them
    ends (a failure is raised once every other task has stopped).

    The garbage collector is tuned first, once the container is built (its objects are
    frozen with the rest of start-up's): without it a worker spent a quarter to a third
    of its CPU in collections, most of them full ones scanning the same long-lived heap."""
    tune_garbage_collector(container.settings.gc_gen0_threshold)
    signalled = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, signalled.set)
    try:
        async with running(container, runners) as started:
            waiting = asyncio.create_task(signalled.wait())
            try:
                await asyncio.wait([waiting, *started], return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
