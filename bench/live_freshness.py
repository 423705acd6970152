"""Freshness: time from a workout's 202 to its athlete's `rank:update`, while background
athletes submit workouts at a steady rate. Baseline, in the same run and under the same
load: the plain HTTP round trip of a GET on the same server.

One probe athlete, connected with python-socketio's client over a websocket and
subscribed to the board, submits a workout, waits for the `rank:update` of that board (its
score only ever grows, so a higher score is this workout's), then a GET round trip is
timed, and the next probe follows. The background load is open-loop: submissions are
started on a fixed schedule whatever the answers do, with a bounded number in flight.

    python -m bench.live_freshness [--rate 300] [--probes 100] [--athletes 50]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from dataclasses import dataclass
from typing import Any

import httpx
import socketio

from bench.common import BOARD, fitboard_server, percentile, post_workout, register

MAX_IN_FLIGHT = 200
PROBE_TIMEOUT_S = 30.0
WARM_UP_S = 3.0


@dataclass
class Load:
    started: int = 0
    accepted: int = 0
    refused: int = 0
    skipped: int = 0  # not started: MAX_IN_FLIGHT were already waiting for answers


async def background(http: httpx.AsyncClient, tokens: list[str], rate: float, load: Load) -> None:
    in_flight: set[asyncio.Task[None]] = set()
    turn = itertools.cycle(tokens)

    async def one(token: str) -> None:
        try:
            response = await post_workout(http, token, minutes=5)
            if response.status_code == 202:
                load.accepted += 1
            else:
                load.refused += 1
        except httpx.HTTPError:
            load.refused += 1

    start = time.monotonic()
    try:
        for n in itertools.count():
            await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
            if len(in_flight) >= MAX_IN_FLIGHT:
                load.skipped += 1
                continue
            load.started += 1
            task = asyncio.create_task(one(next(turn)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
    finally:
        for task in in_flight:
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)


async def measure(url: str, rate: float, probes: int, athletes: int) -> None:
    limits = httpx.Limits(max_connections=MAX_IN_FLIGHT + 10)
    async with (
        httpx.AsyncClient(base_url=url, timeout=60, limits=limits) as http,
        httpx.AsyncClient(base_url=url, timeout=60) as probe_http,
    ):
        tokens = [(await register(http, "load"))[0] for _ in range(athletes)]
        probe_token, _ = await register(probe_http, "probe")
        ranks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)

        async def on_rank(payload: dict[str, Any]) -> None:
            if payload["board"] == BOARD:
                ranks.put_nowait({**payload, "at": time.perf_counter()})

        client.on("rank:update", on_rank)
        await client.connect(url, auth={"token": probe_token}, transports=["websocket"])
        try:
            ack = await client.call("subscribe", {"board": BOARD}, timeout=30)
            assert ack == {"ok": True}, ack
            load = Load()
            loader = asyncio.create_task(background(http, tokens, rate, load))
            await asyncio.sleep(WARM_UP_S)
            fresh: list[float] = []
            baseline: list[float] = []
            score = 0
            load_started = time.monotonic()
            missed = 0
            try:
                for _ in range(probes):
                    response = await post_workout(probe_http, probe_token, minutes=10)
                    accepted_at = time.perf_counter()
                    response.raise_for_status()
                    try:
                        async with asyncio.timeout(PROBE_TIMEOUT_S):
                            while True:
                                event = await ranks.get()
                                if event["score"] > score:
                                    break
                    except TimeoutError:
                        # The pipeline is saturated: the probe waits behind the backlog,
                        # and each next one would wait longer. Report what was measured.
                        missed += 1
                        break
                    score = event["score"]
                    fresh.append((event["at"] - accepted_at) * 1000)
                    sent = time.perf_counter()
                    (await probe_http.get("/healthz")).raise_for_status()
                    baseline.append((time.perf_counter() - sent) * 1000)
            finally:
                elapsed = time.monotonic() - load_started + WARM_UP_S
                loader.cancel()
                await asyncio.gather(loader, return_exceptions=True)
        finally:
            await client.disconnect()
            await client.shutdown()
    print(f"freshness (202 -> rank:update), embedded mode, {len(fresh)} probes")
    print(
        f"  background load: asked {rate:.0f}/s, accepted {load.accepted / elapsed:.0f}/s"
        f" ({load.refused} refused, {load.skipped} not started: {MAX_IN_FLIGHT} in flight)"
    )
    if missed:
        print(f"  a probe heard no rank:update within {PROBE_TIMEOUT_S:.0f} s: saturated, stopped")
    if not fresh:
        return
    p50, p99 = percentile(fresh, 50), percentile(fresh, 99)
    b50, b99 = percentile(baseline, 50), percentile(baseline, 99)
    print(f"  rank:update     p50 {p50:7.1f} ms   p99 {p99:7.1f} ms")
    print(f"  GET /healthz    p50 {b50:7.1f} ms   p99 {b99:7.1f} ms   (baseline)")
    print(f"  ratio           p50 {p50 / b50:7.1f}x     p99 {p99 / b99:7.1f}x")
    print(
        "  targets p50 <= 25 ms, p99 <= 150 ms: "
        f"p50 {'met' if p50 <= 25 else 'NOT met'}, p99 {'met' if p99 <= 150 else 'NOT met'}"
    )


async def main(rate: float, probes: int, athletes: int) -> None:
    async with fitboard_server() as server:
        async with asyncio.timeout(probes * PROBE_TIMEOUT_S + 120):
            await measure(server.url, rate, probes, athletes)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--probes", type=int, default=100)
    parser.add_argument("--athletes", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.rate, args.probes, args.athletes))
