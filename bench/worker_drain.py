"""Worker throughput: how fast N `fitboard worker` processes drain a queue already full of
submitted workouts, and the CPU each component spends per workout doing it.

Production mode only (workers are separate processes). The queue is filled through the
API with no worker running, so nothing but the drain competes with the workers for the
cores. Baseline, in the same run: the same number of workouts, submitted the same way (so
packed the same way, several to an AMQP message where they arrived together), drained by
a bare consumer (aio-pika, the same prefetch, an ack of each AMQP message and nothing
else): the broker's own floor for taking and settling that backlog, per workout.

Then `fitboard reconcile` checks every board against the record. The CPU of every process
(the API, the workers, PostgreSQL, Redis, RabbitMQ; not the load's) is read while the API
accepts the measured backlog and while the workers drain it: their sum per workout is what
a workout costs end to end.

Processed: the athletes' scores summed on the `workouts/all/global` board, read through
the API every POLL_S. The window runs from the first read that saw a processed workout to
the read that saw all of them, so the workers' start-up is not counted.

The backlog's athletes (`--athletes`) submit in turn, so a batch holds as many of them as
it can. Few athletes make every batch of both workers lock the same athlete rows, and the
batches take turns on them (each worker's CPU then stays well below a core); many, as a
real community's backlog would, let the batches run side by side.

The workers' queue may be split in partitions (`--partitions`, which sets
FITBOARD_WORKOUT_PARTITIONS for the API and the workers): the backlog then waits in the
partitions, and the bare consumer drains them all, one consumer each on one channel.

    python -m bench.worker_drain [--workouts 3000] [--workers 1] [--athletes 50]
        [--partitions 1]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from dataclasses import dataclass

import aio_pika
import aiohttp
import httpx

from bench.common import FITBOARD, positive, register, run_main, workout_body
from bench.deployment import AMQP_URL, SERVICE_PORTS, Deployment, _run, deploy
from bench.live_freshness import processed_count, register_athletes
from bench.machine import BACKING, backing_cpu_s
from fitboard.application.messaging.consuming import batch_prefetch
from fitboard.config import Settings

POLL_S = 0.2
FILL_CONCURRENCY = 32
DRAIN_TIMEOUT_S = 600.0
# A worker's prefetch at the defaults.
_DEFAULT = {name: field.default for name, field in Settings.model_fields.items()}
PREFETCH = batch_prefetch(_DEFAULT["worker_batches_in_flight"], _DEFAULT["worker_batch_size"])


async def fill(deployment: Deployment, tokens: list[str], workouts: int) -> None:
    """`workouts` submissions, athletes in turn, by FILL_CONCURRENCY connections each
    sending its next as soon as the last is answered; every one 202.

    aiohttp, as bench/load.py's Hammer: httpx spent 4.4-5.3 ms of this process's CPU a
    request (aiohttp 0.29), which on two cores held the embedded end-to-end figure back
    as much as fitboard did (measured 2026-12-03, docs/benchmarks.md "Session 17")."""
    url = f"{deployment.api_urls[0]}/v1/workouts"
    headers = [{"authorization": f"Bearer {token}"} for token in tokens]
    numbers = iter(range(workouts))
    connector = aiohttp.TCPConnector(limit=FILL_CONCURRENCY, limit_per_host=0)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:

        async def connection() -> None:
            for n in numbers:  # shared: each submission is taken by one connection
                body = workout_body(minutes=10)
                async with session.post(url, json=body, headers=headers[n % len(headers)]) as r:
                    if r.status != 202:
                        raise RuntimeError(f"submission {n}: {r.status} {await r.text()}")

        await asyncio.gather(*(connection() for _ in range(FILL_CONCURRENCY)))


async def queue_depth(queues: list[str]) -> int:
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        channel = await connection.channel()
        total = 0
        for queue in queues:
            declared = await channel.declare_queue(queue, passive=True)
            total += declared.declaration_result.message_count or 0
        return total
    finally:
        await connection.close()


async def bare_drain(queues: list[str], messages: int) -> tuple[float, float, float]:
    """Consume and ack `messages` of `queues` with nothing else done: (seconds from the
    first delivery to the last ack, this process's CPU seconds, RabbitMQ's CPU seconds)
    over that span."""
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        sources = [await channel.declare_queue(queue, passive=True) for queue in queues]
        done = asyncio.Event()
        seen = 0
        started: tuple[float, float, float] | None = None

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen, started
            if started is None:
                started = (
                    time.monotonic(),
                    time.process_time(),
                    backing_cpu_s(SERVICE_PORTS)["RabbitMQ"],
                )
            await message.ack()
            seen += 1
            if seen >= messages:
                done.set()

        tags = [await source.consume(on_message) for source in sources]
        async with asyncio.timeout(DRAIN_TIMEOUT_S):
            await done.wait()
        ended = (time.monotonic(), time.process_time(), backing_cpu_s(SERVICE_PORTS)["RabbitMQ"])
        for source, tag in zip(sources, tags, strict=True):
            await source.cancel(tag)
    finally:
        await connection.close()
    assert started is not None
    wall, cpu, broker = (e - s for e, s in zip(ended, started, strict=True))
    return wall, cpu, broker


@dataclass
class DrainResult:
    workouts: int
    workers: int
    athletes: int  # whose submissions the backlog holds, in turn
    rate: float  # workouts/s over the window
    window_s: float
    processed_in_window: int
    all_done_s: float  # from the workers' start to the last workout processed
    bare_rate: float  # workouts/s of the bare consumer (of fewer AMQP messages, packed)
    bare_cpu_ms: dict[str, float]  # per workout: the consumer, RabbitMQ
    # CPU ms per workout by component: while the API accepted the backlog (no worker
    # running: per accepted workout), and while the workers drained it (per processed one).
    fill_cpu_ms: dict[str, float]
    drain_cpu_ms: dict[str, float]
    worker_shares: dict[str, float]
    machine_busy: float
    reconcile_code: int | None = None
    reconcile_output: str = ""

    @property
    def cpu_ms_end_to_end(self) -> float:
        return sum(self.fill_cpu_ms.values()) + sum(self.drain_cpu_ms.values())


def _per_workout(
    deployment: Deployment, before: dict[str, float], after: dict[str, float], count: int
) -> dict[str, float]:
    cpu = {k: after[k] - before[k] for k in after}
    per = {
        "workers": sum(cpu[s.name] for s in deployment.services if s.role == "worker"),
        "API": sum(cpu[s.name] for s in deployment.services if s.role == "api"),
        **{name: cpu[name] for name in BACKING.values()},
    }
    return {name: 1000 * seconds / max(1, count) for name, seconds in per.items()}


async def reconcile(deployment: Deployment) -> tuple[int, str]:
    """`fitboard reconcile` with the deployment's settings: (exit code, its last line)."""
    assert deployment.worker_setup is not None
    code, output = await _run([FITBOARD, "reconcile"], deployment.worker_setup[0], 600)
    lines = [line for line in output.splitlines() if line.strip()]
    return code, lines[-1] if lines else ""


async def measure(
    deployment: Deployment, workouts: int, workers: int, athletes: int, partitions: int = 1
) -> DrainResult:
    """`partitions`: the workers' queue's, as the deployment's processes were given."""
    assert deployment.worker_setup is not None
    parent = deployment.worker_setup[2]
    queues = [parent, *(f"{parent}.p{n}" for n in range(partitions if partitions > 1 else 0))]
    async with httpx.AsyncClient(
        base_url=deployment.api_urls[0], timeout=60, trust_env=False
    ) as http:
        # Registered a few at a time, not one after another; each is an Argon2 hash in
        # the API, so a thousand athletes still take minutes on a busy 2-core machine
        # (before the measured part: the workers do not run yet).
        tokens = await register_athletes(deployment.api_urls, athletes)
        reader = await register(http, "reader")
        if await processed_count(http, *reader) is None:
            raise RuntimeError("cannot read the workouts board")

        print(
            f"worker drain: {workouts} workouts of {athletes} athletes, prefetch {PREFETCH},"
            f" {partitions} partition{'s' if partitions > 1 else ''}"
        )
        # The baseline's backlog goes in as the measured one does, one request a workout
        # as apps send them: the API packs what arrives together into one AMQP message
        # (FITBOARD_QUEUE_ITEMS_PER_MESSAGE), so the broker's messages are fewer than the
        # workouts, and the bare consumer's floor is per workout of that same backlog.
        await fill(deployment, tokens, workouts)
        depth = await queue_depth(queues)
        wall, cpu, broker = await bare_drain(queues, depth)
        bare_cpu = {"consumer": 1000 * cpu / workouts, "RabbitMQ": 1000 * broker / workouts}
        print(
            f"  baseline, a bare consumer (ack only): {workouts / wall:7.0f} workouts/s"
            f" ({depth} AMQP messages, {depth / wall:.0f}/s);"
            f" CPU ms per workout: consumer {bare_cpu['consumer']:.2f},"
            f" RabbitMQ {bare_cpu['RabbitMQ']:.2f}"
        )

        before_fill = deployment.cpu_snapshot()
        await fill(deployment, tokens, workouts)
        fill_cpu = _per_workout(deployment, before_fill, deployment.cpu_snapshot(), workouts)
        fill_cpu.pop("workers")
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
    (t0, n0, cpu0), (t1, n1, cpu1) = first, now
    window, done = t1 - t0, n1 - n0
    if done <= 0 or window <= 0:
        raise RuntimeError("nothing measured: every workout was processed before the second read")
    busy = cpu1["machine busy"] - cpu0["machine busy"]
    total = cpu1["machine total"] - cpu0["machine total"]
    result = DrainResult(
        workouts=workouts,
        workers=workers,
        athletes=athletes,
        rate=done / window,
        window_s=window,
        processed_in_window=done,
        all_done_s=t1 - started,
        bare_rate=workouts / wall,
        bare_cpu_ms=bare_cpu,
        fill_cpu_ms=fill_cpu,
        drain_cpu_ms=_per_workout(deployment, cpu0, cpu1, done),
        worker_shares={
            s.name: (cpu1[s.name] - cpu0[s.name]) / window
            for s in deployment.services
            if s.role == "worker"
        },
        machine_busy=busy / total if total else 0.0,
    )
    result.reconcile_code, result.reconcile_output = await reconcile(deployment)
    report(result)
    return result


def report(result: DrainResult) -> None:
    workers = result.workers
    print(
        f"  {workers} worker{'s' if workers > 1 else ''}: {result.rate:7.0f} workouts/s"
        f" ({result.processed_in_window} over {result.window_s:.1f} s;"
        f" all {result.workouts} done {result.all_done_s:.1f} s after start)"
    )
    print(f"  ratio to the bare consumer: {result.bare_rate / result.rate:.1f}x slower")
    for label, costs in (("accepting", result.fill_cpu_ms), ("draining", result.drain_cpu_ms)):
        parts = ", ".join(f"{name} {ms:.2f}" for name, ms in costs.items())
        print(f"  CPU ms per workout, {label}: {parts}")
    print(f"  CPU ms per workout, end to end: {result.cpu_ms_end_to_end:.2f}")
    shares = ", ".join(f"{name} {share:.0%}" for name, share in result.worker_shares.items())
    print(
        f"  worker CPU, share of one core: {shares}; the machine ({os.cpu_count()} cores)"
        f" was {result.machine_busy:.0%} busy"
    )
    print(f"  fitboard reconcile: exit {result.reconcile_code}, {result.reconcile_output}")


async def main(
    workouts: int, workers: int, athletes: int, partitions: int | None = None
) -> DrainResult:
    """`partitions`: the workers' queue's; None, as FITBOARD_WORKOUT_PARTITIONS says (or
    the default)."""
    if partitions is not None:
        # Passed to the deployment's processes with the rest of the FITBOARD_* environment.
        os.environ["FITBOARD_WORKOUT_PARTITIONS"] = str(partitions)
    split = int(os.environ.get("FITBOARD_WORKOUT_PARTITIONS", _DEFAULT["workout_partitions"]))
    async with deploy("production", workers=0) as deployment:
        return await measure(deployment, workouts, workers, athletes, split)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workouts", type=positive(int), default=3000)
    parser.add_argument("--workers", type=positive(int), default=1)
    parser.add_argument("--athletes", type=positive(int), default=50)
    parser.add_argument("--partitions", type=positive(int), default=None)
    args = parser.parse_args()
    run_main(main(args.workouts, args.workers, args.athletes, args.partitions))
