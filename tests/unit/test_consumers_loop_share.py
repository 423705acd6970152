"""Embedded `fitboard serve` runs the worker and the monthly reports consumer beside the API
on one event loop: both are paced by one `LoopShare` (bootstrap's `consumers_loop_share`),
so that together they get their share of the loop and the API is not starved by either.
A consumer process of its own is not paced. The processor clock and the time are the
test's fakes (tests/unit/test_loop_share.py): no timing is asserted."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pytest

from fitboard.application.messaging.consuming import LoopShare
from fitboard.application.messaging.ports import Delivery, QueueSpec
from fitboard.bootstrap import consumers_batch_size, consumers_loop_share
from fitboard.config import Settings
from fitboard.entrypoints.reports import runner as reports_runner
from fitboard.entrypoints.worker import runner as worker_runner
from tests.unit.test_loop_share import FakeLoop, ReadyBroker, consumer_work, share_of

if TYPE_CHECKING:
    from fitboard.application.reports.monthly import MonthlyReports
    from fitboard.bootstrap import Container

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_embedded_mode_paces_its_consumers_by_the_setting(tmp_path: Path) -> None:
    share = consumers_loop_share(Settings(mode="embedded", data_dir=tmp_path))
    assert isinstance(share, LoopShare)
    assert share.share == Settings.model_fields["embedded_worker_loop_share"].default
    paced = Settings(mode="embedded", data_dir=tmp_path, embedded_worker_loop_share=0.2)
    assert consumers_loop_share(paced) is not None
    assert consumers_loop_share(paced).share == 0.2  # type: ignore[union-attr]


def test_a_share_of_one_or_a_process_of_its_own_is_not_paced(tmp_path: Path) -> None:
    whole = Settings(mode="embedded", data_dir=tmp_path, embedded_worker_loop_share=1)
    assert consumers_loop_share(whole) is None
    production = Settings(
        mode="production",
        database_url="postgresql+asyncpg://fitboard@127.0.0.1/fitboard",
        redis_url="redis://127.0.0.1:6379/0",
        amqp_url="amqp://fitboard@127.0.0.1/",
        jwt_secret=SECRET,
    )
    assert consumers_loop_share(production) is None


class NoPartitionsLeft:
    """A broker as far as the worker looks for partitions left by a larger setting."""

    async def exists(self, spec: QueueSpec) -> bool:
        return False


def container_with(
    share: LoopShare | None, broker: object = None, worker: object = None
) -> Container:
    """What the consumers read of the container, and nothing else."""
    return cast(
        "Container",
        SimpleNamespace(
            settings=SimpleNamespace(
                worker_batch_size=2, worker_batches_in_flight=1, embedded_idle_batch_size=10
            ),
            broker=broker if broker is not None else NoPartitionsLeft(),
            reports_queue=QueueSpec(name="fitboard.reports", bindings=("workout.processed",)),
            workouts_queue=QueueSpec(name="fitboard.workouts", bindings=("workout.submitted",)),
            workout_partitions=(),
            roster=None,
            services=SimpleNamespace(worker=worker, changes=None),
            clock=None,
            loop_share=share,
        ),
    )


async def test_the_worker_and_the_reports_consumer_are_paced_by_one_share(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: dict[str, Any] = {}

    def recorder(who: str) -> Any:
        async def run_batch_consumer(*args: Any, share: LoopShare | None, **kwargs: Any) -> None:
            handed[who] = share

        return run_batch_consumer

    monkeypatch.setattr(worker_runner, "run_batch_consumer", recorder("worker"))
    monkeypatch.setattr(reports_runner, "run_batch_consumer", recorder("reports"))
    share = LoopShare(0.5)
    container = container_with(share)
    stop = asyncio.Event()
    reports = cast("MonthlyReports", SimpleNamespace(handle_processed_batch=None))
    await worker_runner.consume_workouts(container, stop)
    await reports_runner.consume_reports(container, reports, stop)
    assert handed["worker"] is share
    assert handed["reports"] is share


def test_beside_an_api_batches_are_handed_over_whole_only_while_it_has_no_request_open(
    tmp_path: Path,
) -> None:
    settings = Settings(mode="embedded", data_dir=tmp_path, worker_batch_size=50)
    open_requests = [0]
    share = consumers_loop_share(settings, lambda: open_requests[0] > 0)
    assert share is not None
    # Taken up to the idle size; handed over whole while the API is idle, else in parts
    # of the worker's batch size.
    assert consumers_batch_size(settings, share) == settings.embedded_idle_batch_size == 500
    assert share.next_part(500) == 500
    open_requests[0] = 1
    assert share.next_part(500) == 50
    # A process without an API (an embedded `fitboard worker`) hands its batches over whole.
    alone = consumers_loop_share(settings)
    assert alone is not None
    assert alone.next_part(500) == 500
    # Not paced: batches of the worker's size, taken and handled alike.
    whole = settings.model_copy(update={"embedded_worker_loop_share": 1})
    assert consumers_batch_size(whole, consumers_loop_share(whole)) == 50


def test_a_batch_taken_smaller_than_its_parts_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"FITBOARD_EMBEDDED_IDLE_BATCH_SIZE \(50\) must be"):
        Settings(
            mode="embedded", data_dir=tmp_path, worker_batch_size=100, embedded_idle_batch_size=50
        )


async def test_paced_consumers_take_batches_of_the_idle_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: dict[str, dict[str, Any]] = {}

    def recorder(who: str) -> Any:
        async def run_batch_consumer(*args: Any, **kwargs: Any) -> None:
            handed[who] = kwargs

        return run_batch_consumer

    monkeypatch.setattr(worker_runner, "run_batch_consumer", recorder("worker"))
    monkeypatch.setattr(reports_runner, "run_batch_consumer", recorder("reports"))
    reports = cast("MonthlyReports", SimpleNamespace(handle_processed_batch=None))
    for share, size in ((LoopShare(0.5, part_size=2), 10), (None, 2)):
        container = container_with(share)
        await worker_runner.consume_workouts(container, asyncio.Event())
        await reports_runner.consume_reports(container, reports, asyncio.Event())
        # In batches of `size`: one in flight and one more held (the worker), two in
        # flight and one more (the reports consumer).
        assert [(k["batch_size"], k["prefetch"]) for k in handed.values()] == [
            (size, 2 * size),
            (size, 3 * size),
        ]


async def test_the_worker_handles_as_many_batches_at_once_as_the_setting_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    handed: list[dict[str, Any]] = []

    async def run_batch_consumer(*args: Any, **kwargs: Any) -> None:
        handed.append(kwargs)

    monkeypatch.setattr(worker_runner, "run_batch_consumer", run_batch_consumer)
    container = container_with(None)
    await worker_runner.consume_workouts(container, asyncio.Event())
    container.settings.worker_batches_in_flight = 3
    await worker_runner.consume_workouts(container, asyncio.Event())
    # Its batches in flight, and one more held from the queue, in workouts.
    assert [(k["concurrency"], k["prefetch"], k["batch_size"]) for k in handed] == [
        (1, 4, 2),
        (3, 8, 2),
    ]


class TimedReports:
    """The reports' batch handler, each batch costing 20 ms of loop time in two steps;
    `stop` is set once `batches` have been handled."""

    def __init__(self, loop: FakeLoop, batches: int, stop: asyncio.Event) -> None:
        self.loop = loop
        self.left = batches
        self.stop = stop

    async def handle_processed_batch(self, deliveries: Sequence[Delivery]) -> None:
        await consumer_work(self.loop, [0.010, 0.010])
        self.left -= 1
        if self.left == 0:
            self.stop.set()


async def test_the_reports_consumer_waits_its_turn_while_the_rest_is_busy() -> None:
    # The API runs between the consumer's steps and whenever the consumer waits.
    loop = FakeLoop(others_per_s=1.0, between=0.0025)
    share = share_of(loop, 0.5)
    broker = ReadyBroker(batches=5)
    stop = asyncio.Event()
    reports = TimedReports(loop, 5, stop)
    await reports_runner.consume_reports(
        container_with(share, broker), cast("MonthlyReports", reports), stop
    )
    assert broker.acked == [str(n) for n in range(10)]
    # The reports' batches ran on the share's account, and the consumer waited for the
    # rest's turns between them.
    assert share.used_s == pytest.approx(5 * 0.020)
    assert share.waited_s > 0
    assert loop.slept


class SteppedWorker:
    """The worker's handlers of submissions: each step of each run (named by its first
    message) notes that it began, then waits for the test to let it finish."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.go: dict[str, asyncio.Event] = {}
        self.began = asyncio.Condition()

    async def _step(self, step: str) -> None:
        async with self.began:
            self.steps.append(step)
            self.began.notify_all()
        await self.go.setdefault(step, asyncio.Event()).wait()

    async def process_submitted(self, deliveries: Sequence[Delivery]) -> list[object]:
        await self._step(f"process {deliveries[0].message.message_id}")
        return []

    async def tell_and_publish(self, deliveries: Sequence[Delivery], batch: object) -> None:
        await self._step(f"tell {deliveries[0].message.message_id}")

    def finish(self, step: str) -> None:
        self.go.setdefault(step, asyncio.Event()).set()


def submitted(message_id: str) -> Delivery:
    return cast(
        "Delivery",
        SimpleNamespace(
            message=SimpleNamespace(routing_key="workout.submitted", message_id=message_id)
        ),
    )


async def test_the_worker_processes_one_batch_at_a_time_and_takes_the_next_while_the_last_is_told(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The consumer's gate opens once no batch is being processed: while batch `a` is
    processed it is shut; once `a` is processed, while its athletes are told and its
    `workout.processed` published, it is open, and the next batch `b` is processed
    meanwhile."""
    handed: dict[str, Any] = {}

    async def run_batch_consumer(*args: Any, **kwargs: Any) -> None:
        handed.update(kwargs, handler=args[2])

    monkeypatch.setattr(worker_runner, "run_batch_consumer", run_batch_consumer)
    worker = SteppedWorker()
    container = container_with(None, worker=worker)
    await worker_runner.consume_workouts(container, asyncio.Event())
    handler, gate = handed["handler"], handed["gate"]

    async def until(step: str) -> None:
        async with asyncio.timeout(5), worker.began:
            await worker.began.wait_for(lambda: step in worker.steps)

    await asyncio.wait_for(gate(), 5)  # open: nothing is being processed
    first = asyncio.create_task(handler([submitted("a")]))
    await until("process a")
    looking = asyncio.create_task(gate())
    for _ in range(20):
        await asyncio.sleep(0)
    assert not looking.done(), "the gate opened while a batch was being processed"
    worker.finish("process a")
    await until("tell a")
    await asyncio.wait_for(looking, 5)
    second = asyncio.create_task(handler([submitted("b")]))
    await until("process b")
    # `b` is processed while `a` is still being told.
    assert not first.done()
    for step in ("process b", "tell a", "tell b"):
        worker.finish(step)
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert worker.steps == ["process a", "tell a", "process b", "tell b"]
