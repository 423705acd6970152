"""`python -m bench` (or `make bench`): issue 12's whole table in one run. Every figure
beside its baseline measured in the same run (or, with none, its ratio to the target),
printed as an aligned table and written as JSON (bench/results/<time>.json).

Everything runs on loopback against the machine's services (`make services`), is bounded
in count and time, and removes what it created (databases, Redis keys, queues, processes).

    python -m bench [--quick] [--only ingest,drain,...] [--drain-workouts 10000]
        [--drain-athletes 32] [--drain-athletes-many 1000] [--board-athletes 50000]
        [--seconds 10] [--fanout-clients 5000] [--out PATH]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import figures, imports
from bench.common import positive, raise_open_files_limit, run_main
from bench.embedded_ingest import embedded_ingest
from bench.figures import FULL, GROUPS, QUICK, Sizes
from bench.machine import describe, reference_cpu_ms
from bench.results import Figure, failed, text_table, write_json

RESULTS = Path(__file__).with_name("results")

RUNNERS: dict[str, Callable[[Sizes], Awaitable[list[Figure]]]] = {
    "ingest": figures.ingest,
    "embedded": figures.embedded_end_to_end,
    "drain": figures.drain,
    "freshness": figures.freshness,
    "boards": figures.boards_figures,
    "fanout": figures.fanout,
    "imports": imports.group,
    # Not in a full run (the `ingest` group measures it): the embedded figures alone.
    "embedded-ingest": embedded_ingest,
}


def _commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=Path(__file__).parent,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
            cwd=Path(__file__).parent,
        )
    except OSError:
        return "unknown"
    commit = done.stdout.strip() or "unknown"
    return commit + (" (src/ has uncommitted changes)" if dirty.stdout.strip() else "")


def _fitboard_source() -> str:
    """Where `fitboard` is imported from: this tree's src/, or (PYTHONPATH) another copy,
    such as a clean export of a commit while the working tree is being edited."""
    import fitboard

    return str(Path(fitboard.__file__).resolve().parent)


def _load() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


async def run(groups: list[str], sizes: Sizes) -> list[Figure]:
    rows: list[Figure] = []
    for group in groups:
        print(f"\n=== {group} (load average {_load()})", flush=True)
        started = time.monotonic()
        try:
            rows += await RUNNERS[group](sizes)
        except Exception as exc:  # one group failing must not lose the others' figures
            traceback.print_exc()
            rows.append(failed(group, "(the whole group)", "", "", repr(exc)[:300]))
        print(f"=== {group}: {time.monotonic() - started:.0f} s", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, for a smoke run (a few minutes)"
    )
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated groups, of: {', '.join(RUNNERS)} (default: {', '.join(GROUPS)})",
    )
    parser.add_argument("--seconds", type=positive(float), help="each closed-loop phase")
    parser.add_argument(
        "--drain-workouts",
        type=positive(int),
        help=f"the drained backlog (issue 12: 100,000; default {FULL.drain_workouts:,})",
    )
    parser.add_argument(
        "--drain-athletes",
        type=positive(int),
        help="the athletes the drained backlog comes from (few: both workers lock the same"
        f" rows and take turns; default {FULL.drain_athletes:,})",
    )
    parser.add_argument(
        "--drain-athletes-many",
        type=int,
        help="the athletes of the second drain, the same backlog from a crowd (0: no second"
        f" drain; default {FULL.drain_athletes_many:,})",
    )
    parser.add_argument(
        "--board-athletes",
        type=positive(int),
        help=f"athletes on the boards read and rebuilt (issue 12: 1,000,000;"
        f" default {FULL.board_athletes:,})",
    )
    parser.add_argument("--fanout-clients", type=positive(int))
    parser.add_argument("--out", type=Path, help="the JSON file (default bench/results/<time>)")
    args = parser.parse_args()
    groups = [g.strip() for g in args.only.split(",") if g.strip()] or list(GROUPS)
    unknown = [g for g in groups if g not in RUNNERS]
    if unknown:
        parser.error(f"unknown group {', '.join(unknown)}; the groups are {', '.join(RUNNERS)}")
    if args.drain_athletes_many is not None and args.drain_athletes_many < 0:
        parser.error("--drain-athletes-many must be 0 (no second drain) or more")
    sizes = QUICK if args.quick else FULL
    overrides = {
        "seconds": args.seconds,
        "drain_workouts": args.drain_workouts,
        "drain_athletes": args.drain_athletes,
        "drain_athletes_many": args.drain_athletes_many,
        "board_athletes": args.board_athletes,
        "fanout_clients": args.fanout_clients,
    }
    sizes = dataclasses.replace(sizes, **{k: v for k, v in overrides.items() if v is not None})
    raise_open_files_limit()

    started_at = datetime.now(UTC)
    machine = describe()
    load_before = _load()
    # The host's speed before and after: figures of runs on hosts of different speeds are
    # compared through it (bench.machine.reference_cpu_ms).
    reference_before = reference_cpu_ms()
    print(f"fitboard benchmarks: {', '.join(groups)}; sizes {sizes}")
    print(
        f"machine: {machine}; load average {load_before};"
        f" reference work {reference_before} ms of CPU"
    )
    print(f"fitboard from {_fitboard_source()}; this tree at {_commit()}")
    rows = run_main(run(groups, sizes))
    load_after = _load()
    reference_after = reference_cpu_ms()

    print("\n" + text_table(rows))
    print(
        f"\nsizes: drain backlog {sizes.drain_workouts:,} (issue 12: 100,000) from"
        f" {sizes.drain_athletes:,} athletes"
        + (f" and from {sizes.drain_athletes_many:,}" if sizes.drain_athletes_many else "")
        + ", boards at"
        f" {sizes.board_athletes:,} athletes (issue 12: 1,000,000), fan-out to"
        f" {sizes.fanout_clients:,} clients; load average before {load_before}, after {load_after};"
        f" reference work before {reference_before} ms of CPU, after {reference_after} ms"
    )
    out = args.out or RESULTS / f"{started_at:%Y%m%dT%H%M%SZ}.json"
    write_json(
        out,
        rows,
        {
            "started_at": started_at.isoformat(),
            "seconds": round((datetime.now(UTC) - started_at).total_seconds(), 1),
            "commit": _commit(),
            "fitboard_source": _fitboard_source(),
            "command": " ".join([Path(sys.executable).name, "-m", "bench", *sys.argv[1:]]),
            "groups": groups,
            "sizes": dataclasses.asdict(sizes),
            "machine": machine,
            "load_average": {"before": load_before, "after": load_after},
            "reference_cpu_ms": {"before": reference_before, "after": reference_after},
            "cpu_count": os.cpu_count(),
        },
    )
    print(f"JSON: {out}")
    if any(f.notes.startswith("not measured") for f in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
