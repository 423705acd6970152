"""Runs the workout consumer, in its own process (`fitboard worker`) or inside
`fitboard serve` in embedded mode."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

from fitboard.adapters.process_metrics import FRESHNESS, serve_metrics, settled_observer
from fitboard.application.achievements.judging import Awarded
from fitboard.application.live.events import push
from fitboard.application.messaging.consuming import run_consumer
from fitboard.application.messaging.ports import Delivery
from fitboard.application.workouts.handlers import awarded_events, handle_workout_submitted
from fitboard.bootstrap import Container
from fitboard.entrypoints.worker.schedule import run_period_jobs

log = logging.getLogger(__name__)


async def consume_workouts(container: Container, stop: asyncio.Event) -> None:
    deps = container.worker_deps()

    async def handler(delivery: Delivery) -> None:
        processed = await handle_workout_submitted(delivery, deps)
        if not processed.duplicate:
            waited = container.clock.now() - processed.workout.submission.submitted_at
            FRESHNESS.observe(max(waited.total_seconds(), 0.0))

    log.info(
        "worker consuming %s (prefetch %d)",
        container.workouts_queue.name,
        container.settings.worker_prefetch,
    )

    async def announce_placements(awarded: Sequence[Awarded]) -> None:
        if container.live is not None:
            await push(container.live, awarded_events(awarded), [])

    # Placement badges are judged when a period closes, beside every worker (the record's
    # claim makes each period's run happen once).
    periodic = asyncio.create_task(run_period_jobs(container, stop, announce_placements))
    try:
        await run_consumer(
            container.broker,
            container.workouts_queue,
            handler,
            prefetch=container.settings.worker_prefetch,
            stop=stop,
            on_settled=settled_observer(container.workouts_queue.name),
        )
    finally:
        stop.set()
        await periodic


async def run_worker_process(container: Container) -> None:
    """Until SIGTERM or SIGINT: then finish what is in hand, settle it, and leave."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    settings = container.settings
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.host)
        log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
    try:
        await consume_workouts(container, stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("worker stopped")
