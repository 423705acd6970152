"""Live push: what the use cases hand to connected clients."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol
from uuid import UUID

from fitboard.domain.boards import (
    BoardKey,
)


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

    async def close(self) -> None: ...
