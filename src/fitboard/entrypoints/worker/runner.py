"""The worker's tasks (consuming submitted workouts, judging closed periods), run by
`fitboard worker` or, in embedded mode, inside `fitboard serve`: bootstrap lists them
among the process's background tasks."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from fitboard.adapters.process_metrics import FRESHNESS, serve_metrics, settled_observer
from fitboard.application.messaging.consuming import run_consumer
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.ports import Delivery
from fitboard.application.workouts.change_messages import CHANGE_ROUTING_KEYS
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED
from fitboard.bootstrap import Task
from fitboard.entrypoints.process import Runners, run_until_signalled
from fitboard.entrypoints.worker.schedule import run_period_jobs

if TYPE_CHECKING:
    from fitboard.bootstrap import Container

log = logging.getLogger(__name__)


async def consume_workouts(container: Container, stop: asyncio.Event) -> None:
    """Process submitted workouts, and changes to stored ones, until `stop` is set."""
    handlers = container.services.worker
    changes = container.services.changes
    clock = container.clock

    async def handler(delivery: Delivery) -> None:
        routing_key = delivery.message.routing_key
        if routing_key in CHANGE_ROUTING_KEYS:
            await changes.handle_workout_changed(delivery)
            return
        if routing_key != WORKOUT_SUBMITTED:
            raise PermanentFailure(f"the workers' queue has no handler for {routing_key!r}")
        processed = await handlers.handle_workout_submitted(delivery)
        if not processed.duplicate:
            waited = clock.now() - processed.workout.submission.submitted_at
            FRESHNESS.observe(max(waited.total_seconds(), 0.0))

    log.info(
        "worker consuming %s (prefetch %d)",
        container.workouts_queue.name,
        container.settings.worker_prefetch,
    )
    await run_consumer(
        container.broker,
        container.workouts_queue,
        handler,
        prefetch=container.settings.worker_prefetch,
        stop=stop,
        on_settled=settled_observer(container.workouts_queue.name),
    )


# The worker's tasks, wherever it runs.
WORKER_TASKS: Runners = {Task.WORKER: consume_workouts, Task.PLACEMENTS: run_period_jobs}


async def run_worker_process(container: Container) -> None:
    """Until SIGTERM or SIGINT: then finish what is in hand, settle it, and leave."""
    settings = container.settings
    if settings.metrics_port:
        serve_metrics(settings.metrics_port, settings.host)
        log.info("metrics on http://%s:%d/metrics", settings.host, settings.metrics_port)
    try:
        await run_until_signalled(container, WORKER_TASKS)
    finally:
        log.info("worker stopped")
