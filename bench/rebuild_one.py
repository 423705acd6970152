"""Rebuild one board from the record, timed: what `fitboard rebuild` does for each board
(drop it, load it from the record under the board's rebuild lock), for a single board.
Run in a subprocess with a deployment's FITBOARD_* settings (bench/boards.py); prints one
JSON line `{"seconds": ..., "entries": ..., "max_rss_mb": ...}` (the process's peak
resident memory, its start-up included; `max_rss_before_mb`, its peak before the rebuild).

    python -m bench.rebuild_one calories all global all

Or, to compare two copies of fitboard's source (a clean export of a commit each, say),
back to back on one seeded deployment: each pair rebuilds calories/all/global with the
first copy, then the second (each in a subprocess importing it through PYTHONPATH), then
times the baseline, a pipelined ZADD (1,000 members a command) of the board's members into
a scratch key, as bench/boards.py does; prints each run and its ratio to its pair's ZADD.

    python -m bench.rebuild_one --compare /tmp/A/src /tmp/B/src --athletes 50000 --pairs 3

`every` for the metric rebuilds every metric's board of the instance together, from one
read of the record, as `fitboard rebuild` does (with --compare: `--metric every`, or
`--metric calories every` for both in each pair, on one seeding); the ratio is then to
the ZADD's time scaled to the entries rebuilt (the calories board's ZADD seconds per
member, times the entries of every board).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path


async def rebuild(metric: str, period: str, scope: str, period_key: str) -> dict[str, float]:
    from fitboard.bootstrap import build
    from fitboard.config import Settings
    from fitboard.domain.boards import BoardId, BoardKey, Metric, Period, Scope

    metrics = list(Metric) if metric == "every" else [Metric(metric)]
    keys = [BoardKey(BoardId(m, Period(period), Scope.parse(scope)), period_key) for m in metrics]
    container = await build(Settings())
    try:
        # The peak before the rebuild: what start-up took, for the rebuild's own share.
        before_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        started = time.perf_counter()
        entries = await container.services.maintenance.rebuild_boards(keys)
        seconds = time.perf_counter() - started
    finally:
        await container.close()
    # ru_maxrss is in kilobytes on Linux.
    max_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "seconds": seconds,
        "entries": entries,
        "boards": len(keys),
        "max_rss_mb": round(max_rss_mb, 1),
        "max_rss_before_mb": round(before_mb, 1),
    }


async def compare(sources: list[Path], athletes: int, pairs: int, metrics: list[str]) -> None:
    import redis.asyncio as redis

    from bench import boards
    from bench.deployment import REDIS_URL, _run, deploy

    async with deploy("production", workers=0) as deployment:
        assert deployment.worker_setup is not None
        assert deployment.namespace is not None
        await boards.seed(deployment, athletes)
        client = redis.Redis.from_url(REDIS_URL)
        scratch = f"{deployment.namespace}:bench-scratch"
        try:
            for pair in range(pairs):
                runs: list[tuple[Path, dict[str, float]]] = []
                for metric in metrics:
                    argv = [sys.executable, "-m", "bench.rebuild_one", metric, "all", "global"]
                    for source in sources:
                        env = {**deployment.worker_setup[0], "PYTHONPATH": str(source)}
                        code, output = await _run([*argv, "all"], env, 3600)
                        if code != 0:
                            raise RuntimeError(f"rebuild with {source} exited {code}:\n{output}")
                        runs.append((source, json.loads(output.strip().splitlines()[-1])))
                key = await boards.board_key(client, deployment.namespace)
                zadd_s, _, _ = await boards.scratch_zadd(client, key, scratch)
                members = max(1, int(await client.zcard(key)))
                await client.unlink(scratch)
                load = " ".join(f"{n:.2f}" for n in os.getloadavg())
                print(f"pair {pair + 1}: pipelined ZADD {zadd_s:.2f} s; load {load}")
                for source, run in runs:
                    # The ZADD's time for as many entries as were rebuilt.
                    baseline_s = zadd_s * run["entries"] / members
                    print(
                        f"  {source}: {run['seconds']:.2f} s for {run['entries']:,} entries"
                        f" of {run['boards']:.0f} boards ({run['seconds'] / baseline_s:.2f}x"
                        f" ZADD), peak RSS {run['max_rss_mb']} MB"
                        f" ({run['max_rss_before_mb']} MB before the rebuild)",
                        flush=True,
                    )
        finally:
            await client.unlink(scratch)
            await client.aclose()


def main() -> None:
    if "--compare" not in sys.argv:
        print(json.dumps(asyncio.run(rebuild(*sys.argv[1:5]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compare", nargs="+", type=Path, required=True)
    parser.add_argument("--athletes", type=int, default=50_000)
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument(
        "--metric", nargs="+", default=["calories"], help="metrics' boards (or every), in turn"
    )
    args = parser.parse_args()
    sources = [path.resolve() for path in args.compare]
    missing = [str(p) for p in sources if not (p / "fitboard" / "__init__.py").exists()]
    if missing:
        parser.error(f"no fitboard package in {', '.join(missing)}")
    os.environ.pop("PYTHONPATH", None)
    from bench.common import run_main

    run_main(compare(sources, args.athletes, args.pairs, args.metric))


if __name__ == "__main__":
    main()
