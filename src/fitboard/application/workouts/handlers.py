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
from fitboard.application.workouts.announcing import events_of, moved_boards
from fitboard.application.workouts.messages import decode_submission, processed_message
from fitboard.application.workouts.processing import Processed, Processing

log = logging.getLogger(__name__)


class WorkoutHandlers:
    """The worker's handler of `workout.submitted`: process the workout, tell the athlete
    live, and publish `workout.processed` for the consumers that follow it."""

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

    async def handle_workout_submitted(self, delivery: Delivery) -> Processed:
        submission = decode_submission(
            delivery.message, now=self._clock.now(), clock_skew_s=self._clock_skew_s
        )
        processed = await self._processing.process_submission(submission)
        # Before publishing `workout.processed`, so the athlete hears as early as possible;
        # a push that fails is logged inside and never fails (or retries) the message.
        events = [
            *events_of(processed),
            *awarded_events(processed.awarded),
            *revoked_events(processed.revoked),
        ]
        await self._live.announce(
            events, moved_boards(processed), about=f"workout {processed.workout.id}"
        )
        # Other consumers (monthly reports...) subscribe to this; the ingest path never knows.
        earned = [a.rule.id for a in processed.awarded if a.workout_id == processed.workout.id]
        await self._broker.publish(processed_message(processed.workout, earned), mandatory=False)
        log.info(
            "workout %s %s: %.0f kcal, %d points%s",
            processed.workout.id,
            processed.workout.status.value,
            processed.workout.calories,
            processed.workout.points,
            " (redelivered)" if processed.duplicate else "",
        )
        return processed

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
