"""Every adapter of the `MessageBroker` port, as one parametrised fixture, plus helpers.

The RabbitMQ variant runs on the tests' own vhost (conftest `amqp_url`); every test
declares queues with a unique suffix and the harness deletes them afterwards, so runs
never see each other's messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import ParamSpec

import pytest

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.adapters.queue_sqlite import SqliteBroker
from fitboard.application.messaging.ports import RETRY_DELAYS_S, Delivery, MessageBroker, QueueSpec

QUEUE_ADAPTERS = ["sqlite", pytest.param("rabbitmq", marks=pytest.mark.production)]

# Long enough for a loaded CI machine, short enough that a hang fails the test fast.
WAIT_S = 10.0

_P = ParamSpec("_P")


def bounded(
    seconds: float = 60.0,
) -> Callable[[Callable[_P, Awaitable[None]]], Callable[_P, Awaitable[None]]]:
    """Fail an async test that runs longer than `seconds` instead of hanging the run."""

    def decorate(test: Callable[_P, Awaitable[None]]) -> Callable[_P, Awaitable[None]]:
        @functools.wraps(test)
        async def run(*args: _P.args, **kwargs: _P.kwargs) -> None:
            async with asyncio.timeout(seconds):
                await test(*args, **kwargs)

        return run

    return decorate


class Consumer:
    """Pumps one `consume` generator into a local queue from a task of its own, so a test
    can wait for deliveries with a bound, check that none arrive, and stop the consumer as
    a crash would: without acking what it holds."""

    def __init__(self, broker: MessageBroker, spec: QueueSpec, prefetch: int) -> None:
        self._broker = broker
        self._spec = spec
        self._prefetch = prefetch
        self._received: asyncio.Queue[Delivery] = asyncio.Queue()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        stream = self._broker.consume(self._spec, self._prefetch)
        try:
            async for delivery in stream:
                self._received.put_nowait(delivery)
        finally:
            # A cancelled consumer closes its generator now, not at garbage collection.
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()

    async def next(self, timeout_s: float = WAIT_S) -> Delivery:
        get = asyncio.ensure_future(self._received.get())
        done, _ = await asyncio.wait(
            {get, self._task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if get in done:
            return get.result()
        get.cancel()
        if self._task in done:
            self._task.result()  # re-raise what killed the consumer
            raise AssertionError("the consumer stopped")
        raise AssertionError(f"no delivery within {timeout_s}s")

    async def nothing_within(self, seconds: float) -> bool:
        """True if no delivery arrives for `seconds`."""
        try:
            delivery = await self.next(seconds)
        except AssertionError:
            return True
        self._received.put_nowait(delivery)
        return False

    async def stop(self) -> None:
        """Go away without settling anything still held (a crash, as the broker sees it)."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


class QueueHarness:
    """The broker under test, a way to open more clients of the same queues (another
    process, as far as the queue can tell), and cleanup of everything declared."""

    def __init__(self, kind: str, amqp_url: str | None, directory: Path) -> None:
        self.kind = kind
        self._amqp_url = amqp_url
        self._directory = directory
        self._suffix = uuid.uuid4().hex[:10]
        self._brokers: list[MessageBroker] = []
        self._consumers: list[Consumer] = []
        self._specs: list[QueueSpec] = []
        self.broker = self.open_broker()

    def open_broker(self) -> MessageBroker:
        broker: MessageBroker
        if self.kind == "sqlite":
            broker = SqliteBroker(self._directory / "queue.db", poll_interval_s=0.05)
        elif self.kind == "rabbitmq" and self._amqp_url is not None:
            broker = RabbitBroker(
                self._amqp_url, exchange=f"fitboard.test.{self._suffix}", confirm_timeout_s=5.0
            )
        else:
            raise ValueError(f"no queue adapter {self.kind!r}")
        self._brokers.append(broker)
        return broker

    async def declare(
        self,
        name: str,
        bindings: tuple[str, ...],
        max_attempts: int = 5,
        retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    ) -> QueueSpec:
        spec = QueueSpec(f"{name}.{self._suffix}", bindings, max_attempts, retry_delays_s)
        self._specs.append(spec)
        await self.broker.declare(spec)
        return spec

    def consumer(
        self, spec: QueueSpec, prefetch: int = 1, broker: MessageBroker | None = None
    ) -> Consumer:
        consumer = Consumer(broker or self.broker, spec, prefetch)
        self._consumers.append(consumer)
        return consumer

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.stop()
        if isinstance(self.broker, RabbitBroker):
            for spec in self._specs:
                await self.broker.delete(spec)
            await self.broker.delete_exchanges()
        for broker in self._brokers:
            await broker.close()


@pytest.fixture(name="queues", params=QUEUE_ADAPTERS)
async def queues_fixture(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[QueueHarness]:
    kind: str = request.param
    # Only the RabbitMQ variant asks for its URL, so the SQLite one runs anywhere.
    amqp_url: str | None = request.getfixturevalue("amqp_url") if kind == "rabbitmq" else None
    harness = QueueHarness(kind, amqp_url, tmp_path)
    try:
        yield harness
    finally:
        async with asyncio.timeout(30):
            await harness.close()


async def wait_for_dead_letters(queues: QueueHarness, spec: QueueSpec, count: int) -> None:
    """Until the queue holds at least `count` dead letters: dead-lettering through the
    broker is asynchronous to the consumer's call."""
    async with asyncio.timeout(WAIT_S):
        while True:
            if len(await queues.broker.dead_letters(spec)) >= count:
                return
            await asyncio.sleep(0.1)
