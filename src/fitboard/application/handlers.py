"""Message handlers: plain functions of a delivery and their dependencies."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fitboard.application.messages import decode_submission, processed_message
from fitboard.application.ports import (
    Clock,
    Delivery,
    InFlightWorkouts,
    MessageBroker,
    RankingIndex,
    Store,
)
from fitboard.application.processing import Processed, process_submission
from fitboard.domain.evaluation import Rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerDeps:
    store: Store
    ranking: RankingIndex
    broker: MessageBroker
    inflight: InFlightWorkouts
    clock: Clock
    rules: Rules


async def handle_workout_submitted(delivery: Delivery, deps: WorkerDeps) -> Processed:
    submission = decode_submission(delivery.message)
    processed = await process_submission(
        submission,
        store=deps.store,
        ranking=deps.ranking,
        inflight=deps.inflight,
        clock=deps.clock,
        rules=deps.rules,
    )
    # Other consumers (monthly reports...) subscribe to this; the ingest path never knows.
    await deps.broker.publish(processed_message(processed.workout, []), mandatory=False)
    log.info(
        "workout %s %s: %.0f kcal, %d points%s",
        processed.workout.id,
        processed.workout.status.value,
        processed.workout.calories,
        processed.workout.points,
        " (redelivered)" if processed.duplicate else "",
    )
    return processed
