"""Running a consumer: the one place that decides between ack, retry and dead letter.

* success → ack;
* PermanentFailure (a message that can never be processed) → dead letter with its reason;
* anything else (database or Redis unreachable, a bug) → retry with exponential backoff,
  and once the queue's attempts are used up → dead letter with the last error.

A worker never dies on a bad message; it only stops when asked to.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fitboard.application.errors import PermanentFailure
from fitboard.application.ports import Delivery, MessageBroker, QueueSpec

log = logging.getLogger(__name__)

Handler = Callable[[Delivery], Awaitable[None]]


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.5
    factor: float = 4.0
    max_s: float = 60.0

    def delay(self, attempt: int) -> float:
        return float(min(self.max_s, self.base_s * self.factor ** max(0, attempt - 1)))


async def handle_delivery(
    delivery: Delivery, handler: Handler, spec: QueueSpec, backoff: Backoff
) -> str:
    """Run the handler on one delivery and settle it. Returns what was done."""
    try:
        await handler(delivery)
    except PermanentFailure as failure:
        log.warning("dead-lettering %s: %s", delivery.message.message_id, failure.reason)
        await delivery.dead_letter(failure.reason)
        return "dead_lettered"
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if delivery.attempt >= spec.max_attempts:
            log.error(
                "giving up on %s after %d attempts: %s",
                delivery.message.message_id,
                delivery.attempt,
                reason,
            )
            await delivery.dead_letter(f"failed {delivery.attempt} times; last error: {reason}")
            return "dead_lettered"
        delay = backoff.delay(delivery.attempt)
        log.info(
            "retrying %s in %.1fs (attempt %d): %s",
            delivery.message.message_id,
            delay,
            delivery.attempt,
            reason,
        )
        await delivery.retry(reason, delay)
        return "retried"
    await delivery.ack()
    return "acked"


async def run_consumer(
    broker: MessageBroker,
    spec: QueueSpec,
    handler: Handler,
    *,
    prefetch: int,
    stop: asyncio.Event,
    backoff: Backoff | None = None,
) -> None:
    """Consume until `stop` is set, handling up to `prefetch` deliveries concurrently.

    On stop, no new delivery is taken; those in progress are finished and settled, and
    whatever the broker had prefetched but not handed out is returned to the queue when
    the consumer closes."""
    policy = backoff or Backoff()
    in_progress: set[asyncio.Task[str]] = set()
    slots = asyncio.Semaphore(prefetch)
    deliveries = broker.consume(spec, prefetch)
    stop_waiter = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            next_delivery = asyncio.ensure_future(anext(deliveries))
            done, _ = await asyncio.wait(
                {next_delivery, stop_waiter}, return_when=asyncio.FIRST_COMPLETED
            )
            if next_delivery not in done:
                # Settle what is in hand first: cancelling the pending step ends the
                # consumer's session, and a delivery that outlives it cannot be acked any
                # more; it would go back to the queue and be processed a second time.
                if in_progress:
                    await asyncio.gather(*in_progress, return_exceptions=True)
                # The generator must finish its cancelled step before it can be closed. A
                # delivery it took meanwhile is not handled: closing the generator below
                # returns it to the queue.
                next_delivery.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await next_delivery
                break
            delivery = next_delivery.result()
            await slots.acquire()
            task = asyncio.create_task(_settle(delivery, handler, spec, policy, slots))
            in_progress.add(task)
            task.add_done_callback(in_progress.discard)
    except StopAsyncIteration:
        pass
    finally:
        stop_waiter.cancel()
        if in_progress:
            await asyncio.gather(*in_progress, return_exceptions=True)
        await deliveries.aclose()  # type: ignore[attr-defined]


async def _settle(
    delivery: Delivery,
    handler: Handler,
    spec: QueueSpec,
    backoff: Backoff,
    slots: asyncio.Semaphore,
) -> str:
    try:
        return await handle_delivery(delivery, handler, spec, backoff)
    except Exception:
        # Settling itself failed (the broker went away): the unacked message will be
        # delivered again, which processing is built to survive.
        log.exception("could not settle %s", delivery.message.message_id)
        return "unsettled"
    finally:
        slots.release()
