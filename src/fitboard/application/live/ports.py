"""Live push: what the use cases hand to connected clients."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from fitboard.application.boards.reading import NamedEntry
from fitboard.domain.boards import (
    BoardKey,
)
from fitboard.domain.challenges import Challenge


class LiveNotifier(Protocol):
    """Pushes events to connected clients (Socket.IO), wherever they are connected.

    Best effort by design: the record and the boards are already right when it is called,
    and a client that missed an event catches up with the snapshot it gets on (re)subscribe.
    """

    async def to_athlete(self, user_id: UUID, event: str, payload: dict[str, Any]) -> None:
        """Send `event` to every connection of the athlete, on any API process."""
        ...

    async def boards_moved(self, keys: Sequence[BoardKey]) -> None:
        """Tell every API process that these board instances changed; each one sends its own
        subscribers a coalesced `leaderboard:update` snapshot."""
        ...

    async def challenges_moved(self, challenge_ids: Sequence[UUID]) -> None:
        """The same for challenges' boards: each API process sends the subscribers of each
        challenge a coalesced snapshot of its board."""
        ...

    async def close(self) -> None: ...


class ChallengeBoards(Protocol):
    """What live updates read of challenges (the groups feature's `Challenges`)."""

    async def overlapping(self, since: datetime, until: datetime) -> list[Challenge]:
        """The challenges whose window overlaps [since, until)."""
        ...

    async def top(self, challenge_id: UUID, limit: int) -> list[NamedEntry]:
        """The first `limit` entries of a challenge's board (access checked by the caller)."""
        ...
