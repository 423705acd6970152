"""Running a consumer: the loop that takes deliveries and settles each one.

Success acks; a failure is settled as `retrying.decide` says (dead letter, counted retry,
or an uncounted wait for a dependency). A worker never dies on a bad message; it only
stops when asked to.

`run_batch_consumer` hands the handler batches of what the broker has ready, a bounded
number at a time (while one waits on the database, another works), from one queue or
several merged (`merged_batches`). A batch that
succeeds is acked in one write. One that fails because a dependency is out
(`retrying.is_transient`) waits as a whole, every message as it would alone; one that
fails otherwise is split in halves, each handled again, until the message at fault stands
alone and is settled as `decide` says: a poison message is isolated and nothing valid is
held back (the handler's work is idempotent, so what a failed batch did before failing is
harmless to do again). A handler that can tell which of its messages failed, and did the
others, raises `PartlyHandled` instead: the others are acked and each failed one settled
as `decide` says, with no batch handled twice.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import types
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Sequence
from typing import Any, TypeVar

from fitboard.application.messaging.errors import PartlyHandled
from fitboard.application.messaging.ports import Delivery, MessageBroker, QueueSpec
from fitboard.application.messaging.retrying import Outcome, decide, is_transient
from fitboard.application.tracing import HEADER, REQUEST_ID

log = logging.getLogger(__name__)

_T = TypeVar("_T")

# Handles every delivery of a batch, or raises: then none of them counts as handled, but
# for `PartlyHandled`, which names the ones that failed.
BatchHandler = Callable[[Sequence[Delivery]], Awaitable[None]]
# Told of every settled delivery, for the process's metrics: the outcome ("acked",
# "retried", "waiting", "dead_lettered", "unsettled"), the seconds it took, and, when its
# handling failed, the failure's cause: the error's class name (a bounded set:
# PermanentFailure for a message that can never be processed, StoreUnavailable and the
# like for a dependency, the class of anything unexpected); None when it did not fail.
OnSettled = Callable[[str, float, str | None], None]
# Told the size of every batch taken, before it is handled, for the process's metrics.
OnBatch = Callable[[int], None]


class LoopShare:
    """Paces a consumer that shares its event loop with other work (the API, in embedded
    mode), so that neither starves the other.

    The consumer's handler runs through `timed`, which adds the processor time each step
    of it takes on the loop (each stretch from one `await` that suspends to the next) to
    the consumer's account. Before the consumer takes a batch it calls `turn`: for every
    second of loop time the consumer used, the others are owed (1 - share) / share
    seconds, less what they used meanwhile (the loop thread's processor time that was not
    the consumer's). A debt is forgiven, and the consumer goes on at once, when the others
    used less than `idle_fraction` of the time since the last turn: nothing else wants
    the loop. Otherwise the consumer waits in slices of `slice_s` while a debt remains,
    and stops as soon as a slice passes in which the others used less than
    `idle_fraction` of it. So under contention the consumer gets about `share` of the
    loop, and all of it when the rest is idle. A share of 1 never waits.

    Several consumers on one loop share one `LoopShare` (embedded mode's worker and reports
    consumer): their steps go to one account and each waits at its own turns, so that
    together they get `share`. Paced apart, each would count the other's loop time as the
    rest's, and the two could take the whole loop between them.

    Both sides are counted in the loop thread's processor time, the consumer's steps too,
    not in wall time: a step's wall time also holds the loop thread's waits for the GIL
    (held by the database threads), which the rest's time, read as the loop thread's
    processor time, cannot. Measured under embedded ingest, the consumers' steps took 1.4
    to 1.7 times their processor time in wall time; charged in wall time, they would have
    left the API credited with a fifth of the loop time it used in one 2.2-second window
    of that run (0.09 s of 0.47), under `idle_fraction` of it: a busy API forgiven as
    idle.
    `time.thread_time` is a system call, two a step; sparing them measured no throughput
    gain (docs/benchmarks.md, session 18).

    A consumer may take bigger batches than it should handle in one go while the rest
    wants the loop: every step of a batch's handling (evaluating its workouts, building
    its statements) runs longer the more the batch holds, and the rest's requests wait
    out each step. `next_part` says how many of a batch's messages to handle next as one
    unit: all that are left while `rest_busy()` says the rest has no work in hand (the
    API no request open), else at most `part_size`, each part after the first taken
    after a `turn`. Handled whole, a batch costs less a message (fewer statements and
    transactions a message); in parts, the rest waits no longer than a part's steps. The
    rest's loop time over the last turn could not tell the two apart: an API whose
    requests wait on the database uses little of the loop but wants it as soon as they
    are answered (docs/benchmarks.md, "Session 27" and "Session 28"). Without
    `part_size` batches are handled whole; without `rest_busy`, in parts always.

    The clocks are injected for tests: `loop_cpu` must measure the processor time of the
    thread the event loop runs in (it is only called there), `clock` the time."""

    def __init__(
        self,
        share: float,
        *,
        part_size: int | None = None,
        rest_busy: Callable[[], bool] | None = None,
        slice_s: float = 0.005,
        idle_fraction: float = 0.1,
        loop_cpu: Callable[[], float] = time.thread_time,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 < share <= 1:
            raise ValueError("the consumer's share of the loop must be in (0, 1]")
        if part_size is not None and part_size < 1:
            raise ValueError("a batch's parts must hold at least one message")
        self.share = share  # as given: the consumers' share of the loop under contention
        self.part_size = part_size
        self._rest_busy = rest_busy
        self._owed_per_s = (1 - share) / share
        self._slice_s = slice_s
        self._idle_fraction = idle_fraction
        self._loop_cpu = loop_cpu
        self._clock = clock
        self._sleep = sleep
        self._used_s = 0.0  # the consumer's loop time, all told
        self._cpu_mark = loop_cpu()
        self._time_mark = clock()
        self._used_mark = 0.0
        self._debt_s = 0.0
        self.waited_s = 0.0  # the slices waited, all told (what a test or a metric reads)

    @property
    def used_s(self) -> float:
        """The consumer's loop time so far."""
        return self._used_s

    def next_part(self, left: int) -> int:
        """How many of the `left` messages of a batch in hand to handle next, as one unit:
        all of them while the rest has no work in hand, else at most `part_size`."""
        if self.part_size is None or (self._rest_busy is not None and not self._rest_busy()):
            return left
        return min(left, self.part_size)

    def timed(self, work: Awaitable[_T]) -> Awaitable[_T]:
        """`work`, with the loop time of each of its steps added to the consumer's."""
        return self._timed(work.__await__())

    @types.coroutine
    def _timed(self, steps: Generator[Any, Any, _T]) -> Generator[Any, Any, _T]:
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            began = self._loop_cpu()
            try:
                if thrown is None:
                    suspended = steps.send(sent)
                else:
                    error, thrown = thrown, None
                    suspended = steps.throw(error)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            finally:
                self._used_s += self._loop_cpu() - began
            try:
                sent = yield suspended
            except GeneratorExit:
                steps.close()
                raise
            except BaseException as error:  # cancellation included: passed on to the work
                thrown = error
                sent = None

    def _settle(self) -> None:
        """Bring the debt up to date: forgiven if the others were idle since the last time
        (used less than `idle_fraction` of it)."""
        cpu, now = self._loop_cpu(), self._clock()
        used = self._used_s - self._used_mark
        others = max(0.0, (cpu - self._cpu_mark) - used)
        idle = others < self._idle_fraction * (now - self._time_mark)
        self._cpu_mark, self._used_mark, self._time_mark = cpu, self._used_s, now
        self._debt_s = 0.0 if idle else max(0.0, self._debt_s + used * self._owed_per_s - others)

    async def turn(self) -> None:
        """Wait, if the others are owed loop time, until they have had it or want none."""
        self._settle()
        while self._debt_s > 0:
            pause = min(self._debt_s, self._slice_s)
            await self._sleep(pause)
            self.waited_s += pause
            self._settle()


async def settle_failure(delivery: Delivery, exc: Exception, spec: QueueSpec) -> str:
    """Settle a delivery whose handling raised `exc` as `retrying.decide` says; returns
    what was done."""
    decision = decide(exc, attempt=delivery.attempt, retries=delivery.retries, spec=spec)
    message_id = delivery.message.message_id
    if decision.outcome is Outcome.DEAD_LETTER:
        log.warning("dead-lettering %s: %s", message_id, decision.reason)
        await delivery.dead_letter(decision.reason)
        return "dead_lettered"
    if decision.outcome is Outcome.WAIT:
        log.info(
            "%s waits %.1fs for a dependency (retry %d): %s",
            message_id,
            decision.delay_s,
            delivery.retries + 1,
            decision.reason,
        )
    else:
        log.info(
            "retrying %s in %.1fs (attempt %d of %d): %s",
            message_id,
            decision.delay_s,
            delivery.attempt,
            spec.max_attempts,
            decision.reason,
        )
    await delivery.retry(decision.reason, decision.delay_s, counted=decision.counted)
    return "retried" if decision.counted else "waiting"


def batch_prefetch(batches_in_flight: int, batch_size: int) -> int:
    """The deliveries a batch consumer lets the broker send ahead (`prefetch`): the batches
    it handles at once and the next one, which arrives while they are handled."""
    return (batches_in_flight + 1) * batch_size


async def merged_batches(
    sources: Sequence[AsyncIterator[Sequence[Delivery]]], max_batch: int
) -> AsyncGenerator[list[Delivery], None]:
    """The batches of several consumers as one stream: each next batch is what they have
    ready, up to `max_batch` deliveries, waiting only for a first one. So a worker that
    consumes several queues (the partitions it owns, and their parent) hands its handler
    batches of what all of them have ready, not one queue's at a time: one consumer per
    queue, each handing its own batches to the handler, cost 60% more CPU a workout
    (docs/benchmarks.md, "Session 25").

    A source is asked for its next batch only when the stream is (each has at most one
    request out, kept across the stream's batches while it waits for a delivery): what
    arrives meanwhile waits in its consumer and comes in one batch, as from one queue.
    Asked again as soon as each batch of theirs was taken, the sources kept taking
    batches of whatever had just arrived, each through the consumer's whole taking of a
    batch: with four partitions two workers drained 1,006 and 1,168 workouts/s at 1.8-1.9
    ms of CPU a workout, against 1,265 at 1.3 unsplit (docs/benchmarks.md, "Session 26").
    What was taken but not handed out when the stream is closed goes back to its queue
    with its consumer. A source that fails ends the stream with its error, once what was
    taken before it is handed out; the stream ends when every source has."""
    idle = list(sources)
    asked: dict[asyncio.Future[Sequence[Delivery]], AsyncIterator[Sequence[Delivery]]] = {}
    pending: collections.deque[Delivery] = collections.deque()
    failed: BaseException | None = None
    try:
        while True:
            if failed is None:
                for source in idle:
                    asked[asyncio.ensure_future(anext(source))] = source
                idle = []
            if not pending:
                if failed is not None:
                    raise failed
                if not asked:
                    return
                await asyncio.wait(asked, return_when=asyncio.FIRST_COMPLETED)
            for answer in [answer for answer in asked if answer.done()]:
                source = asked.pop(answer)
                try:
                    pending.extend(answer.result())
                except StopAsyncIteration:
                    continue
                except Exception as exc:
                    failed = exc
                    continue
                idle.append(source)
            if pending:
                yield [pending.popleft() for _ in range(min(max_batch, len(pending)))]
    finally:
        for answer in asked:
            answer.cancel()
        await asyncio.gather(*asked, return_exceptions=True)
        for source in sources:
            with contextlib.suppress(Exception):
                await source.aclose()  # type: ignore[attr-defined]


async def run_batch_consumer(
    broker: MessageBroker,
    spec: QueueSpec,
    handler: BatchHandler,
    *,
    prefetch: int,
    batch_size: int,
    stop: asyncio.Event,
    also: Sequence[QueueSpec] = (),
    concurrency: int = 1,
    on_settled: OnSettled | None = None,
    on_batch: OnBatch | None = None,
    share: LoopShare | None = None,
    gate: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Consume until `stop` is set, handing `handler` batches of at most `batch_size`
    deliveries (what the broker has ready), up to `concurrency` batches at a time; with
    `share`, the batches' work on the event loop is paced by it, and a batch taken while
    the rest of the process has work in hand is handed over in parts, the rest's turn
    before each (`LoopShare`; each part is settled as a batch of its own). With
    `gate`, each batch is taken only once `gate()` returns (after a slot is free): a
    handler whose batches take turns at one step of it says there when that step is free,
    so that the next batch, taken then, holds everything that arrived meanwhile.

    `also`: more queues consumed into the same batches (`merged_batches`), each with a
    consumer of `prefetch` of its own; their failures are settled as `spec`'s (the
    partitions of `spec`, whose retries and dead letters are its own).

    On stop, no new batch is taken; the batches in hand are finished and settled, and
    whatever the broker had prefetched but not handed out is returned to the queue when
    the consumer closes (on RabbitMQ, a packed message some of whose messages were handed
    out and settled goes back whole: those come again, as after a crash)."""
    in_progress: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(concurrency)
    batches: AsyncIterator[Sequence[Delivery]] = (
        merged_batches(
            [broker.consume_batches(queue, prefetch, batch_size) for queue in (spec, *also)],
            batch_size,
        )
        if also
        else broker.consume_batches(spec, prefetch, batch_size)
    )
    stop_waiter = asyncio.ensure_future(stop.wait())

    async def handle_in_slot(batch: Sequence[Delivery]) -> None:
        if on_batch is not None:
            on_batch(len(batch))
        try:
            if share is None:
                await handle_batch(broker, batch, handler, spec, on_settled)
                return
            done = 0
            while done < len(batch):
                if done:
                    # The first part's turn was taken before the batch.
                    await share.turn()
                part = batch[done : done + share.next_part(len(batch) - done)]
                done += len(part)
                await share.timed(handle_batch(broker, part, handler, spec, on_settled))
        finally:
            slots.release()

    try:
        while not stop.is_set():
            # A batch is taken only when a slot is free to handle it: none waits in hand.
            await slots.acquire()
            if share is not None and not stop.is_set():
                # The rest of the process is owed its turn before the next batch starts.
                await share.turn()
            if gate is not None and not stop.is_set():
                await gate()
            next_batch = asyncio.ensure_future(anext(batches))
            done, _ = await asyncio.wait(
                {next_batch, stop_waiter}, return_when=asyncio.FIRST_COMPLETED
            )
            if next_batch not in done:
                # Stopped: settle what is in hand first; a batch taken meanwhile goes
                # back to the queue.
                if in_progress:
                    await asyncio.gather(*in_progress, return_exceptions=True)
                next_batch.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await next_batch
                break
            task = asyncio.create_task(handle_in_slot(next_batch.result()))
            in_progress.add(task)
            task.add_done_callback(in_progress.discard)
            # One turn of the event loop between batches: whatever shares the process
            # (the API, in embedded mode) is never starved by a long backlog.
            await asyncio.sleep(0)
    except StopAsyncIteration:
        pass
    finally:
        stop_waiter.cancel()
        if in_progress:
            await asyncio.gather(*in_progress, return_exceptions=True)
        await batches.aclose()  # type: ignore[attr-defined]


async def handle_batch(
    broker: MessageBroker,
    deliveries: Sequence[Delivery],
    handler: BatchHandler,
    spec: QueueSpec,
    on_settled: OnSettled | None = None,
) -> None:
    """Run the handler on a batch and settle every delivery of it (see the module)."""
    began = time.perf_counter()

    def settled(part: Sequence[Delivery], outcome: str, cause: str | None = None) -> None:
        if on_settled is not None:
            for _ in part:
                on_settled(outcome, time.perf_counter() - began, cause)

    async def settle_failed(delivery: Delivery, exc: Exception) -> None:
        REQUEST_ID.set(delivery.message.headers.get(HEADER))
        outcome = "unsettled"
        try:
            outcome = await settle_failure(delivery, exc, spec)
        except Exception:
            log.exception("could not settle %s", delivery.message.message_id)
        settled([delivery], outcome, type(exc).__name__)

    async def ack(part: Sequence[Delivery]) -> None:
        try:
            await broker.ack_many(part)
        except Exception:
            # The broker went away: the unacked messages will be delivered again, which
            # processing is built to survive.
            log.exception("could not ack a batch of %d", len(part))
            settled(part, "unsettled")
            return
        settled(part, "acked")

    async def handle(part: Sequence[Delivery]) -> None:
        # A lone message's lines carry the id of the request that sent it; the handler
        # sets each message's own while it works on that one.
        REQUEST_ID.set(part[0].message.headers.get(HEADER) if len(part) == 1 else None)
        try:
            await handler(part)
        except asyncio.CancelledError:
            raise
        except PartlyHandled as partly:
            # The handler did the rest: ack it, and settle each failure on its own.
            handled = [d for i, d in enumerate(part) if i not in partly.failures]
            if handled:
                await ack(handled)
            for index, exc in sorted(partly.failures.items()):
                await settle_failed(part[index], exc)
            return
        except Exception as exc:
            if len(part) > 1 and not is_transient(exc):
                log.info("a batch of %d failed (%s); trying its halves", len(part), exc)
                middle = len(part) // 2
                await handle(part[:middle])
                await handle(part[middle:])
                return
            for delivery in part:
                await settle_failed(delivery, exc)
            return
        await ack(part)

    token = REQUEST_ID.set(None)
    try:
        await handle(deliveries)
    finally:
        REQUEST_ID.reset(token)
