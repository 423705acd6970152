"""The pacing of a consumer that shares its event loop (embedded mode): `LoopShare` owes the
rest of the process loop time in proportion to what the consumer's steps used, waits it
out only while the rest actually uses the loop, and a batch consumer given one waits
between batches. The processor clock and the time are fakes that the test advances: no
timing is asserted."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import pytest

from fitboard.application.messaging.consuming import LoopShare, run_batch_consumer
from fitboard.application.messaging.ports import Delivery, Message, QueueSpec


class FakeLoop:
    """The loop thread's processor clock and the time, advanced by the test: the
    consumer's steps cost what they are given, the rest of the process runs `between`
    seconds of loop time after each of them, and `others_per_s` of every second the
    consumer sleeps."""

    def __init__(self, others_per_s: float, between: float = 0.0) -> None:
        self.cpu = 0.0
        self.now = 0.0
        self.others_per_s = others_per_s
        self.between = between
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.cpu

    def time(self) -> float:
        return self.now

    def run(self, seconds: float) -> None:
        self.cpu += seconds
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.cpu += seconds * self.others_per_s
        await asyncio.sleep(0)


async def consumer_work(loop: FakeLoop, steps: Sequence[float]) -> str:
    """A handler whose steps (separated by real suspensions) cost `steps` of loop time,
    the rest of the process running between them."""
    for cost in steps:
        loop.run(cost)
        # The rest runs while the consumer is suspended, before it resumes.
        asyncio.get_running_loop().call_soon(loop.run, loop.between)
        await asyncio.sleep(0)
    return "done"


def share_of(loop: FakeLoop, share: float) -> LoopShare:
    return LoopShare(share, slice_s=0.005, loop_cpu=loop.clock, clock=loop.time, sleep=loop.sleep)


async def test_timed_work_counts_each_step_and_returns_its_result() -> None:
    loop = FakeLoop(others_per_s=0.0)
    pacer = share_of(loop, 0.5)
    assert await pacer.timed(consumer_work(loop, [0.010, 0.020, 0.005])) == "done"
    assert pacer.used_s == pytest.approx(0.035)


async def test_timed_work_passes_an_error_and_a_cancellation_through() -> None:
    loop = FakeLoop(others_per_s=0.0)
    pacer = share_of(loop, 0.5)

    async def failing() -> None:
        loop.cpu += 0.01
        await asyncio.sleep(0)
        raise ValueError("poison")

    with pytest.raises(ValueError, match="poison"):
        await pacer.timed(failing())
    assert pacer.used_s == pytest.approx(0.01)

    cleaned_up = asyncio.Event()

    async def waits_forever() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cleaned_up.set()

    task = asyncio.ensure_future(pacer.timed(waits_forever()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned_up.is_set()


async def test_under_contention_the_rest_gets_its_share_before_the_next_batch() -> None:
    # The API runs between the consumer's steps and whenever the consumer sleeps.
    loop = FakeLoop(others_per_s=1.0, between=0.0025)
    pacer = share_of(loop, 0.5)
    await pacer.timed(consumer_work(loop, [0.020, 0.020]))
    await pacer.turn()
    # Half each: the rest is owed as much loop time as the consumer used (40 ms), less the
    # 5 ms it had between the steps; it has the rest while the consumer waits.
    assert sum(loop.slept) == pytest.approx(0.035)
    assert max(loop.slept) <= 0.005 + 1e-12


async def test_a_smaller_share_owes_the_rest_more() -> None:
    loop = FakeLoop(others_per_s=1.0, between=0.0025)
    pacer = share_of(loop, 0.2)
    await pacer.timed(consumer_work(loop, [0.010]))
    await pacer.turn()
    assert sum(loop.slept) == pytest.approx(0.0375)  # 4 s for each of the consumer's, less


async def test_when_the_rest_is_idle_the_consumer_has_the_loop_at_once() -> None:
    loop = FakeLoop(others_per_s=0.0)
    pacer = share_of(loop, 0.5)
    await pacer.timed(consumer_work(loop, [0.100]))
    await pacer.turn()
    await pacer.turn()
    assert loop.slept == []


async def test_the_consumer_stops_waiting_once_the_rest_leaves_the_loop_idle() -> None:
    loop = FakeLoop(others_per_s=1.0, between=0.01)
    pacer = share_of(loop, 0.5)
    await pacer.timed(consumer_work(loop, [0.040]))
    loop.others_per_s = 0.05  # the API's requests have ended
    await pacer.turn()
    assert loop.slept == [0.005]


async def test_what_the_rest_used_meanwhile_counts_toward_what_it_is_owed() -> None:
    loop = FakeLoop(others_per_s=1.0)
    pacer = share_of(loop, 0.5)
    await pacer.timed(consumer_work(loop, [0.030]))
    loop.run(0.030)  # the API's requests ran meanwhile
    await pacer.turn()
    assert loop.slept == []


async def test_a_share_of_one_never_waits() -> None:
    loop = FakeLoop(others_per_s=1.0, between=0.01)
    pacer = share_of(loop, 1.0)
    await pacer.timed(consumer_work(loop, [0.5]))
    await pacer.turn()
    assert loop.slept == []


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_a_share_outside_zero_to_one_is_refused(share: float) -> None:
    with pytest.raises(ValueError, match="share of the loop"):
        LoopShare(share)


class FakeDelivery:
    def __init__(self, n: int) -> None:
        self.message = Message(routing_key="workout.submitted", body=b"{}", message_id=str(n))
        self.attempt = 1
        self.retries = 0


class ReadyBroker:
    """Hands out `batches` batches of `size` at once, then nothing; acks are recorded,
    each `ack_many` as one list in `acks`."""

    def __init__(self, batches: int, size: int = 2) -> None:
        self.batches = batches
        self.size = size
        self.acked: list[str] = []
        self.acks: list[list[str]] = []

    async def consume_batches(
        self, spec: QueueSpec, prefetch: int, max_batch: int
    ) -> AsyncIterator[list[FakeDelivery]]:
        for b in range(self.batches):
            yield [FakeDelivery(self.size * b + i) for i in range(self.size)]
        await asyncio.Event().wait()

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        ids = [d.message.message_id for d in deliveries]
        self.acked += ids
        self.acks.append(ids)


async def consume_paced(
    broker: ReadyBroker,
    handler: Callable[[Sequence[Delivery]], Awaitable[None]],
    batch_size: int,
    stop: asyncio.Event,
    pacer: LoopShare,
) -> None:
    """`run_batch_consumer` on `broker`'s batches of `batch_size`, paced by `pacer`."""
    await run_batch_consumer(
        broker,  # type: ignore[arg-type]
        QueueSpec(name="workouts", bindings=("workout.submitted",)),
        handler,
        prefetch=batch_size,
        batch_size=batch_size,
        stop=stop,
        share=pacer,
    )


@pytest.mark.parametrize(
    ("others_per_s", "between", "slices_before_each_batch"),
    [
        # Each batch costs the consumer 20 ms of loop time, of which the rest, having had
        # 5 ms between its steps, is still owed 15 ms: 3 slices of 5 ms before the next.
        pytest.param(1.0, 0.0025, [0, 3, 6, 9, 12], id="rest-busy"),
        # The rest uses no loop time: what it is owed is forgiven, no batch waits.
        pytest.param(0.0, 0.0, [0, 0, 0, 0, 0], id="rest-idle"),
    ],
)
async def test_a_batch_consumer_waits_between_batches_only_while_the_rest_is_busy(
    others_per_s: float, between: float, slices_before_each_batch: list[int]
) -> None:
    loop = FakeLoop(others_per_s=others_per_s, between=between)
    pacer = share_of(loop, 0.5)
    broker = ReadyBroker(batches=5)
    handled: list[int] = []
    stop = asyncio.Event()

    async def handler(batch: Sequence[Delivery]) -> None:
        # Each batch costs 20 ms of loop time, in two steps; the pacer's slices are
        # counted as they are taken, so the waits can be checked against the batches.
        handled.append(len(loop.slept))
        await consumer_work(loop, [0.010, 0.010])
        if len(handled) == 5:
            stop.set()

    await consume_paced(broker, handler, 2, stop, pacer)
    assert broker.acked == [str(n) for n in range(10)]
    # Every batch after the first started only once the rest had had what it was owed;
    # after the last, the consumer stops without waiting.
    assert handled == slices_before_each_batch
    assert len(loop.slept) == slices_before_each_batch[-1]
    assert pacer.waited_s == pytest.approx(0.005 * slices_before_each_batch[-1])


def test_a_batch_is_handled_whole_while_the_rest_has_nothing_in_hand() -> None:
    busy = [False]
    pacer = LoopShare(0.5, part_size=100, rest_busy=lambda: busy[0])
    assert pacer.next_part(500) == 500
    busy[0] = True
    assert pacer.next_part(500) == 100
    assert pacer.next_part(40) == 40


def test_without_a_part_size_whole_and_without_a_sign_of_the_rest_in_parts() -> None:
    assert LoopShare(0.5).next_part(500) == 500
    assert LoopShare(0.5, part_size=100).next_part(500) == 100
    with pytest.raises(ValueError, match="at least one message"):
        LoopShare(0.5, part_size=0)


@pytest.mark.parametrize(
    ("busy_at_each_part", "parts"),
    [
        pytest.param([False], [5], id="rest-idle: whole"),
        pytest.param([True, True, True], [2, 2, 1], id="rest-busy: in parts"),
        # The rest's requests ended after the first part: what is left goes whole.
        pytest.param([True, False], [2, 3], id="rest-done: the rest whole"),
    ],
)
async def test_a_batch_taken_while_the_rest_has_work_in_hand_is_handed_over_in_parts(
    busy_at_each_part: list[bool], parts: list[int]
) -> None:
    loop = FakeLoop(others_per_s=1.0, between=0.0025)
    asked = iter(busy_at_each_part)
    pacer = LoopShare(
        0.5,
        part_size=2,
        rest_busy=lambda: next(asked),
        slice_s=0.005,
        loop_cpu=loop.clock,
        clock=loop.time,
        sleep=loop.sleep,
    )
    broker = ReadyBroker(batches=1, size=5)
    handed: list[list[str]] = []
    slept_before: list[int] = []
    stop = asyncio.Event()

    async def handler(batch: Sequence[Delivery]) -> None:
        handed.append([d.message.message_id for d in batch])
        slept_before.append(len(loop.slept))
        await consumer_work(loop, [0.010])
        if sum(map(len, handed)) == 5:
            stop.set()

    await consume_paced(broker, handler, 5, stop, pacer)
    assert [len(part) for part in handed] == parts
    # In delivery order, each part acked on its own once handled.
    assert [n for part in handed for n in part] == [str(n) for n in range(5)]
    assert broker.acks == handed
    # Each part after the first waited for the rest's turn (it was owed loop time: 10 ms a
    # part, less the 2.5 ms it ran between the part's steps).
    assert slept_before[0] == 0
    assert all(later > earlier for earlier, later in itertools.pairwise(slept_before))
