"""Issue 12's table, figure by figure: each function starts what it measures (bench/
deployment.py, bench/bare.py), measures the figure and its baseline in the same run,
stops everything and returns its rows (bench/results.Figure).

The groups, in the order `python -m bench` runs them:

- ingest: `POST /v1/workouts` and `POST /v1/workouts:batch` (100 a request), closed loop,
  on one production API process (no worker: only accepting is measured) and on embedded
  `fitboard serve`; baseline: the bare FastAPI endpoint with the same body (bench/bare.py).
- embedded: end to end in one process: a backlog submitted through the API as fast as it
  takes it, until the last workout is on the boards and the last monthly report is done
  (the process's queue file empty: bench/embedded_queue.py).
- drain: a backlog drained by 2 workers, `fitboard reconcile` after; the CPU of every
  process and service per workout, accepting and draining (bench/worker_drain.py);
  baseline: a bare aio-pika consumer (consume + ack).
- freshness: 202 -> rank:update at 300 workouts/s, 1 API, 2 workers
  (bench/live_freshness.py); baseline: a GET /healthz round trip beside each probe.
- boards: reads at N athletes, rebuilds and Redis memory per entry (bench/boards.py).
- fanout: one board update to 5,000 websocket clients on one API process
  (bench/live_fanout.py); baseline: the same update to one client.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx

from bench import boards, live_fanout, live_freshness, worker_drain
from bench.bare import bare_server
from bench.common import percentile, register
from bench.deployment import REDIS_URL, Deployment, deploy
from bench.embedded_queue import held
from bench.live_freshness import processed_count, register_athletes
from bench.load import Body, Hammer, HammerReport, hammer
from bench.results import Figure

GROUPS = ("ingest", "embedded", "drain", "freshness", "boards", "fanout", "imports")
E2E_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Sizes:
    seconds: float  # each closed-loop phase
    connections: int
    batch_connections: int
    athletes: int  # the athletes submitting (ingest, embedded)
    embedded_workouts: int
    drain_workouts: int
    # The athletes whose workouts the drained backlog holds, in turn: few make the two
    # workers' batches take turns on the same athlete rows (bench/worker_drain.py), many
    # (the second drain figure) are a backlog of a crowd, a few workouts each, as after
    # an outage; 0 drains only the first.
    drain_athletes: int
    drain_athletes_many: int
    freshness_probes: int
    freshness_rate: float
    board_athletes: int
    fanout_clients: int
    fanout_rounds: int


FULL = Sizes(
    seconds=10.0,
    connections=32,
    batch_connections=4,
    athletes=32,
    embedded_workouts=2_000,
    drain_workouts=10_000,
    drain_athletes=32,
    drain_athletes_many=1_000,
    freshness_probes=100,
    freshness_rate=300.0,
    board_athletes=50_000,
    fanout_clients=5_000,
    fanout_rounds=10,
)
QUICK = Sizes(
    seconds=3.0,
    connections=32,
    batch_connections=2,
    athletes=8,
    embedded_workouts=200,
    drain_workouts=500,
    drain_athletes=8,
    drain_athletes_many=100,
    freshness_probes=10,
    freshness_rate=300.0,
    board_athletes=2_000,
    fanout_clients=200,
    fanout_rounds=3,
)


def _per_cpu(deployment: Deployment, before: dict[str, float], count: int) -> float:
    """The API processes' CPU ms per request since `before`."""
    after = deployment.cpu_snapshot()
    api = sum(after[s.name] - before[s.name] for s in deployment.services if s.role == "api")
    return 1000 * api / max(1, count)


async def _hammer(
    deployment: Deployment | None,
    url: str,
    tokens: list[str],
    body: Body,
    connections: int,
    seconds: float,
) -> tuple[HammerReport, float | None]:
    """A closed-loop run, and the API's CPU ms per request when it is a deployment."""
    config = Hammer("POST", [(url, t) for t in tokens or [""]], body, connections, seconds)
    before = deployment.cpu_snapshot() if deployment else None
    report = await asyncio.to_thread(hammer, config)
    if report.ok == 0:
        raise RuntimeError(f"no request succeeded: {report.first_refusal or 'no answer'}")
    cpu = _per_cpu(deployment, before, report.ok) if deployment and before else None
    return report, cpu


def _details(report: HammerReport, cpu_ms: float | None) -> dict[str, float | int | str]:
    details: dict[str, float | int | str] = {
        "requests_per_s": round(report.per_s, 1),
        "items_per_s": round(report.items_per_s, 1),
        "p50_ms": round(percentile(report.latency_ms, 50), 2),
        "p99_ms": round(percentile(report.latency_ms, 99), 2),
        "refused": report.refused,
        "failed": report.failed,
        "load_cpu_ms_per_request": round(1000 * report.cpu_s / max(1, report.ok), 3),
    }
    if cpu_ms is not None:
        details["api_cpu_ms_per_request"] = round(cpu_ms, 3)
    if report.first_refusal:
        details["first_refusal"] = report.first_refusal
    return details


async def ingest(sizes: Sizes) -> list[Figure]:
    n, s = sizes.connections, sizes.seconds
    async with bare_server(REDIS_URL) as bare:
        base, _ = await _hammer(None, f"{bare}/v1/workouts", [], "workout", n, s)
    print(f"  bare FastAPI 202: {base.per_s:,.0f}/s, p99 {percentile(base.latency_ms, 99):.1f} ms")
    measured: dict[str, tuple[HammerReport, float | None, HammerReport, float | None]] = {}
    for mode in ("production", "embedded"):
        async with deploy(mode, workers=0) as deployment:
            url = deployment.api_urls[0]
            tokens = await register_athletes(deployment.api_urls, sizes.athletes)
            single, single_cpu = await _hammer(
                deployment, f"{url}/v1/workouts", tokens, "workout", n, s
            )
            batch, batch_cpu = await _hammer(
                deployment, f"{url}/v1/workouts:batch", tokens, "batch", sizes.batch_connections, s
            )
        measured[mode] = (single, single_cpu, batch, batch_cpu)
        print(
            f"  {mode}: {single.per_s:,.0f}/s, p99 {percentile(single.latency_ms, 99):.1f} ms;"
            f" batch {batch.items_per_s:,.0f} workouts/s"
        )
    base_p99 = percentile(base.latency_ms, 99)
    base_details = _details(base, None)
    prod, prod_cpu, prod_batch, prod_batch_cpu = measured["production"]
    emb, emb_cpu, emb_batch, emb_batch_cpu = measured["embedded"]
    load = f"closed loop, {n} connections, {s:g} s"
    return [
        Figure(
            "ingest, production (1 API)",
            "POST /v1/workouts",
            prod.per_s,
            "/s",
            ">= 0.7x bare",
            0.7,
            "ratio",
            baseline=base.per_s,
            baseline_text="bare FastAPI 202",
            notes=load,
            details={"fitboard": _details(prod, prod_cpu), "bare": base_details},
        ),
        Figure(
            "ingest, production (1 API)",
            f"p99 at {n} connections",
            percentile(prod.latency_ms, 99),
            "ms",
            "<= 25 ms",
            25.0,
            better="lower",
            baseline=base_p99,
            baseline_text="bare FastAPI 202",
            ratio=percentile(prod.latency_ms, 99) / base_p99,
        ),
        Figure(
            "ingest, embedded",
            "POST /v1/workouts",
            emb.per_s,
            "/s",
            ">= 0.5x bare",
            0.5,
            "ratio",
            baseline=base.per_s,
            baseline_text="bare FastAPI 202",
            notes=f"{load}; the in-process worker runs meanwhile",
            details={"fitboard": _details(emb, emb_cpu), "bare": base_details},
        ),
        Figure(
            "batch ingest, production",
            "POST /v1/workouts:batch (100 a request)",
            prod_batch.items_per_s,
            "workouts/s",
            ">= 25,000/s",
            25_000.0,
            baseline_text="no baseline: ratio to the target",
            notes=f"closed loop, {sizes.batch_connections} connections",
            details=_details(prod_batch, prod_batch_cpu),
        ),
        Figure(
            "batch ingest, embedded",
            "POST /v1/workouts:batch (100 a request)",
            emb_batch.items_per_s,
            "workouts/s",
            ">= 10,000/s",
            10_000.0,
            baseline_text="no baseline: ratio to the target",
            notes=f"closed loop, {sizes.batch_connections} connections",
            details=_details(emb_batch, emb_batch_cpu),
        ),
    ]


async def embedded_end_to_end(sizes: Sizes) -> list[Figure]:
    """Workouts submitted one a request, 32 at a time, to embedded `fitboard serve`; the
    rate from the first submission until every workout is on the workouts board and the
    process's queue file holds no message left to handle (bench/embedded_queue.py): the
    worker's and the monthly reports consumer's work both counted, as the process's CPU
    is. The time at which the boards were complete is reported beside it."""
    workouts = sizes.embedded_workouts
    async with deploy("embedded") as deployment:
        assert deployment.data_dir is not None
        tokens = await register_athletes(deployment.api_urls, sizes.athletes)
        async with httpx.AsyncClient(
            base_url=deployment.api_urls[0], timeout=60, trust_env=False
        ) as http:
            reader = await register(http, "reader")
            if await processed_count(http, *reader) is None:
                raise RuntimeError("cannot read the workouts board")
            before = deployment.cpu_snapshot()
            started = time.monotonic()
            await worker_drain.fill(deployment, tokens, workouts)
            accepted_s = time.monotonic() - started
            async with asyncio.timeout(E2E_TIMEOUT_S):
                while (await processed_count(http, *reader) or 0) < workouts:
                    deployment.check_alive()
                    await asyncio.sleep(worker_drain.POLL_S)
                boards_s = time.monotonic() - started
                boards_cpu_ms = _per_cpu(deployment, before, workouts)
                # Every workout on the boards; the reports consumer may still hold a backlog.
                # A workout's workout.processed is published before its submission is acked,
                # so a snapshot holding no message in any queue (the workouts queue's and
                # the reports queue's) has every report done.
                left = await asyncio.to_thread(held, deployment.data_dir)
                queued_at_boards = left.messages
                while not left.empty:
                    deployment.check_alive()
                    await asyncio.sleep(worker_drain.POLL_S)
                    left = await asyncio.to_thread(held, deployment.data_dir)
            elapsed = time.monotonic() - started
            cpu_ms = _per_cpu(deployment, before, workouts)
    rate = workouts / elapsed
    dead = sum(left.dead_letters.values())
    queued = ", ".join(f"{n} in {q}" for q, n in sorted(queued_at_boards.items()) if n) or "none"
    print(
        f"  embedded end to end: {rate:,.0f} workouts/s ({workouts} in {elapsed:.1f} s, reports"
        f" included; the boards complete after {boards_s:.1f} s with {queued}"
        f" still queued); {cpu_ms:.2f} ms CPU a workout ({boards_cpu_ms:.2f} until"
        f" the boards were complete); dead letters {dead}"
    )
    return [
        Figure(
            "embedded, end to end",
            "submitted -> on the boards and in the monthly reports, one process",
            rate,
            "workouts/s",
            ">= 1,000/s",
            1_000.0,
            baseline_text="no baseline: ratio to the target",
            notes=(
                f"{workouts:,} workouts of {sizes.athletes} athletes, one a request, 32 at a"
                f" time; all accepted after {accepted_s:.1f} s, all on the boards after"
                f" {boards_s:.1f} s ({queued} still queued), the"
                f" queue empty (every report done) after {elapsed:.1f} s; {cpu_ms:.2f} ms CPU"
                f" per workout ({boards_cpu_ms:.2f} until the boards were complete)"
                + (f"; {dead} dead letters" if dead else "")
            ),
            details={
                "workouts": workouts,
                "seconds": elapsed,
                "accepted_seconds": accepted_s,
                "boards_seconds": boards_s,
                "queued_at_boards": queued_at_boards,
                "cpu_ms_per_workout": cpu_ms,
                "boards_cpu_ms_per_workout": boards_cpu_ms,
                "dead_letters": left.dead_letters,
            },
        )
    ]


async def drain(sizes: Sizes) -> list[Figure]:
    """The drain of a backlog of few athletes (the issue's figure, and the CPU per workout
    from it), then of the same backlog from many athletes."""
    result = await worker_drain.main(sizes.drain_workouts, 2, sizes.drain_athletes)
    figures = [_drained(result), _cpu_per_workout(result)]
    if sizes.drain_athletes_many:
        crowd = await worker_drain.main(sizes.drain_workouts, 2, sizes.drain_athletes_many)
        figures.append(_drained(crowd))
    return figures


def _drained(result: worker_drain.DrainResult) -> Figure:
    clean = result.reconcile_code == 0
    details = {
        "workouts": result.workouts,
        "athletes": result.athletes,
        "window_s": result.window_s,
        "fill_cpu_ms": result.fill_cpu_ms,
        "drain_cpu_ms": result.drain_cpu_ms,
        "bare_cpu_ms": result.bare_cpu_ms,
        "worker_shares": result.worker_shares,
        "machine_busy": result.machine_busy,
        "reconcile": result.reconcile_output,
    }
    return Figure(
        "drain, 2 workers",
        f"backlog of {result.workouts:,} workouts of {result.athletes:,} athletes",
        result.rate,
        "workouts/s",
        ">= 3,000/s, reconcile clean",
        3_000.0,
        baseline=result.bare_rate,
        baseline_text="bare aio-pika consume+ack",
        notes=(
            f"the issue's backlog is 100,000 (--drain-workouts); fitboard reconcile:"
            f" {'clean' if clean else 'NOT clean'} ({result.reconcile_output}); CPU per"
            f" workout end to end {result.cpu_ms_end_to_end:.2f} ms, the machine"
            f" {result.machine_busy:.0%} busy"
        ),
        details=details,
    )


def _cpu_per_workout(result: worker_drain.DrainResult) -> Figure:
    parts = ", ".join(
        f"{name} {ms:.2f}"
        for name, ms in {
            "API": result.fill_cpu_ms["API"] + result.drain_cpu_ms["API"],
            "workers": result.drain_cpu_ms["workers"],
            **{
                k: result.fill_cpu_ms[k] + result.drain_cpu_ms[k]
                for k in ("PostgreSQL", "Redis", "RabbitMQ")
            },
        }.items()
    )
    return Figure(
        "CPU per workout",
        "end to end, every process and service",
        result.cpu_ms_end_to_end,
        "ms",
        "<= 1 ms",
        1.0,
        better="lower",
        baseline_text="no baseline: ratio to the target",
        notes=(
            f"the drain of {result.athletes:,} athletes' backlog; accepting (one a request) +"
            f" draining, ms: {parts}; the load's own not counted"
        ),
        details={"fill_cpu_ms": result.fill_cpu_ms, "drain_cpu_ms": result.drain_cpu_ms},
    )


async def freshness(sizes: Sizes) -> list[Figure]:
    result = await live_freshness.main(
        sizes.freshness_rate,
        sizes.freshness_probes,
        50,
        mode="production",
        workers=2,
        api_processes=1,
    )
    rate = f"{sizes.freshness_rate:g}/s"
    processed = (
        f"{result.processed_per_s:.0f}/s" if result.processed_per_s is not None else "unknown"
    )
    notes = (
        f"{len(result.fresh_ms)} probes; load accepted {result.accepted_per_s:.0f}/s,"
        f" processed {processed}"
        + (" ; SATURATED: a probe heard nothing within 30 s" if result.missed else "")
    )
    # A probe that heard nothing within the probe timeout counts as that timeout: the
    # percentiles are then lower bounds, and the target is not met.
    fresh = result.fresh_ms + [1000 * live_freshness.PROBE_TIMEOUT_S] * result.missed
    figures = []
    for p, target in ((50, 25.0), (99, 150.0)):
        value = percentile(fresh, p) if fresh else None
        base = percentile(result.baseline_ms, p) if result.baseline_ms else None
        figures.append(
            Figure(
                "freshness, 1 API + 2 workers",
                f"202 -> rank:update p{p} at {rate}" + (" (lower bound)" if result.missed else ""),
                value,
                "ms",
                f"<= {target:g} ms",
                target,
                better="lower",
                baseline=base,
                baseline_text="GET /healthz round trip",
                notes=notes if p == 50 else "",
                details={"missed": result.missed} if p == 50 else {},
            )
        )
    return figures


def _reads(
    name: str, fitboard: HammerReport, bare: HammerReport, pg_ms: float, connections: int
) -> list[Figure]:
    p99 = percentile(fitboard.latency_ms, 99)
    pg_rate = 1000 / pg_ms
    return [
        Figure(
            "reads",
            f"{name}: reads/s",
            fitboard.per_s,
            "/s",
            ">= 0.5x bare",
            0.5,
            "ratio",
            baseline=bare.per_s,
            baseline_text="bare FastAPI reading the same Redis",
            notes=f"closed loop, {connections} connections",
            details={"fitboard": _details(fitboard, None), "bare": _details(bare, None)},
        ),
        Figure(
            "reads",
            f"{name}: p99 at {connections} connections",
            p99,
            "ms",
            "<= 10 ms",
            10.0,
            better="lower",
            baseline=percentile(bare.latency_ms, 99),
            baseline_text="bare FastAPI",
        ),
        Figure(
            "reads",
            f"{name}: x PostgreSQL's rank query",
            fitboard.per_s,
            "/s",
            ">= 100x faster",
            100.0,
            "ratio",
            baseline=pg_rate,
            baseline_text=f"window function, one connection ({pg_ms:.0f} ms each)",
        ),
    ]


async def boards_figures(sizes: Sizes) -> list[Figure]:
    n = sizes.board_athletes
    r = await boards.measure(n, sizes.seconds, sizes.connections)
    # The targets are for 1,000,000 entries on one board and 12,000,000 in all; at another
    # size they are scaled linearly (what a rebuild streaming at a fixed rate would take).
    one_target = 5.0 * r.rebuild_one_entries / 1_000_000
    all_target = 60.0 * r.rebuild_all_entries / 12_000_000
    zadd_all = r.zadd_s * r.rebuild_all_entries / max(1, n)
    size = f"{n:,} athletes"
    figures = [
        *_reads(f"top 10 at {size}", r.top, r.bare_top, r.pg_top_ms, sizes.connections),
        *_reads(
            f"/me?around=5 at {size}", r.around, r.bare_around, r.pg_around_ms, sizes.connections
        ),
        Figure(
            "rebuild",
            f"one board of {r.rebuild_one_entries:,} entries",
            r.rebuild_one_s,
            "s",
            f"<= 5 s per 1M entries ({one_target:.2f} s here)",
            one_target,
            better="lower",
            baseline=r.zadd_s,
            baseline_text="pipelined ZADD of the same members, 1,000 a command",
        ),
        Figure(
            "rebuild",
            f"all boards (fitboard rebuild): {r.rebuild_all_boards} boards,"
            f" {r.rebuild_all_entries:,} entries",
            r.rebuild_all_s,
            "s",
            f"<= 60 s per 12M entries ({all_target:.2f} s here)",
            all_target,
            better="lower",
            baseline=zadd_all,
            baseline_text="pipelined ZADD (1,000 a command), at the one-board rate",
            notes="the command's whole run, its start-up included",
        ),
        Figure(
            "Redis memory",
            "per board entry, every key counted",
            r.bytes_per_entry,
            "B",
            "<= 80 B",
            80.0,
            better="lower",
            baseline=r.bare_bytes_per_member,
            baseline_text="a bare sorted set of the same members",
            notes="by kind of key: "
            + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(r.memory_by_kind.items())),
            details=boards.summary(r),
        ),
    ]
    return figures


async def fanout(sizes: Sizes) -> list[Figure]:
    baseline, result = await live_fanout.main(sizes.fanout_clients, sizes.fanout_rounds)
    return [
        Figure(
            "fan-out, one API process",
            f"leaderboard:update to {sizes.fanout_clients:,} websocket clients: p99",
            result["p99_ms"],
            "ms",
            "<= 250 ms",
            250.0,
            better="lower",
            baseline=baseline["p99_ms"],
            baseline_text="the same update to 1 client",
            notes=f"embedded serve; {sizes.fanout_rounds} rounds; reached all, median"
            f" {result['reach_all_p50_ms']:.0f} ms",
            details={"fanout": result, "baseline": baseline},
        )
    ]
