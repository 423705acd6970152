"""What a processed workout tells connected clients: its events and the boards it moved.

The worker's side of live updates: it translates its own result (`Processed`) into the
live feature's events, so the live feature knows nothing of workouts."""

from __future__ import annotations

from collections.abc import Iterable

from fitboard.application.live.events import (
    LiveEvent,
    rank_overtaken,
    rank_update,
    workout_processed,
)
from fitboard.application.workouts.processing import Processed
from fitboard.domain.boards import BoardKey


def events_of(processed: Processed) -> list[LiveEvent]:
    """Every event one processed workout causes, in the order clients should see them:
    its own result first, then the athlete's ranks, then whom they passed."""
    athlete = processed.workout.user_id
    events = [workout_processed(processed.workout)]
    events += [
        rank_update(athlete, change.key, change.previous, change.current)
        for change in processed.rank_changes
    ]
    events += [
        rank_overtaken(o.key, o.passed, athlete, processed.display_name or str(athlete))
        for o in processed.overtaken
    ]
    return events


def moved_boards(batch: Iterable[Processed]) -> list[BoardKey]:
    """Board instances whose snapshot a batch of processed workouts may have changed, each
    once, in the order first moved. A workout that counts on boards moves all it was
    projected to (even when redelivered: the first delivery may have died before telling
    anyone, and snapshots are coalesced, so telling twice costs little)."""
    # A worker's workouts name the same key objects again and again (`updates_for` makes
    # each instance's keys once per process), so they are told apart by identity first,
    # which costs far less than hashing a key; equal keys that are distinct objects are
    # then merged by `dict.fromkeys`. `keys` holds every key, so no id is reused meanwhile.
    keys: dict[int, BoardKey] = {}
    for processed in batch:
        if processed.workout.counts_on_boards:
            for update in processed.updates:
                keys[id(update.key)] = update.key
        else:
            for change in processed.rank_changes:
                keys[id(change.key)] = change.key
    return list(dict.fromkeys(keys.values()))
