"""Runs the reports consumer and, once a month has closed and its grace window passed,
writes the final ranks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from datetime import timedelta

from fitboard.application.messaging.consuming import run_consumer
from fitboard.application.messaging.ports import Delivery
from fitboard.application.ports import PortError
from fitboard.application.reports.monthly import (
    ReportDeps,
    finalize_closed_months,
    handle_workout_processed,
    reports_queue,
)
from fitboard.bootstrap import Container

log = logging.getLogger(__name__)

FINALIZE_EVERY_S = 60.0


async def consume_reports(container: Container, stop: asyncio.Event) -> None:
    settings = container.settings
    deps = ReportDeps(container.store, container.clock, container.rules.board_zone)
    spec = reports_queue(settings.namespace, settings.worker_max_attempts)
    await container.broker.declare(spec)

    async def handler(delivery: Delivery) -> None:
        await handle_workout_processed(delivery, deps)

    log.info("reports consumer on %s", spec.name)
    grace = timedelta(seconds=settings.period_close_grace_s)
    finalizer = asyncio.create_task(_finalize_months(deps, grace, stop))
    try:
        await run_consumer(
            container.broker, spec, handler, prefetch=settings.worker_prefetch, stop=stop
        )
    finally:
        finalizer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await finalizer


async def _finalize_months(deps: ReportDeps, grace: timedelta, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            for month, ranked in (await finalize_closed_months(deps, grace)).items():
                if ranked:
                    log.info("final ranks written for %d reports of %s", ranked, month)
        except PortError as exc:
            log.warning("could not finalize closed months yet: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FINALIZE_EVERY_S)


async def run_reports_process(container: Container) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await consume_reports(container, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("reports consumer stopped")
