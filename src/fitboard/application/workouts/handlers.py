"""Message handlers: plain functions of a delivery and their dependencies."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from fitboard.application.achievements.judging import Awarded, Revoked
from fitboard.application.boards.ports import RankingIndex
from fitboard.application.live.events import (
    LiveEvent,
    achievement_awarded,
    achievement_revoked,
    announce,
)
from fitboard.application.live.ports import LiveNotifier
from fitboard.application.messaging.ports import Delivery, MessageBroker
from fitboard.application.ports import Clock, Store
from fitboard.application.workouts.messages import decode_submission, processed_message
from fitboard.application.workouts.ports import InFlightWorkouts, ProcessingUnit
from fitboard.application.workouts.processing import Processed, process_submission
from fitboard.domain.achievements import AnyRule
from fitboard.domain.evaluation import Rules

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerDeps:
    store: Store[ProcessingUnit]
    ranking: RankingIndex
    broker: MessageBroker
    inflight: InFlightWorkouts
    clock: Clock
    rules: Rules
    # How far ahead of a submission's own clock a workout may end (Settings.clock_skew_s).
    clock_skew_s: int
    # None in processes that have nobody to push to (maintenance commands).
    live: LiveNotifier | None = None
    achievement_rules: Sequence[AnyRule] = ()


async def handle_workout_submitted(delivery: Delivery, deps: WorkerDeps) -> Processed:
    submission = decode_submission(
        delivery.message, now=deps.clock.now(), clock_skew_s=deps.clock_skew_s
    )
    processed = await process_submission(
        submission,
        store=deps.store,
        ranking=deps.ranking,
        inflight=deps.inflight,
        clock=deps.clock,
        rules=deps.rules,
        achievement_rules=deps.achievement_rules,
    )
    if deps.live is not None:
        # Before publishing `workout.processed`, so the athlete hears as early as possible;
        # a push that fails is logged inside and never fails (or retries) the message.
        extra = awarded_events(processed.awarded) + revoked_events(processed.revoked)
        await announce(processed, deps.live, extra=extra)
    # Other consumers (monthly reports...) subscribe to this; the ingest path never knows.
    earned = [a.rule.id for a in processed.awarded if a.workout_id == processed.workout.id]
    await deps.broker.publish(processed_message(processed.workout, earned), mandatory=False)
    log.info(
        "workout %s %s: %.0f kcal, %d points%s",
        processed.workout.id,
        processed.workout.status.value,
        processed.workout.calories,
        processed.workout.points,
        " (redelivered)" if processed.duplicate else "",
    )
    return processed


def revoked_events(revoked: Sequence[Revoked]) -> list[LiveEvent]:
    return [
        achievement_revoked(r.user_id, r.rule.id, r.rule.name, r.revoked_at, r.workout_id)
        for r in revoked
    ]


def awarded_events(awarded: Sequence[Awarded]) -> list[LiveEvent]:
    return [
        achievement_awarded(a.user_id, a.rule.id, a.rule.name, a.awarded_at, a.workout_id)
        for a in awarded
    ]
