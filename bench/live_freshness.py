"""Freshness: time from a workout's 202 to its athlete's `rank:update`, while background
athletes submit workouts at a steady rate. Baseline, in the same run and under the same
load: the plain HTTP round trip of a GET on the same server.

One probe athlete, connected with python-socketio's client over a websocket to API process
0 and subscribed to the board, submits a workout there, waits for the `rank:update` of that
board (its score only ever grows, so a higher score is this workout's), then a GET round
trip is timed, and the next probe follows. The background load runs in a process of its own
(bench/load.py), so that its work does not delay the probe's event loop: open-loop (each
submission started on a fixed schedule whatever the answers do), spread over every API
process, with a bounded number in flight.

Processed rate: the sum of the background athletes' scores on the `workouts/all/global`
board (the count of their processed workouts; the database is fresh), read through API
process 0 when the load starts and when the last probe is answered, while the load runs.
The rates and CPU shares printed are over that window (the warm-up included).

    python -m bench.live_freshness [--mode embedded|production] [--workers 2]
        [--api-processes 1] [--rate 300] [--probes 100] [--athletes 50]
        [--load-client aiohttp|httpx] [--max-in-flight 200]

Production mode creates a database, a namespace in Redis (db 11) and RabbitMQ (vhost
fitboard_test) and the processes, and removes them all at the end (bench/deployment.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import httpx
import socketio

from bench.common import BOARD, percentile, positive, post_workout, register, run_main
from bench.deployment import Deployment, Mode, deploy
from bench.load import Client, Counts, LoadConfig, LoadGenerator, LoadReport
from bench.machine import BACKING

MAX_IN_FLIGHT = 200
PROBE_TIMEOUT_S = 30.0
WARM_UP_S = 3.0
REGISTER_CONCURRENCY = 4
COUNT_BOARD = "/v1/leaderboards/workouts/all"
COUNT_PAGES = 100  # of 100 athletes each: more than any run registers
COUNT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class FreshnessResult:
    """What a run measured: the probes' 202 -> rank:update times, the baseline GET round
    trips beside them, probes that heard nothing (saturated), and the rates over the run."""

    fresh_ms: list[float]
    baseline_ms: list[float]
    missed: int
    accepted_per_s: float
    processed_per_s: float | None


@dataclass(frozen=True)
class Snapshot:
    """What the run looked like at one moment."""

    at: float
    load: Counts
    processed: int | None  # the background athletes' workouts; None: the API did not answer
    cpu: dict[str, float]


async def processed_count(http: httpx.AsyncClient, token: str, probe_id: str) -> int | None:
    """The background athletes' workouts processed so far: every athlete's score on
    workouts/all/global but the probe's, summed over its pages. None if the API does not
    answer (saturated)."""
    total = 0
    cursor: str | None = None
    try:
        for _ in range(COUNT_PAGES):
            params: dict[str, str | int] = {"limit": 100}
            if cursor:
                params["cursor"] = cursor
            response = await http.get(
                COUNT_BOARD,
                params=params,
                headers={"authorization": f"Bearer {token}"},
                timeout=COUNT_TIMEOUT_S,
            )
            response.raise_for_status()
            page = response.json()
            total += sum(
                int(entry["score"]) for entry in page["entries"] if entry["user_id"] != probe_id
            )
            cursor = page["next_cursor"]
            if not cursor:
                return total
    except (httpx.HTTPError, KeyError, ValueError):
        return None
    return None


def _cpu(deployment: Deployment) -> dict[str, float]:
    return {**deployment.cpu_snapshot(), "probe": time.process_time()}


async def snapshot(
    deployment: Deployment,
    loader: LoadGenerator,
    http: httpx.AsyncClient,
    probe: tuple[str, str],
) -> Snapshot:
    at = time.monotonic()
    load = loader.counts()
    cpu = _cpu(deployment)
    return Snapshot(at, load, await processed_count(http, *probe), cpu)


async def register_athletes(urls: list[str], athletes: int) -> list[str]:
    """Athlete i registers on API process i mod M (any process accepts any token)."""
    gate = asyncio.Semaphore(REGISTER_CONCURRENCY)
    clients = [httpx.AsyncClient(base_url=u, timeout=60, trust_env=False) for u in urls]
    try:

        async def one(n: int) -> str:
            async with gate:
                return (await register(clients[n % len(clients)], "load"))[0]

        return list(await asyncio.gather(*(one(n) for n in range(athletes))))
    finally:
        for client in clients:
            await client.aclose()


async def measure(
    deployment: Deployment,
    rate: float,
    probes: int,
    athletes: int,
    client_kind: Client,
    max_in_flight: int,
) -> FreshnessResult:
    url = deployment.api_urls[0]
    tokens = await register_athletes(deployment.api_urls, athletes)
    async with httpx.AsyncClient(base_url=url, timeout=60, trust_env=False) as probe_http:
        probe_token, probe_id = await register(probe_http, "probe")
        probe = (probe_token, probe_id)
        # Read once now: the count board is then loaded, and later reads are plain reads.
        if await processed_count(probe_http, *probe) is None:
            raise RuntimeError("cannot read the workouts board")
        ranks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)

        async def on_rank(payload: dict[str, Any]) -> None:
            if payload["board"] == BOARD:
                ranks.put_nowait({**payload, "at": time.perf_counter()})

        client.on("rank:update", on_rank)
        await client.connect(url, auth={"token": probe_token}, transports=["websocket"])
        loader = LoadGenerator(
            LoadConfig(
                urls=deployment.api_urls,
                tokens=tokens,
                rate=rate,
                max_in_flight=max_in_flight,
                deadline_s=probes * PROBE_TIMEOUT_S + 2 * WARM_UP_S + 60,
                client=client_kind,
            )
        )
        fresh: list[float] = []
        baseline: list[float] = []
        missed = 0
        report: LoadReport | None = None
        try:
            ack = await client.call("subscribe", {"board": BOARD}, timeout=30)
            assert ack == {"ok": True}, ack
            await loader.start()
            first = await snapshot(deployment, loader, probe_http, probe)
            await asyncio.sleep(WARM_UP_S)
            deployment.check_alive()
            score = 0
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
                last = await snapshot(deployment, loader, probe_http, probe)
            finally:
                report = await loader.stop()
        finally:
            await client.disconnect()
            await client.shutdown()
    print_results(
        deployment,
        rate,
        athletes,
        client_kind,
        max_in_flight,
        (first, last),
        report,
        (fresh, baseline, missed),
    )
    window = last.at - first.at
    processed = (
        (last.processed - first.processed) / window
        if last.processed is not None and first.processed is not None and window > 0
        else None
    )
    accepted = (last.load.accepted - first.load.accepted) / window if window > 0 else 0.0
    return FreshnessResult(fresh, baseline, missed, accepted, processed)


def _rate(after: int, before: int, seconds: float) -> str:
    return f"{(after - before) / seconds:.0f}/s"


def _cpu_of_role(label: str, shares: list[float]) -> str:
    text = f"{label} {sum(shares):.0%}"
    if len(shares) > 1:
        text += f" ({' + '.join(f'{share:.0%}' for share in shares)})"
    return text


def print_results(
    deployment: Deployment,
    rate: float,
    athletes: int,
    client_kind: Client,
    max_in_flight: int,
    window_ends: tuple[Snapshot, Snapshot],
    report: LoadReport | None,
    probed: tuple[list[float], list[float], int],
) -> None:
    first, last = window_ends
    fresh, baseline, missed = probed
    window = last.at - first.at
    apis = len(deployment.api_urls)
    workers = sum(s.role == "worker" for s in deployment.services)
    if deployment.mode == "production":
        shape = (
            f"production mode: {apis} API process{'es' if apis > 1 else ''}, "
            f"{workers} worker{'s' if workers != 1 else ''}"
        )
    else:
        shape = "embedded mode: 1 process (API and worker)"
    print(f"freshness (202 -> rank:update), {shape}, {len(fresh)} probes")
    if deployment.passed_through:
        print(f"  settings from the environment: {deployment.passed_through}")
    print(
        f"  background load: asked {rate:g}/s, {athletes} athletes, over {apis} API "
        f"process{'es' if apis > 1 else ''}, {client_kind}, <= {max_in_flight} in flight"
    )
    processed = (
        _rate(last.processed, first.processed, window)
        if last.processed is not None and first.processed is not None
        else "unknown (the count board did not answer)"
    )
    started = _rate(last.load.started, first.load.started, window)
    accepted = _rate(last.load.accepted, first.load.accepted, window)
    print(
        f"  from the load's start to the last probe ({window:.1f} s): started {started},"
        f" accepted {accepted}, processed {processed}"
    )
    if last.processed is not None:
        print(
            f"  backlog then: {last.load.accepted - last.processed} of the"
            f" {last.load.accepted} accepted background workouts not processed yet"
        )
    if report is None:
        print("  the load generator sent no report")
    else:
        c = report.counts
        print(
            f"  load, whole run ({report.wall_s:.1f} s): started {c.started},"
            f" accepted {c.accepted}, refused {c.refused}, no answer {c.failed},"
            f" unfinished at the end {report.unfinished}, skipped {c.skipped}"
            " (at the in-flight bound)"
        )
        if report.error:
            print(f"  the load generator failed: {report.error}")
        if report.accept_ms:
            a50, a99 = percentile(report.accept_ms, 50), percentile(report.accept_ms, 99)
            print(f"  load's POST 202   p50 {a50:7.1f} ms   p99 {a99:7.1f} ms")
        print(
            f"  load generator: {report.cpu_ms_per_request:.2f} ms CPU per submission,"
            f" {report.cpu_share:.0%} of a core; {report.late} submissions started"
            f" > 10 ms after their slot (max {report.max_late_ms:.0f} ms)"
        )
    cpu = {k: (last.cpu[k] - first.cpu[k]) / window for k in last.cpu}
    if deployment.mode == "production":
        servers = ", ".join(
            _cpu_of_role(label, [cpu[s.name] for s in deployment.services if s.role == role])
            for label, role in (("API", "api"), ("workers", "worker"))
        )
    else:
        servers = f"fitboard serve {cpu['api-0']:.0%}"
    backing = "".join(
        f", {name} {cpu[name]:.0%}" for name in BACKING.values() if deployment.mode == "production"
    )
    print(
        f"  CPU in that window, share of one core: {servers}{backing},"
        f" probe client {cpu['probe']:.0%}"
    )
    spent, span = (last.cpu[k] - first.cpu[k] for k in ("machine busy", "machine total"))
    if span > 0:
        cores = os.cpu_count() or 1
        print(f"  the whole machine ({cores} cores) was {spent / span:.0%} busy")
    if report is not None and last.processed is not None and first.processed is not None:
        # The probe's own workouts (one per probe, a missed one included) cost the same.
        probe_workouts = len(fresh) + missed
        counted = (
            last.load.accepted - first.load.accepted + probe_workouts,
            last.processed - first.processed + probe_workouts,
        )
        print_cpu_budget(deployment, rate, cpu, window, report, counted)
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


def print_cpu_budget(
    deployment: Deployment,
    rate: float,
    cpu: dict[str, float],
    window: float,
    report: LoadReport,
    counted: tuple[int, int],
) -> None:
    """CPU milliseconds per workout by component, and the cores the asked rate would need
    at those costs: what decides whether this machine can sustain the rate at all. The
    API's share is per accepted workout, the load generator's per submission, everything
    else per processed workout (the probe's counted in both); near a sustainable rate
    those are the same workouts."""
    accepted, processed = counted
    if processed <= 0 or accepted <= 0:
        return
    per_processed = 1000 * window / processed
    if deployment.mode == "production":
        api = sum(cpu[s.name] for s in deployment.services if s.role == "api")
        workers = sum(cpu[s.name] for s in deployment.services if s.role == "worker")
        costs = {
            "API": api * 1000 * window / accepted,
            "workers": workers * per_processed,
        }
        costs.update({name: cpu[name] * per_processed for name in BACKING.values()})
    elif processed >= 0.9 * accepted:
        costs = {"fitboard serve": cpu["api-0"] * per_processed}
    else:
        # One process accepts and processes: behind the load, its CPU is mostly accepting,
        # and no cost per processed workout can be told apart.
        return
    costs["load generator"] = report.cpu_ms_per_request
    total = sum(costs.values())
    parts = ", ".join(f"{name} {ms:.2f}" for name, ms in costs.items())
    print(f"  CPU ms per workout: {parts}; total {total:.2f}")
    print(
        f"  at those costs {rate:g}/s needs {total * rate / 1000:.1f} cores of CPU;"
        f" this machine has {os.cpu_count()}"
    )


async def main(
    rate: float,
    probes: int,
    athletes: int,
    *,
    mode: Mode = "embedded",
    workers: int = 2,
    api_processes: int = 1,
    load_client: Client = "aiohttp",
    max_in_flight: int = MAX_IN_FLIGHT,
) -> FreshnessResult:
    async with deploy(mode, workers=workers, api_processes=api_processes) as deployment:
        async with asyncio.timeout(probes * PROBE_TIMEOUT_S + 180):
            return await measure(deployment, rate, probes, athletes, load_client, max_in_flight)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["embedded", "production"], default="embedded")
    parser.add_argument(
        "--workers", type=positive(int), default=2, help="fitboard worker processes (production)"
    )
    parser.add_argument(
        "--api-processes",
        type=positive(int),
        default=1,
        help="fitboard serve processes (production): the load goes to all, the probe to the first",
    )
    parser.add_argument(
        "--rate", type=positive(float), default=300.0, help="background workouts per second"
    )
    parser.add_argument("--probes", type=positive(int), default=100, help="probe workouts")
    parser.add_argument("--athletes", type=positive(int), default=50, help="background athletes")
    parser.add_argument(
        "--load-client",
        choices=["aiohttp", "httpx"],
        default="aiohttp",
        help="the load generator's HTTP client (aiohttp: about a third of httpx's CPU)",
    )
    parser.add_argument(
        "--max-in-flight",
        type=positive(int),
        default=MAX_IN_FLIGHT,
        help="background submissions awaiting an answer at most; more are skipped",
    )
    args = parser.parse_args()
    if args.mode == "embedded" and (args.workers != 2 or args.api_processes != 1):
        parser.error("--workers and --api-processes apply to --mode production only")
    try:
        run_main(
            main(
                args.rate,
                args.probes,
                args.athletes,
                mode=args.mode,
                workers=args.workers,
                api_processes=args.api_processes,
                load_client=args.load_client,
                max_in_flight=args.max_in_flight,
            )
        )
    except KeyboardInterrupt:
        print("interrupted")
        sys.exit(130)
