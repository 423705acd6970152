"""The reports consumer and, once a month has closed and its grace window passed, the
writing of its final ranks: run by `fitboard reports` or, in embedded mode, inside
`fitboard serve` (bootstrap lists them among the process's background tasks)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from fitboard.application.messaging.consuming import batch_prefetch, run_batch_consumer
from fitboard.application.ports import PortError
from fitboard.application.reports.monthly import MonthlyReports
from fitboard.bootstrap import Task, consumers_batch_size
from fitboard.entrypoints.process import Runners, run_until_signalled

if TYPE_CHECKING:
    from fitboard.bootstrap import Container

log = logging.getLogger(__name__)

FINALIZE_EVERY_S = 60.0
# Batches handled at once: while one waits on the database, the next is read and parsed.
# Two that share athletes take turns on their rows.
BATCHES_IN_FLIGHT = 2


def monthly_reports(container: Container) -> MonthlyReports:
    """The reports bound to the process's adapters. Here, not in bootstrap's `Services`:
    only the processes that run or serve reports may import them."""
    return MonthlyReports(container.store, container.clock, container.rules.board_zone)


def reports_tasks(reports: MonthlyReports) -> Runners:
    """The reports consumer's tasks, wherever it runs, over one binding of the reports."""
    return {
        Task.REPORTS: lambda container, stop: consume_reports(container, reports, stop),
        Task.FINAL_RANKS: lambda container, stop: finalize_months(container, reports, stop),
    }


async def consume_reports(
    container: Container, reports: MonthlyReports, stop: asyncio.Event
) -> None:
    """Keep the monthly reports from `workout.processed` until `stop` is set: in batches of
    what the queue has ready (`Settings.worker_batch_size`), each one transaction; beside
    the API (embedded `fitboard serve`), paced with the worker to their share of the event
    loop (`Container.loop_share`), in batches of `consumers_batch_size`."""
    # Declared by bootstrap in every process, with the whole topology.
    spec = container.reports_queue
    share = container.loop_share
    batch_size = consumers_batch_size(container.settings, share)
    log.info(
        "reports consumer on %s in batches of up to %d, %d at a time%s",
        spec.name,
        batch_size,
        BATCHES_IN_FLIGHT,
        ""
        if share is None
        else f", paced with the worker to {share.share:.0%} of the event loop"
        f" while the API wants it, in parts of {share.part_size} while it has requests open",
    )
    await run_batch_consumer(
        container.broker,
        spec,
        reports.handle_processed_batch,
        # In events: about that many on RabbitMQ (see the worker's).
        prefetch=batch_prefetch(BATCHES_IN_FLIGHT, batch_size),
        concurrency=BATCHES_IN_FLIGHT,
        batch_size=batch_size,
        stop=stop,
        share=share,
    )


async def finalize_months(
    container: Container, reports: MonthlyReports, stop: asyncio.Event
) -> None:
    """Write the final ranks of each month that closed, now and every FINALIZE_EVERY_S,
    until `stop` is set."""
    grace = timedelta(seconds=container.settings.period_close_grace_s)
    while not stop.is_set():
        try:
            for month, ranked in (await reports.finalize_closed_months(grace)).items():
                if ranked:
                    log.info("final ranks written for %d reports of %s", ranked, month)
        except PortError as exc:
            log.warning("could not finalize closed months yet: %s", exc)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), FINALIZE_EVERY_S)


async def run_reports_process(container: Container) -> None:
    """Until SIGTERM or SIGINT: then finish what is in hand, settle it, and leave."""
    try:
        await run_until_signalled(container, reports_tasks(monthly_reports(container)))
    finally:
        log.info("reports consumer stopped")
