"""Fan-out: N websocket clients on one API process, all subscribed to one board; how long a
board update takes to reach all of them. Baseline, in the same run: the same update to 1
client. Target (issue 12): p99 <= 250 ms.

Latency of one delivery = the client's arrival time - the snapshot's `version`, which is the
server's wall clock (ms) when it began the snapshot: server and clients share this machine's
clock, so this covers the read, the emit to every socket and the delivery.

    python -m bench.live_fanout [--clients 5000] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

import aiohttp
import httpx

from bench.common import (
    BOARD,
    RawClient,
    close_all,
    fitboard_server,
    percentile,
    post_workout,
    raise_open_files_limit,
    raw_connect,
    register,
    run_main,
)

CONNECT_CONCURRENCY = 100
ROUND_GAP_S = 1.0  # well above the 250 ms coalescing interval: one snapshot per round
ROUND_TIMEOUT_S = 30.0


async def measure(
    url: str, http: httpx.AsyncClient, n_clients: int, rounds: int
) -> dict[str, float]:
    viewer, _ = await register(http, "viewer")
    mover, _ = await register(http, "mover")
    arrivals: dict[int, list[float]] = {}

    def on_update(payload: dict[str, Any], at: float) -> None:
        arrivals.setdefault(payload["version"], []).append(at * 1000 - payload["version"])

    clients: list[RawClient] = []
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        try:
            started = time.monotonic()
            gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

            async def one() -> RawClient:
                async with gate:
                    return await raw_connect(session, url, viewer, BOARD, on_update)

            clients = list(await asyncio.gather(*(one() for _ in range(n_clients))))
            connect_s = time.monotonic() - started
            await asyncio.sleep(ROUND_GAP_S)
            arrivals.clear()  # the subscribe snapshots are not the measurement
            all_latencies: list[float] = []
            reach_all: list[float] = []
            for _ in range(rounds):
                before = set(arrivals)
                response = await post_workout(http, mover)
                response.raise_for_status()
                async with asyncio.timeout(ROUND_TIMEOUT_S):
                    while True:
                        fresh = [v for v in arrivals if v not in before]
                        if fresh and len(arrivals[max(fresh)]) >= n_clients:
                            break
                        await asyncio.sleep(0.01)
                latencies = arrivals[max(fresh)]
                all_latencies += latencies
                reach_all.append(max(latencies))
                await asyncio.sleep(ROUND_GAP_S)
        finally:
            await close_all(clients)
    return {
        "clients": n_clients,
        "connect_s": connect_s,
        "p50_ms": percentile(all_latencies, 50),
        "p99_ms": percentile(all_latencies, 99),
        "reach_all_p50_ms": percentile(reach_all, 50),
        "reach_all_max_ms": max(reach_all),
    }


async def main(n_clients: int, rounds: int) -> tuple[dict[str, float], dict[str, float]]:
    """Measure, print, and return (baseline with one client, n_clients)."""
    limit = raise_open_files_limit()
    if n_clients + 200 > limit:
        raise SystemExit(f"{n_clients} clients need more than the {limit} open files allowed")
    async with (
        fitboard_server() as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as http,
    ):
        async with asyncio.timeout(600):
            baseline = await measure(server.url, http, 1, rounds)
            fanout = await measure(server.url, http, n_clients, rounds)
    print(f"fan-out of one leaderboard:update, embedded mode, {rounds} rounds each")
    for name, figures in (("baseline (1 client)", baseline), (f"{n_clients} clients", fanout)):
        print(
            f"  {name:22} delivery p50 {figures['p50_ms']:7.1f} ms  p99 {figures['p99_ms']:7.1f} ms"
            f"  reached all: median {figures['reach_all_p50_ms']:7.1f} ms,"
            f" worst {figures['reach_all_max_ms']:7.1f} ms  (connect {figures['connect_s']:.1f} s)"
        )
    p99_ratio = fanout["p99_ms"] / max(baseline["p99_ms"], 1)
    reach_ratio = fanout["reach_all_p50_ms"] / max(baseline["reach_all_p50_ms"], 1)
    print(f"  ratio to baseline: p99 {p99_ratio:.1f}x, reached-all median {reach_ratio:.1f}x")
    print(f"  target p99 <= 250 ms: {'met' if fanout['p99_ms'] <= 250 else 'NOT met'}")
    return baseline, fanout


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    run_main(main(args.clients, args.rounds))
