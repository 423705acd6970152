"""Group commit: callers that arrive together share one durable write.

A caller hands its items to `GroupCommit.submit` and waits. One flusher task takes every
item waiting (up to `max_items` a write) and writes them with one call of the adapter's
`write`: one SQLite transaction, one confirm wait, one Redis pipeline. Items that arrive
while a write is in progress wait for it to end and go together in the next write, so
under load a write carries what arrived during the previous one, and a lone caller waits
for nothing but its own write and `LINGER_S` (1 ms) before it, in which the callers that
arrive just after it join it.

`write` answers one outcome per item, in order: None when that item is durably written,
or the exception that says why not. A caller is answered only once the write that holds
its items has ended, and an exception raised by `write` itself fails every item of that
write and no other.

Each write is measured, labelled by the group commit's name (process_metrics.py): how
many items it held, and how long it took (for a queue's publishes, the time to a
durable commit or the broker's confirm). Both are observed together once the write has
ended, so the two histograms count the same writes.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from fitboard.adapters.process_metrics import GROUP_COMMIT_DURATION, GROUP_COMMIT_ITEMS
from fitboard.application.ports import QueueUnavailable

__all__ = ["GroupCommit", "GroupCommitClosed", "publish_through"]

log = logging.getLogger(__name__)

# How long a write's first item waits for others to join it. Measured (docs/benchmarks.md,
# session 15: `python -m bench --only ingest,drain`, A B B A against one turn of the event
# loop): 32 clients' single submissions went to RabbitMQ as 6,730-6,854 AMQP messages per
# 10,000 instead of 8,494-8,697, the API's and RabbitMQ's CPU per accepted workout fell
# from 1.39-1.43 / 0.56 ms to 1.06-1.11 / 0.38-0.40 ms, and the closed-loop ingest rate and
# p99 stayed within the noise; a lone request waits 1 ms more, well inside the 25 ms p99.
LINGER_S = 0.001

_I = TypeVar("_I")

Outcome = BaseException | None


class GroupCommitClosed(RuntimeError):
    """Submitted after `close`: nothing was written."""


@dataclass
class _Entry(Generic[_I]):
    """One caller's items, written together in one write and answered together."""

    items: Sequence[_I]
    answer: asyncio.Future[list[Outcome]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GroupCommit(Generic[_I]):
    """Coalesces concurrent submissions into writes of at most `max_items` items.

    One caller's items are never split between writes, so `submit_many` is one write
    even when it alone holds more than `max_items`."""

    def __init__(
        self,
        write: Callable[[list[_I]], Awaitable[Sequence[Outcome]]],
        *,
        max_items: int = 256,
        name: str = "group commit",
    ) -> None:
        if max_items < 1:
            raise ValueError("max_items must be at least 1")
        self._write = write
        self._max_items = max_items
        self._name = name
        self._pending: deque[_Entry[_I]] = deque()
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, item: _I) -> None:
        """Return once `item` is durably written; raise the exception that says why it
        is not."""
        (outcome,) = await self.submit_many([item])
        if outcome is not None:
            # Each caller raises an exception of its own: one instance raised in several
            # tasks would collect all their tracebacks.
            raise _own_copy(outcome)

    async def submit_many(self, items: Sequence[_I]) -> list[Outcome]:
        """Write `items` in one write (with whatever else is waiting); one outcome per
        item, in order, once that write has ended."""
        if self._closed:
            raise GroupCommitClosed(f"{self._name} is closed")
        if not items:
            return []
        entry: _Entry[_I] = _Entry(items)
        self._pending.append(entry)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name=self._name)
        # A cancelled caller cancels only its wait: if its items are already being
        # written they are written, exactly as a cancelled single write would have been.
        return await entry.answer

    async def _flush(self) -> None:
        try:
            # Callers that arrive within LINGER_S share this write.
            await asyncio.sleep(LINGER_S)
            while self._pending:
                group = self._take()
                if group:
                    await self._write_group(group)
        finally:
            self._flusher = None
            # Only on cancellation can entries be left behind; never leave a caller waiting.
            while self._pending:
                entry = self._pending.popleft()
                if not entry.answer.done():
                    entry.answer.set_exception(GroupCommitClosed(f"{self._name} stopped"))

    def _take(self) -> list[_Entry[_I]]:
        group: list[_Entry[_I]] = []
        count = 0
        while self._pending:
            entry = self._pending[0]
            if entry.answer.done():
                # Its caller was cancelled before the write began: nothing to write.
                self._pending.popleft()
                continue
            if group and count + len(entry.items) > self._max_items:
                break
            self._pending.popleft()
            group.append(entry)
            count += len(entry.items)
        return group

    async def _write_group(self, group: list[_Entry[_I]]) -> None:
        items = [item for entry in group for item in entry.items]
        began = time.perf_counter()
        try:
            try:
                outcomes = list(await self._write(items))
            finally:
                # Failed writes too: a confirm that timed out is the latency to see.
                self._measure(len(items), time.perf_counter() - began)
            if len(outcomes) != len(items):
                raise RuntimeError(f"{self._name}: {len(outcomes)} outcomes for {len(items)} items")
        except Exception as exc:
            log.debug("%s: a write of %d items failed", self._name, len(items), exc_info=True)
            outcomes = [exc] * len(items)
        except BaseException:
            # The flusher itself is being cancelled (the loop shuts down): its callers must
            # not wait for an answer that will never come. Whether the write happened is
            # unknown, as for a single write cut short.
            for entry in group:
                if not entry.answer.done():
                    entry.answer.set_exception(GroupCommitClosed(f"{self._name} stopped"))
            raise
        start = 0
        for entry in group:
            end = start + len(entry.items)
            if not entry.answer.done():
                entry.answer.set_result(outcomes[start:end])
            start = end

    def _measure(self, items: int, seconds: float) -> None:
        """One write's items and time, observed at one moment, after the write: with no
        await between the two, a scrape served on this event loop (the API's /metrics)
        sees both or neither, never a write in progress counted by one histogram and not
        yet by the other. (A scrape from a metrics thread of its own, `serve_metrics`,
        could still fall between these two calls: a window of two observations, not of
        a write.)"""
        GROUP_COMMIT_ITEMS.labels(self._name).observe(items)
        GROUP_COMMIT_DURATION.labels(self._name).observe(seconds)

    async def close(self) -> None:
        """Refuse new submissions and wait for the writes of those already made."""
        self._closed = True
        flusher = self._flusher
        if flusher is not None:
            await asyncio.shield(flusher)


async def publish_through(
    commit: GroupCommit[_I], items: Sequence[_I], *, closed: str
) -> list[QueueUnavailable | None]:
    """Submit a queue's publishes to its group commit; one outcome per item, in order:
    None when stored, else a QueueUnavailable of that item's own. A closed group commit
    (message `closed`) and any other failure (a bug) also mean the item was not stored."""
    try:
        outcomes = await commit.submit_many(items)
    except GroupCommitClosed as exc:
        refused = QueueUnavailable(closed)
        refused.__cause__ = exc
        outcomes = [refused] * len(items)
    return [None if outcome is None else _as_unavailable(outcome) for outcome in outcomes]


def _as_unavailable(outcome: BaseException) -> QueueUnavailable:
    if isinstance(outcome, QueueUnavailable):
        # Each caller raises an exception of its own (see `GroupCommit.submit`).
        mine = _own_copy(outcome)
        return mine if isinstance(mine, QueueUnavailable) else outcome
    error = QueueUnavailable(f"publish failed: {outcome!r}")
    error.__cause__ = outcome
    return error


def _own_copy(exc: BaseException) -> BaseException:
    """A new exception of the same class and message, caused by `exc`."""
    try:
        mine = copy.copy(exc)
    except Exception:
        return exc
    if mine is exc:
        return exc
    mine.__cause__ = exc
    mine.__traceback__ = None
    return mine
