"""What relaying a worker's live events costs an API process, alone: no RabbitMQ, no
PostgreSQL, no HTTP. A child process stands for an API process (fitboard's
`BatchingRedisManager` on a python-socketio server, `--clients` local clients each in
its athlete's room, its sends counted instead of written to sockets); this process stands
for a worker, emitting through a write-only manager, `--rate` workouts a second, each the
events of one processed workout as bench/live_cost.py measured them with every board
loaded (one `workout:processed`, 50 `rank:update`s to the athlete, 4 `rank:overtaken`s to
others), athletes drawn from `--athletes`. The child's CPU (/proc) over the run, divided by
the workouts, is what the relay cost it; the packets its clients got show delivery.

    python -m bench.live_relay [--clients 0] [--workouts 600] [--rate 100] [--athletes 400]

Uses the machine's Redis (bench.deployment.REDIS_URL): pub/sub channels only, no keys.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
import uuid
from typing import Any

from bench.common import positive
from bench.deployment import REDIS_URL
from bench.machine import process_cpu_s

RANK_UPDATES, OVERTAKEN = 50, 4
START_S = 1.0


async def api_process(channel: str, clients: int) -> None:
    """The child: report "ready" once its clients are in their rooms, then the packets
    they got when told to stop (a line on stdin)."""
    import socketio

    from fitboard.adapters.live_socketio import BatchingRedisManager

    manager = BatchingRedisManager(REDIS_URL, channel=channel)
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    sent = 0

    async def count(eio_sid: str, pkt: Any) -> None:
        nonlocal sent
        sent += 1

    server._send_eio_packet = count
    server.manager_initialized = True
    manager.initialize()
    await asyncio.sleep(START_S)  # the listener subscribes
    for n in range(clients):
        sid = await manager.connect(f"eio-{n}", "/")
        await manager.enter_room(sid, "/", f"athlete:{n}")
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    print(sent, flush=True)
    await manager.aclose()


async def worker(clients: int, workouts: int, rate: float, athletes: int) -> None:
    from fitboard.adapters.live_socketio import BatchingRedisManager

    channel = f"bench-relay-{uuid.uuid4().hex}:socketio"
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.live_relay",
        "--child",
        channel,
        "--clients",
        str(clients),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    if (await child.stdout.readline()).strip() != b"ready":
        raise RuntimeError("the API process did not start")
    emitter = BatchingRedisManager(REDIS_URL, channel=channel, write_only=True)
    rng = random.Random(1)
    cpu_before, started = process_cpu_s(child.pid), time.monotonic()
    for w in range(workouts):
        delay = started + w / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        athlete = f"athlete:{rng.randrange(athletes)}"
        processed = {"id": str(uuid.uuid4()), "status": "processed", "calories": 250.0}
        await emitter.emit("workout:processed", processed, to=athlete, namespace="/")
        for board in range(RANK_UPDATES):
            rank = {"board": f"b{board}", "period_key": "2026-W49", "rank": 12, "score": 1234.5}
            await emitter.emit("rank:update", rank, to=athlete, namespace="/")
        for _ in range(OVERTAKEN):
            passed = f"athlete:{rng.randrange(athletes)}"
            by = {"user_id": str(uuid.uuid4()), "display_name": "someone"}
            overtaken = {"board": "b0", "period_key": "2026-W49", "rank": 13, "by": by}
            await emitter.emit("rank:overtaken", overtaken, to=passed, namespace="/")
    await emitter.drain()
    await asyncio.sleep(START_S)  # the last messages reach the child
    cpu_after, ended = process_cpu_s(child.pid), time.monotonic()
    child.stdin.write(b"\n")
    await child.stdin.drain()
    delivered = int(await child.stdout.readline())
    await child.wait()
    await emitter.aclose()
    events = workouts * (1 + RANK_UPDATES + OVERTAKEN)
    print(
        f"relay: {clients} clients of {athletes} athletes: API process"
        f" {1000 * (cpu_after - cpu_before) / workouts:.3f} ms CPU per workout"
        f" ({workouts} workouts, {events} events in {ended - started:.1f} s);"
        f" {delivered} packets reached its clients"
    )


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=0)
    parser.add_argument("--workouts", type=positive(int), default=600)
    parser.add_argument("--rate", type=positive(float), default=100.0)
    parser.add_argument("--athletes", type=positive(int), default=400)
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        asyncio.run(api_process(args.child, args.clients))
    else:
        asyncio.run(worker(args.clients, args.workouts, args.rate, args.athletes))


if __name__ == "__main__":
    cli()
