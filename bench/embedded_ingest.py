"""`python -m bench --only embedded-ingest`: the two embedded ingest figures of the
`ingest` group (single and batch submissions to one embedded `fitboard serve`, its
in-process worker running meanwhile) with their baseline, the bare FastAPI endpoint
measured in the same run, without the production API the `ingest` group measures too:
a short A/B of a change to the embedded path.

The serve process's pid is printed once its athletes are registered, to attach a
profiler (`py-spy record --pid <pid>`) while it is loaded.
"""

from __future__ import annotations

from bench.bare import bare_server
from bench.common import percentile
from bench.deployment import REDIS_URL, deploy
from bench.figures import Sizes, _details, _hammer
from bench.live_freshness import register_athletes
from bench.results import Figure


async def embedded_ingest(sizes: Sizes) -> list[Figure]:
    n, s = sizes.connections, sizes.seconds
    async with bare_server(REDIS_URL) as bare:
        base, _ = await _hammer(None, f"{bare}/v1/workouts", [], "workout", n, s)
    print(f"  bare FastAPI 202: {base.per_s:,.0f}/s")
    async with deploy("embedded") as deployment:
        url = deployment.api_urls[0]
        tokens = await register_athletes(deployment.api_urls, sizes.athletes)
        print(f"  embedded serve pid {deployment.services[0].process.pid} at {url}", flush=True)
        single, single_cpu = await _hammer(
            deployment, f"{url}/v1/workouts", tokens, "workout", n, s
        )
        batch, batch_cpu = await _hammer(
            deployment, f"{url}/v1/workouts:batch", tokens, "batch", sizes.batch_connections, s
        )
    print(
        f"  embedded: {single.per_s:,.0f}/s, p99 {percentile(single.latency_ms, 99):.1f} ms,"
        f" {single_cpu or 0:.2f} ms CPU a request; batch {batch.items_per_s:,.0f} workouts/s"
    )
    load = f"closed loop, {n} connections, {s:g} s; the in-process worker runs meanwhile"
    return [
        Figure(
            "ingest, embedded",
            "POST /v1/workouts",
            single.per_s,
            "/s",
            ">= 0.5x bare",
            0.5,
            "ratio",
            baseline=base.per_s,
            baseline_text="bare FastAPI 202",
            notes=load,
            details={"fitboard": _details(single, single_cpu), "bare": _details(base, None)},
        ),
        Figure(
            "batch ingest, embedded",
            "POST /v1/workouts:batch (100 a request)",
            batch.items_per_s,
            "workouts/s",
            ">= 10,000/s",
            10_000.0,
            baseline_text="no baseline: ratio to the target",
            notes=f"closed loop, {sizes.batch_connections} connections",
            details=_details(batch, batch_cpu),
        ),
    ]
