"""Every API process reads the queue's depth, the age of the oldest unprocessed workout and
the ranking index's size now and then, for its /metrics: what the broker and Redis know,
that no counter in this process can (how long the backlog is, how long its oldest
workout has waited, how close Redis is to its memory limit)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fitboard.adapters.process_metrics import (
    BOARDS,
    LARGEST_BOARD,
    OLDEST_UNPROCESSED,
    QUEUE_CONSUMERS,
    QUEUE_MESSAGES,
    REDIS_EVICTED,
    REDIS_MEMORY_LIMIT,
    REDIS_MEMORY_USED,
)
from fitboard.application.operations.operating import Operations
from fitboard.application.ports import DependencyUnavailable

log = logging.getLogger(__name__)

# Prometheus scrapes every 15 s or so by default: fresher samples would go unread.
SAMPLE_EVERY_S = 15.0
# The boards and Redis are read one round in twenty (every 5 minutes): counting boards
# SCANs Redis's whole keyspace, which every API process would otherwise do every 15 s.
BOARDS_EVERY_ROUNDS = 20


async def sample_once(operations: Operations, *, boards: bool = True) -> None:
    queue = operations.queue_name
    depth = await operations.queue_depth()
    QUEUE_MESSAGES.labels(queue, "ready").set(depth.ready)
    QUEUE_MESSAGES.labels(queue, "retrying").set(depth.retrying)
    QUEUE_MESSAGES.labels(queue, "dead_letters").set(depth.dead_letters)
    if depth.consumers is not None:
        QUEUE_CONSUMERS.labels(queue).set(depth.consumers)
    OLDEST_UNPROCESSED.set(await operations.oldest_unprocessed_age_s())
    if not boards:
        return
    stats = await operations.board_stats(largest=1)
    BOARDS.set(stats.boards)
    LARGEST_BOARD.set(stats.largest[0][1] if stats.largest else 0)
    if stats.memory_bytes is not None:
        REDIS_MEMORY_USED.set(stats.memory_bytes)
        REDIS_MEMORY_LIMIT.set(stats.memory_limit_bytes or 0)
        REDIS_EVICTED.set(stats.evicted_keys or 0)


async def sample_forever(operations: Operations, stop: asyncio.Event) -> None:
    rounds = 0
    while not stop.is_set():
        try:
            await sample_once(operations, boards=rounds % BOARDS_EVERY_ROUNDS == 0)
        except DependencyUnavailable as exc:
            # /readyz and the request metrics say so already; the gauges keep their last
            # values until the next sample.
            log.warning("could not sample the queue and the boards: %s", exc)
        except Exception:
            # Sampling is for the operator's graphs: whatever goes wrong in it must not end
            # the loop, nor reach the process serving requests.
            log.exception("sampling the queue and the boards failed")
        rounds += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)
