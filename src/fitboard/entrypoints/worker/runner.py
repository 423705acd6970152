"""The worker's tasks (consuming submitted workouts, judging closed periods), run by
`fitboard worker` or, in embedded mode, inside `fitboard serve`: bootstrap lists them
among the process's background tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import TYPE_CHECKING, Any

from fitboard.adapters.process_metrics import (
    ACHIEVEMENTS_AWARDED,
    FRESHNESS,
    WORKER_PARTITIONS,
    batch_observer,
    serve_metrics,
    settled_observer,
)
from fitboard.application.messaging.consuming import batch_prefetch, run_batch_consumer
from fitboard.application.messaging.errors import PermanentFailure
from fitboard.application.messaging.partitions import (
    WorkerRoster,
    owned_partitions,
    partitions_beyond,
)
from fitboard.application.messaging.ports import Delivery, QueueSpec
from fitboard.application.ports import PortError
from fitboard.application.workouts.change_messages import CHANGE_ROUTING_KEYS
from fitboard.application.workouts.messages import WORKOUT_SUBMITTED
from fitboard.application.workouts.processing import Processed
from fitboard.bootstrap import Task, consumers_batch_size
from fitboard.entrypoints.process import Runners, run_until_signalled
from fitboard.entrypoints.worker.schedule import run_period_jobs

if TYPE_CHECKING:
    from fitboard.bootstrap import Container

log = logging.getLogger(__name__)


async def consume_workouts(container: Container, stop: asyncio.Event) -> None:
    """Process submitted workouts, and changes to stored ones, until `stop` is set: in
    batches of what the queue has ready (`Settings.worker_batch_size`; beside the API in
    embedded mode, `consumers_batch_size`)."""
    handlers = container.services.worker
    changes = container.services.changes
    clock = container.clock

    # A worker's batches in flight are processed one at a time: the next batch is taken
    # once the one before is processed (`processing_free`, the consumer's gate), while
    # that one's athletes are told, its `workout.processed` published and its messages
    # acked (`Settings.worker_batches_in_flight`).
    processing = asyncio.Lock()

    async def processing_free() -> None:
        async with processing:
            pass

    async def handler(deliveries: Sequence[Delivery]) -> None:
        # Runs of submissions go as one unit each; a change to a stored workout goes on its
        # own, between them, so every message is processed in delivery order. Each run is
        # told and published once all of them are processed.
        done: list[tuple[list[Delivery], list[Processed]]] = []
        async with processing:
            run: list[Delivery] = []
            for delivery in deliveries:
                routing_key = delivery.message.routing_key
                if routing_key == WORKOUT_SUBMITTED:
                    run.append(delivery)
                    continue
                if run:
                    done.append((run, await handlers.process_submitted(run)))
                    run = []
                if routing_key not in CHANGE_ROUTING_KEYS:
                    raise PermanentFailure(f"the workers' queue has no handler for {routing_key!r}")
                await changes.handle_workout_changed(delivery)
            if run:
                done.append((run, await handlers.process_submitted(run)))
        for run, batch in done:
            await handlers.tell_and_publish(run, batch)
            for processed in batch:
                for awarded in processed.awarded:
                    ACHIEVEMENTS_AWARDED.labels(awarded.rule.id).inc()
                if not processed.duplicate:
                    waited = clock.now() - processed.workout.submission.submitted_at
                    FRESHNESS.observe(max(waited.total_seconds(), 0.0))

    settings = container.settings
    # Shared with the reports consumer where both run beside the API.
    share = container.loop_share
    batch_size = consumers_batch_size(settings, share)
    log.info(
        "worker consuming %s in batches of up to %d, %d in flight (processed one at a time)%s",
        container.workouts_queue.name,
        batch_size,
        settings.worker_batches_in_flight,
        ""
        if share is None
        else f", paced with the reports consumer to {share.share:.0%} of the event loop"
        f" while the API wants it, in parts of {share.part_size} while it has requests open",
    )

    async def consume(partitions: Sequence[QueueSpec], until: asyncio.Event) -> None:
        await run_batch_consumer(
            container.broker,
            container.workouts_queue,
            handler,
            also=partitions,
            # In workouts. On RabbitMQ, where one AMQP message may pack up to
            # FITBOARD_QUEUE_ITEMS_PER_MESSAGE workouts, the consumer fits its prefetch count
            # of AMQP messages to the workouts they carry: about this many (up to about twice
            # as many), more for a moment when the queue turns from single workouts to packed
            # ones (docs/deploy.md, "Messages on the queues").
            prefetch=batch_prefetch(settings.worker_batches_in_flight, batch_size),
            concurrency=settings.worker_batches_in_flight,
            batch_size=batch_size,
            stop=until,
            on_settled=settled_observer(container.workouts_queue.name),
            on_batch=batch_observer(container.workouts_queue.name),
            share=share,
            gate=processing_free,
        )

    partitions = container.workout_partitions
    left = await partitions_beyond(container.broker, container.workouts_queue, len(partitions))
    if left:
        log.warning(
            "the workers' queue has partitions beyond FITBOARD_WORKOUT_PARTITIONS=%d, left by "
            "a larger setting: this worker consumes them too (%s)",
            settings.workout_partitions,
            ", ".join(spec.name for spec in left),
        )
    roster = container.roster
    if roster is None or not partitions:
        WORKER_PARTITIONS.set(len(left))
        await consume(left, stop)
        return
    await consume_owned_partitions(partitions, roster, consume, stop, left=left)


# How often a worker reads the roster of live workers, to give up or take partitions as
# workers come and go: a partition whose worker stopped waits up to this long for
# another to take it.
ROSTER_EVERY_S = 2.0


async def consume_owned_partitions(
    partitions: Sequence[QueueSpec],
    roster: WorkerRoster,
    consume: Callable[[Sequence[QueueSpec], asyncio.Event], Coroutine[Any, Any, None]],
    stop: asyncio.Event,
    *,
    left: Sequence[QueueSpec] = (),
    every_s: float = ROSTER_EVERY_S,
) -> None:
    """Consume the queue and the partitions this worker owns (`owned_partitions`), and
    again with the new ones whenever the roster says others: the consumer in hand is
    stopped (its batches finished and settled) and a new one started. While the roster
    is out of reach, a worker keeps the partitions it was dealt last (every partition if
    it has read none yet: `_Dealing`).
    `left`: partitions beyond the deployment's (`partitions_beyond`), consumed always."""
    stopping = asyncio.ensure_future(stop.wait())
    dealing = _Dealing(partitions, roster)
    try:
        while not stop.is_set():
            owned = await dealing.owned()
            log.info(
                "worker consumes %d of %d partitions: %s",
                len(owned),
                len(partitions),
                _listed(owned),
            )
            WORKER_PARTITIONS.set(len(owned) + len(left))
            until = asyncio.Event()
            consumer = asyncio.create_task(consume([*(partitions[i] for i in owned), *left], until))
            changed = False
            try:
                while not changed:
                    await asyncio.wait(
                        {stopping, consumer}, timeout=every_s, return_when=asyncio.FIRST_COMPLETED
                    )
                    if stop.is_set() or consumer.done():
                        break
                    changed = await dealing.owned() != owned
            finally:
                until.set()
                await consumer
            if not changed:
                return  # stopped, or the consumer ended (the broker client closed)
    finally:
        stopping.cancel()
        await roster.leave()


class _Dealing:
    """The partitions this worker owns, as the roster deals them. While the roster is out
    of reach, the ones it owned last: PostgreSQL is then usually out of reach too, so no
    batch could be processed whatever it consumed, and a change would only restart its
    consumers twice (each time handing its prefetched messages back, a delivery counted
    on each). A worker that has not read the roster since it started consumes every
    partition meanwhile, so that none waits for a worker that cannot say it is there.
    Said once when the roster becomes out of reach, and once when it is back."""

    def __init__(self, partitions: Sequence[QueueSpec], roster: WorkerRoster) -> None:
        self._partitions = len(partitions)
        self._roster = roster
        self._unreachable = False
        self._last: tuple[int, ...] | None = None

    async def owned(self) -> tuple[int, ...]:
        try:
            slot = await self._roster.join()
            owned = owned_partitions(self._partitions, slot, await self._roster.live())
        except PortError as exc:
            kept = self._last if self._last is not None else tuple(range(self._partitions))
            if not self._unreachable:
                log.warning(
                    "the worker roster is out of reach (%s): consuming %s until it is back",
                    exc,
                    "every partition"
                    if self._last is None
                    else "the partitions it dealt last (" + _listed(kept) + ")",
                )
            self._unreachable = True
            return kept
        if self._unreachable:
            log.info("the worker roster is back: this worker holds slot %d", slot)
        self._unreachable = False
        self._last = owned
        return owned


def _listed(indexes: Sequence[int]) -> str:
    return ", ".join(str(index) for index in indexes) or "none"


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
