"""Live updates: what a processed workout tells connected clients, and the board snapshots.

Building events is pure (payloads exactly as in API.md "Live updates"; which events a
processed workout causes is the worker's business, `workouts.announcing`); sending them
goes through the `LiveNotifier` port. Live is a leaf feature: it knows boards (for the
snapshots) and nothing of the workouts that move them. Pushing is best effort: it
runs after the record and the boards are already right, so a failed push is logged and
never retried, and a client that missed something is repaired by the snapshot it gets
when it subscribes again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fitboard.application.boards.reading import Boards, BoardView, NamedEntry
from fitboard.application.live.challenges import LiveChallenges
from fitboard.application.live.ports import LiveNotifier
from fitboard.domain.boards import BoardId, BoardKey, RankedEntry
from fitboard.domain.workouts import Workout

log = logging.getLogger(__name__)

WORKOUT_PROCESSED = "workout:processed"
RANK_UPDATE = "rank:update"
RANK_OVERTAKEN = "rank:overtaken"
ACHIEVEMENT_AWARDED = "achievement:awarded"
ACHIEVEMENT_REVOKED = "achievement:revoked"
LEADERBOARD_UPDATE = "leaderboard:update"

# Entries in a `leaderboard:update` snapshot.
SNAPSHOT_SIZE = 10
# The longest a worker spends pushing one workout's events before it moves on: a live
# backend that hangs must not hold the queue (the acknowledgement waits for the push).
PUSH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class LiveEvent:
    """One event for one athlete's connections."""

    user_id: UUID
    name: str
    payload: dict[str, Any]


def athlete_room(user_id: UUID) -> str:
    return f"athlete:{user_id}"


def board_room(board: BoardId) -> str:
    return f"board:{board.name}"


def challenge_board(challenge_id: UUID) -> str:
    """A challenge's board, as `leaderboard:update` names it; also its room's name."""
    return f"challenge:{challenge_id}"


def challenge_id_of(name: str) -> UUID | None:
    """The challenge a board name names (`challenge_board`), or None if it names none."""
    prefix, _, rest = name.partition(":")
    if prefix != "challenge":
        return None
    try:
        return UUID(rest)
    except ValueError:
        return None


def workout_processed(workout: Workout) -> LiveEvent:
    return LiveEvent(
        workout.user_id,
        WORKOUT_PROCESSED,
        {
            "id": str(workout.id),
            "status": workout.status.value,
            "calories": workout.calories,
            "points": workout.points,
        },
    )


def rank_update(
    user_id: UUID, key: BoardKey, previous: RankedEntry | None, current: RankedEntry
) -> LiveEvent:
    """The athlete's standing on `key` went from `previous` (None: not ranked) to `current`."""
    return LiveEvent(
        user_id,
        RANK_UPDATE,
        {
            "board": key.board.name,
            "period_key": key.period_key,
            "rank": current.rank,
            "previous_rank": previous.rank if previous is not None else None,
            "score": current.score,
        },
    )


def rank_overtaken(
    key: BoardKey, passed: RankedEntry, by_user_id: UUID, by_display_name: str
) -> LiveEvent:
    """`passed`, ahead of `by_user_id` on `key` before, is behind them now."""
    return LiveEvent(
        passed.user_id,
        RANK_OVERTAKEN,
        {
            "board": key.board.name,
            "period_key": key.period_key,
            "rank": passed.rank,
            "by": {"user_id": str(by_user_id), "display_name": by_display_name},
        },
    )


def achievement_awarded(
    user_id: UUID,
    achievement_id: str,
    name: str,
    awarded_at: datetime,
    workout_id: UUID | None,
) -> LiveEvent:
    """For the achievements engine: pass these to `announce(..., extra=[...])`."""
    return LiveEvent(
        user_id,
        ACHIEVEMENT_AWARDED,
        {
            "id": achievement_id,
            "name": name,
            "awarded_at": awarded_at.isoformat(),
            "workout_id": str(workout_id) if workout_id is not None else None,
        },
    )


def achievement_revoked(
    user_id: UUID, achievement_id: str, name: str, revoked_at: datetime, workout_id: UUID
) -> LiveEvent:
    """A personal record taken back: a workout that arrived late shows it never was one."""
    return LiveEvent(
        user_id,
        ACHIEVEMENT_REVOKED,
        {
            "id": achievement_id,
            "name": name,
            "revoked_at": revoked_at.isoformat(),
            "workout_id": str(workout_id),
        },
    )


def leaderboard_update(view: BoardView, version: int) -> dict[str, Any]:
    """The payload of a `leaderboard:update` snapshot."""
    return _snapshot(view.key.board.name, view.key.period_key, view.entries, version)


def challenge_update(
    challenge_id: UUID, entries: Sequence[NamedEntry], version: int
) -> dict[str, Any]:
    """A `leaderboard:update` snapshot of a challenge's board: named `challenge:<id>`, its
    period key the challenge's id (as `GET /v1/challenges/{id}/leaderboard` says)."""
    return _snapshot(challenge_board(challenge_id), str(challenge_id), entries, version)


def _snapshot(
    board: str, period_key: str, entries: Sequence[NamedEntry], version: int
) -> dict[str, Any]:
    return {
        "board": board,
        "period_key": period_key,
        "entries": [
            {
                "rank": e.rank,
                "user_id": str(e.user_id),
                "display_name": e.display_name,
                "score": e.score,
            }
            for e in entries
        ],
        "version": version,
    }


class LiveUpdates:
    """Pushing events to connected clients, and the board snapshots they are sent.

    Without a notifier (a process nobody connects to, and that relays to no one) pushing
    does nothing."""

    def __init__(
        self, notifier: LiveNotifier | None, boards: Boards, challenges: LiveChallenges
    ) -> None:
        self._notifier = notifier
        self._boards = boards
        self._challenges = challenges

    async def push(self, events: Sequence[LiveEvent], moved: Sequence[BoardKey]) -> None:
        """Send `events`, then tell the `moved` board instances and the challenges whose
        boards they move (`LiveChallenges.moved_by`) to every API process."""
        if self._notifier is None:
            return
        for event in events:
            await self._notifier.to_athlete(event.user_id, event.name, event.payload)
        if moved:
            await self._notifier.boards_moved(moved)
            challenges = await self._challenges.moved_by(moved)
            if challenges:
                await self._notifier.challenges_moved(challenges)

    async def announce(
        self,
        events: Sequence[LiveEvent],
        moved: Sequence[BoardKey],
        *,
        about: str,
        timeout_s: float = PUSH_TIMEOUT_S,
    ) -> bool:
        """Push `events` and tell the `moved` boards' rooms, best effort: never raises,
        and gives up after `timeout_s`. False if the push failed (logged, naming `about`:
        what caused the events, e.g. "workout <id>")."""
        try:
            async with asyncio.timeout(timeout_s):
                await self.push(events, moved)
        except Exception:
            log.exception("live push of %s failed; not retried", about)
            return False
        return True

    # These three make it the gateway's `SnapshotSource`.

    def current_period_key(self, board: BoardId) -> str:
        return self._boards.current_key(board).period_key

    async def snapshot(
        self, board: BoardId, version: int, size: int = SNAPSHOT_SIZE
    ) -> dict[str, Any]:
        """The current period's top `size` of a board, read cache-aside like any board
        read (a board missing from the index is rebuilt from the record first). Access is
        checked by the caller, when the client subscribes."""
        view = await self._boards.read_top(self._boards.current_key(board), limit=size)
        return leaderboard_update(view, version)

    async def challenge_snapshot(
        self, challenge_id: UUID, version: int, size: int = SNAPSHOT_SIZE
    ) -> dict[str, Any]:
        """The top `size` of a challenge's board, read from the record. Access is checked by
        the caller, when the client subscribes."""
        return challenge_update(
            challenge_id, await self._challenges.top(challenge_id, size), version
        )
