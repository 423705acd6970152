"""The worker's handler of the changes to stored workouts (`workout.approved`,
`workout.rejected`, `workout.deleted`, `workout.corrected`): apply the change, tell the
athlete and the boards' watchers live, and publish `workout.processed` so the consumers
that follow workouts (monthly reports) recompute what they keep."""

from __future__ import annotations

import logging

from fitboard.application.live.events import (
    LiveEvent,
    LiveUpdates,
    rank_overtaken,
    rank_update,
    workout_processed,
)
from fitboard.application.messaging.ports import Delivery, MessageBroker
from fitboard.application.workouts.change_messages import decode_change
from fitboard.application.workouts.changes import Changed, WorkoutChanges
from fitboard.application.workouts.handlers import awarded_events, revoked_events
from fitboard.application.workouts.messages import processed_message

log = logging.getLogger(__name__)


class ChangeHandlers:
    """The worker's handler of a change to a stored workout."""

    def __init__(self, changes: WorkoutChanges, broker: MessageBroker, live: LiveUpdates) -> None:
        self._changes = changes
        self._broker = broker
        self._live = live

    async def handle_workout_changed(self, delivery: Delivery) -> Changed:
        change = decode_change(delivery.message)
        changed = await self._changes.apply(change)
        # A push that fails is logged inside and never fails (or retries) the message.
        await self._live.announce(
            events_of_change(changed),
            [u.key for u in changed.updates],
            about=f"{change.kind.value} of workout {change.workout_id}",
        )
        workout = changed.after or changed.before
        if workout is not None:
            # The month's report is rebuilt from the record, whatever the status now.
            earned = [a.rule.id for a in changed.awarded if a.workout_id == workout.id]
            await self._broker.publish(processed_message(workout, earned), mandatory=False)
        log.info(
            "workout %s: %s by %s applied%s",
            change.workout_id,
            change.kind.value,
            change.changed_by,
            " (redelivered)" if changed.duplicate else "",
        )
        return changed


def events_of_change(changed: Changed) -> list[LiveEvent]:
    """What the athlete hears: the workout's new result (unless deleted), their ranks,
    whom they passed (an approval can), and the awards given and taken back."""
    athlete = changed.change.owner
    events: list[LiveEvent] = []
    if changed.after is not None:
        events.append(workout_processed(changed.after))
    events += [rank_update(athlete, c.key, c.previous, c.current) for c in changed.rank_changes]
    events += [
        rank_overtaken(o.key, o.passed, athlete, changed.display_name or str(athlete))
        for o in changed.overtaken
    ]
    return events + awarded_events(changed.awarded) + revoked_events(changed.revoked)
