"""Worker throughput: how fast N `fitboard worker` processes drain a queue already full of
submitted workouts, and the CPU each component spends per workout doing it.

Production mode only (workers are separate processes). The queue is filled through the
API with no worker running, so nothing but the drain competes with the workers for the
cores. Baseline, in the same run: the same number of messages, submitted the same way,
drained by a bare consumer (aio-pika, the same prefetch, an ack and nothing else): the
broker's own floor for taking and settling a message.

Processed: the athletes' scores summed on the `workouts/all/global` board, read through
the API every POLL_S. The window runs from the first read that saw a processed workout to
the read that saw all of them, so the workers' start-up is not counted.

    python -m bench.worker_drain [--workouts 3000] [--workers 1] [--athletes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import aio_pika
import httpx

from bench.common import positive, post_workout, register
from bench.deployment import AMQP_URL, Deployment, deploy
from bench.live_freshness import processed_count
from bench.machine import BACKING, backing_cpu_s

POLL_S = 0.2
FILL_CONCURRENCY = 32
DRAIN_TIMEOUT_S = 600.0
PREFETCH = 16  # the worker's default (FITBOARD_WORKER_PREFETCH)


async def fill(deployment: Deployment, tokens: list[str], workouts: int) -> None:
    """`workouts` submissions, athletes in turn, FILL_CONCURRENCY at a time; every one 202."""
    gate = asyncio.Semaphore(FILL_CONCURRENCY)
    async with httpx.AsyncClient(
        base_url=deployment.api_urls[0], timeout=60, trust_env=False
    ) as http:

        async def one(n: int) -> None:
            async with gate:
                response = await post_workout(http, tokens[n % len(tokens)], minutes=10)
                response.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(workouts)))


async def queue_depth(queue: str) -> int:
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        return declared.declaration_result.message_count or 0
    finally:
        await connection.close()


async def bare_drain(queue: str, messages: int) -> tuple[float, float, float]:
    """Consume and ack `messages` with nothing else done: (seconds from the first delivery
    to the last ack, this process's CPU seconds, RabbitMQ's CPU seconds) over that span."""
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        source = await channel.declare_queue(queue, passive=True)
        done = asyncio.Event()
        seen = 0
        started: tuple[float, float, float] | None = None

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen, started
            if started is None:
                started = (time.monotonic(), time.process_time(), backing_cpu_s()["RabbitMQ"])
            await message.ack()
            seen += 1
            if seen >= messages:
                done.set()

        tag = await source.consume(on_message)
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            await done.wait()
        ended = (time.monotonic(), time.process_time(), backing_cpu_s()["RabbitMQ"])
        await source.cancel(tag)
    finally:
        await connection.close()
    assert started is not None
    wall, cpu, broker = (e - s for e, s in zip(ended, started, strict=True))
    return wall, cpu, broker


async def measure(deployment: Deployment, workouts: int, workers: int, athletes: int) -> None:
    assert deployment.worker_setup is not None
    queue = deployment.worker_setup[2]
    async with httpx.AsyncClient(
        base_url=deployment.api_urls[0], timeout=60, trust_env=False
    ) as http:
        tokens = [(await register(http, "drain"))[0] for _ in range(athletes)]
        reader = await register(http, "reader")
        if await processed_count(http, *reader) is None:
            raise RuntimeError("cannot read the workouts board")

        print(f"worker drain: {workouts} workouts of {athletes} athletes, prefetch {PREFETCH}")
        await fill(deployment, tokens, workouts)
        depth = await queue_depth(queue)
        wall, cpu, broker = await bare_drain(queue, depth)
        print(
            f"  baseline, a bare consumer (ack only): {depth / wall:7.0f} msg/s;"
            f" CPU ms per message: consumer {1000 * cpu / depth:.2f},"
            f" RabbitMQ {1000 * broker / depth:.2f}"
        )

        await fill(deployment, tokens, workouts)
        started = time.monotonic()
        await deployment.start_workers(workers)
        first: tuple[float, int, dict[str, float]] | None = None
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            while True:
                count = await processed_count(http, *reader)
                now = (time.monotonic(), count or 0, deployment.cpu_snapshot())
                if first is None and count:
                    first = now
                if count is not None and count >= workouts:
                    break
                deployment.check_alive()
                await asyncio.sleep(POLL_S)
    assert first is not None
    report(deployment, workouts, started, first, now, depth / wall)


def report(
    deployment: Deployment,
    workouts: int,
    started: float,
    first: tuple[float, int, dict[str, float]],
    last: tuple[float, int, dict[str, float]],
    baseline_rate: float,
) -> None:
    (t0, n0, cpu0), (t1, n1, cpu1) = first, last
    window, done = t1 - t0, n1 - n0
    if done <= 0 or window <= 0:
        print("  nothing measured: every workout was processed before the second read")
        return
    cpu = {k: cpu1[k] - cpu0[k] for k in cpu1}
    rate = done / window
    workers = [s for s in deployment.services if s.role == "worker"]
    print(
        f"  {len(workers)} worker{'s' if len(workers) > 1 else ''}: {rate:7.0f} workouts/s"
        f" ({done} over {window:.1f} s; all {workouts} done {t1 - started:.1f} s after start)"
    )
    print(f"  ratio to the bare consumer: {baseline_rate / rate:.1f}x slower")
    per = {
        "workers": sum(cpu[s.name] for s in workers),
        "API": sum(cpu[s.name] for s in deployment.services if s.role == "api"),
        **{name: cpu[name] for name in BACKING.values()},
    }
    parts = ", ".join(f"{name} {1000 * seconds / done:.2f}" for name, seconds in per.items())
    print(f"  CPU ms per workout: {parts}")
    shares = ", ".join(f"{s.name} {cpu[s.name] / window:.0%}" for s in workers)
    busy = cpu["machine busy"] / cpu["machine total"] if cpu["machine total"] else 0.0
    print(
        f"  worker CPU, share of one core: {shares}; the machine ({os.cpu_count()} cores)"
        f" was {busy:.0%} busy"
    )


async def main(workouts: int, workers: int, athletes: int) -> None:
    async with deploy("production", workers=0) as deployment:
        await measure(deployment, workouts, workers, athletes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workouts", type=positive(int), default=3000)
    parser.add_argument("--workers", type=positive(int), default=1)
    parser.add_argument("--athletes", type=positive(int), default=50)
    args = parser.parse_args()
    asyncio.run(main(args.workouts, args.workers, args.athletes))
