"""What the queue adapters share on the consuming side."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence
from typing import TypeVar

_D = TypeVar("_D")


async def one_by_one(batches: AsyncGenerator[Sequence[_D], None]) -> AsyncGenerator[_D, None]:
    """The deliveries of `batches`, one at a time: `consume` is `consume_batches` with
    batches of one. Closing this generator closes `batches` (which hands back what it
    holds unsettled)."""
    async with contextlib.aclosing(batches):
        async for batch in batches:
            for delivery in batch:
                yield delivery
