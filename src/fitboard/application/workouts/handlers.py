"""The worker's message handlers, and the live events of achievements."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fitboard.application.achievements.judging import Awarded, Revoked
from fitboard.application.live.events import (
    LiveEvent,
    LiveUpdates,
    achievement_awarded,
    achievement_revoked,
)
from fitboard.application.messaging.ports import Delivery, MessageBroker
from fitboard.application.ports import Clock
from fitboard.application.tracing import HEADER, REQUEST_ID
from fitboard.application.workouts.announcing import events_of, moved_boards
from fitboard.application.workouts.messages import decode_submission, processed_message
from fitboard.application.workouts.processing import Processed, Processing

log = logging.getLogger(__name__)


class WorkoutHandlers:
    """The worker's handler of `workout.submitted`: process the workouts
    (`process_submitted`), then tell the athletes live and publish `workout.processed` for
    the consumers that follow them (`tell_and_publish`)."""

    def __init__(
        self,
        processing: Processing,
        broker: MessageBroker,
        live: LiveUpdates,
        clock: Clock,
        clock_skew_s: int,
    ) -> None:
        self._processing = processing
        self._broker = broker
        self._live = live
        self._clock = clock
        # How far ahead of a submission's own clock a workout may end (Settings.clock_skew_s).
        self._clock_skew_s = clock_skew_s

    async def process_submitted(self, deliveries: Sequence[Delivery]) -> list[Processed]:
        """Process a batch of submissions in one unit (`Processing.process_batch`): then
        they are in the record and on the boards. Raises if it fails (then the batch
        counts as not handled: redelivery, or a smaller batch, does it again, which
        processing is built for)."""
        submissions = [
            decode_submission(d.message, now=self._clock.now(), clock_skew_s=self._clock_skew_s)
            for d in deliveries
        ]
        return await self._processing.process_batch(submissions)

    async def tell_and_publish(
        self, deliveries: Sequence[Delivery], batch: Sequence[Processed]
    ) -> None:
        """Once `batch` is processed (from `deliveries`, in order), tell the athletes live
        in one push and publish their `workout.processed` in one write. Raises if the
        publish fails (as `process_submitted`: the batch is handled again)."""
        # Before publishing `workout.processed`, so the athletes hear as early as possible;
        # a push that fails is logged inside and never fails (or retries) the batch.
        events: list[LiveEvent] = []
        for processed in batch:
            events += events_of(processed)
            events += awarded_events(processed.awarded)
            events += revoked_events(processed.revoked)
        about = f"workout {batch[0].workout.id}" if len(batch) == 1 else f"{len(batch)} workouts"
        await self._live.announce(events, moved_boards(batch), about=about)
        # Other consumers (monthly reports...) subscribe to this; the ingest path never knows.
        published = await self._broker.publish_many(
            [
                processed_message(
                    p.workout, [a.rule.id for a in p.awarded if a.workout_id == p.workout.id]
                )
                for p in batch
            ],
            mandatory=False,
        )
        failed = next((outcome for outcome in published if outcome is not None), None)
        if failed is not None:
            raise failed
        for delivery, processed in zip(deliveries, batch, strict=True):
            REQUEST_ID.set(delivery.message.headers.get(HEADER))
            log.info(
                "workout %s %s: %.0f kcal, %d points%s",
                processed.workout.id,
                processed.workout.status.value,
                processed.workout.calories,
                processed.workout.points,
                " (redelivered)" if processed.duplicate else "",
            )

    async def announce_placements(self, awarded: Sequence[Awarded]) -> None:
        """Tell the athletes placed on a closed period's board (best effort)."""
        await self._live.push(awarded_events(awarded), [])


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
