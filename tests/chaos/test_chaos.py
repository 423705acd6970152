"""The chaos suite: workouts at load through the HTTP API of production mode (two API
processes, two workers, the reports consumer), while workers and an API process are
SIGKILLed, RabbitMQ is stopped (stop_app, an orderly node restart, a node SIGKILL), Redis
is killed and comes back empty, PostgreSQL is restarted (fast and immediate), and ids are
sent again. Once the queues are drained: the invariant of ../shared/ARCHITECTURE.md on the
stores themselves, and the figures (tests/chaos/checks.py).

Two sizes. `short` runs in `make test` (every CI run): 600 workouts, and each kind of
fault once but for RabbitMQ's three, of which the seed picks one (`faults.short_kinds`).
`full` runs with `make chaos` (FITBOARD_CHAOS_FULL=1): at least 20,000 workouts and every
kind of fault several times; FITBOARD_CHAOS_WORKOUTS and FITBOARD_CHAOS_RATE change its
count and pace. The seed (the load's workouts, the order of the full run's faults, which
process a kill hits, the short run's broker fault) is printed at the start and is in the
figures; FITBOARD_CHAOS_SEED runs with a given one again. Either writes its figures to
FITBOARD_CHAOS_FIGURES (default tmp/chaos/<size>.json in the checkout) and prints them as
a table. Recovery times are recorded, never asserted.

With FITBOARD_CHAOS_CLUSTER=1 (`make chaos-cluster`) either size runs on a three-node
RabbitMQ cluster and a three-node Redis Cluster, and the broker's and Redis's faults are
node SIGKILLs (`faults.CLUSTER_KINDS`, each once a round); its figures go to
tmp/chaos/<size>-cluster.json.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import time
from pathlib import Path
from typing import Any

import pytest

from .checks import (
    Outcome,
    check_answers,
    check_awards,
    check_boards_independently,
    check_ids,
    check_reconcile,
    check_reports,
    check_rollups,
    stored_workouts,
)
from .faults import CLUSTER_KINDS, KINDS, Chaos, RecordWatch, short_kinds
from .fleet import chaos_fleet
from .load import BoardReader, Load, register_athletes
from .report import REPO, by_kind, fault_rows, machine, table, write

pytestmark = pytest.mark.production

PROGRESS_EVERY_S = 30.0
# On clusters: the RabbitMQ cluster and the Redis Cluster instead of one node of each.
CLUSTERS = os.environ.get("FITBOARD_CHAOS_CLUSTER") == "1"


@dataclasses.dataclass(frozen=True)
class Size:
    name: str
    athletes: int
    workouts: int
    concurrency: int
    # Submissions started per second at most: the load lasts as long as the faults.
    max_rate: float
    # The full run: each kind of fault this many times, in an order the seed shuffles (the
    # short run injects `faults.short_kinds` once, whatever this says).
    rounds: int
    # How long a server stays down.
    hold_s: float
    # Between the end of a fault and the next.
    settle_s: float
    # The whole test, set-up and checks included.
    bound_s: float
    drain_within_s: float


def size_from_environment() -> Size:
    """`short`, or `full` with FITBOARD_CHAOS_FULL=1; FITBOARD_CHAOS_WORKOUTS and
    FITBOARD_CHAOS_RATE override the number of workouts and the pace of either."""
    if os.environ.get("FITBOARD_CHAOS_FULL") == "1":
        size = Size(
            "full",
            athletes=200,
            workouts=20_000,
            concurrency=32,
            max_rate=40.0,
            rounds=3,
            hold_s=5.0,
            settle_s=5.0,
            bound_s=7200.0,
            drain_within_s=600.0,
        )
    else:
        size = Size(
            "short",
            athletes=30,
            workouts=600,
            concurrency=32,
            max_rate=40.0,
            rounds=1,
            hold_s=2.0,
            settle_s=0.5,
            bound_s=600.0,
            drain_within_s=180.0,
        )
    return dataclasses.replace(
        size,
        workouts=int(os.environ.get("FITBOARD_CHAOS_WORKOUTS", size.workouts)),
        max_rate=float(os.environ.get("FITBOARD_CHAOS_RATE", size.max_rate)),
    )


SIZES = [size_from_environment()]
# What a run chooses the workers' queue's partitions from (FITBOARD_WORKOUT_PARTITIONS).
CHAOS_PARTITIONS = (1, 2)


def figures_path(size: Size) -> Path:
    configured = os.environ.get("FITBOARD_CHAOS_FIGURES")
    name = f"{size.name}-cluster" if CLUSTERS else size.name
    return Path(configured) if configured else REPO / "tmp" / "chaos" / f"{name}.json"


async def report_progress(load: Load, chaos: Chaos, stop: asyncio.Event) -> None:
    """A line every PROGRESS_EVERY_S (seen with `pytest -s`, as `make chaos` runs it)."""
    began = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), PROGRESS_EVERY_S)
        print(
            f"chaos {time.monotonic() - began:6.0f} s: {load.started} started,"
            f" {len(load.accepted)} answered 202, {len(chaos.faults)} faults",
            flush=True,
        )


@pytest.mark.parametrize("size", SIZES, ids=[s.name for s in SIZES])
async def test_nothing_promised_is_lost_whatever_fails(size: Size, tmp_path: Path) -> None:
    configured = os.environ.get("FITBOARD_CHAOS_SEED")
    seed = int(configured) if configured else random.SystemRandom().randrange(1 << 32)
    if CLUSTERS:
        kinds = [kind for _ in range(size.rounds) for kind in CLUSTER_KINDS]
        random.Random(seed).shuffle(kinds)
    elif size.name == "short":
        kinds = short_kinds(seed)
    else:
        kinds = [kind for _ in range(size.rounds) for kind in KINDS]
        random.Random(seed).shuffle(kinds)
    # The workers' queue unsplit or in two partitions, as the seed says (or as
    # FITBOARD_CHAOS_PARTITIONS does): the roster and its failover under the same faults.
    configured_partitions = os.environ.get("FITBOARD_CHAOS_PARTITIONS")
    partitions = (
        int(configured_partitions)
        if configured_partitions
        else random.Random(seed).choice(CHAOS_PARTITIONS)
    )
    on = " on clusters" if CLUSTERS else ""
    print(f"chaos run ({size.name}{on}): seed {seed} (FITBOARD_CHAOS_SEED repeats its choices)")
    print(f"faults in order: {', '.join(kinds)}; the workers' queue in {partitions} partition(s)")
    async with (
        asyncio.timeout(size.bound_s),
        chaos_fleet(tmp_path, clusters=CLUSTERS, partitions=partitions) as fleet,
    ):
        d = fleet.deployment
        dsn = fleet.dsn
        began = time.monotonic()
        athletes = await register_athletes(d, size.athletes)
        load = Load(fleet.api_urls, athletes, size.workouts, size.concurrency, size.max_rate, seed)
        reader = BoardReader(fleet.api_urls, athletes[0], load.days())
        watch = RecordWatch(dsn)
        chaos = Chaos(fleet, load, size.hold_s, seed)
        stop = asyncio.Event()
        watching = [
            asyncio.create_task(reader.run(stop)),
            asyncio.create_task(watch.run(stop)),
            asyncio.create_task(report_progress(load, chaos, stop)),
        ]
        try:
            load_began = time.monotonic()
            async with asyncio.TaskGroup() as group:
                group.create_task(load.run())
                group.create_task(chaos.run(kinds, size.settle_s))
            load_s = time.monotonic() - load_began
            drain_s = await fleet.drain(load.accepted, size.drain_within_s)
        finally:
            stop.set()
            # A reader or sampler that broke must not lose the run's figures: it is a failure
            # of the run, reported with them.
            broken = [
                repr(result)
                for result in await asyncio.gather(*watching, return_exceptions=True)
                if result is not None
            ]
        exit_codes = await fleet.stop_consumers()
        chaos.measure(watch)

        outcome = Outcome()
        outcome.expect_zero("background tasks of the run that failed", len(broken), broken)
        f = outcome.figures
        f["athletes"] = size.athletes
        f["workouts submitted (distinct ids)"] = len(load.submitted)
        f["ids resubmitted after their 202"] = len(load.resubmitted)
        f["ids answered 202"] = len(load.accepted)
        outcome.expect_zero(
            "ids given up by the client (no 202 within its patience)", len(load.gave_up)
        )
        f["load lasted s"] = round(load_s, 1)
        f["accepted per second"] = round(len(load.accepted) / load_s, 1)
        f["drained within s after the load"] = None if drain_s is None else round(drain_s, 1)
        if drain_s is None:
            outcome.failures.append(f"not drained within {size.drain_within_s} s")
        f["backlog after the consumers stopped"] = await d.backlog()
        outcome.expect_zero("dead letters", await d.dead_letter_count())
        outcome.expect_zero(
            "consumers that did not exit 0 on SIGTERM at the end",
            sum(1 for code in exit_codes.values() if code != 0),
            exit_codes,
        )
        record, doubled = await stored_workouts(dsn)
        check_ids(outcome, set(load.accepted), load.submitted, record, doubled)
        await check_rollups(outcome, dsn, record)
        await check_reconcile(outcome, fleet)
        await check_boards_independently(outcome, fleet.redis.url, d.namespace, record)
        await check_awards(outcome, dsn, record)
        await check_reports(outcome, dsn, record)
        check_answers(outcome, load.requests + reader.requests, chaos.faults)
        f["faults injected"] = len(chaos.faults)
        f["faults injected after the load had ended"] = sum(
            1 for fault in chaos.faults if not fault.during_load
        )
        f["processes SIGKILLed by the run"] = sum(1 for e in fleet.supervisor.exits if e.planned)
        outcome.expect_zero(
            "processes that exited by themselves",
            len(fleet.supervisor.unplanned_exits),
            fleet.supervisor.unplanned_exits,
        )
        f["run lasted s"] = round(time.monotonic() - began, 1)

        document: dict[str, Any] = {
            "size": size.name,
            "parameters": {**size.__dict__, "seed": seed, "clusters": CLUSTERS},
            "machine": machine(),
            "figures": outcome.figures,
            "faults_by_kind": by_kind(chaos.faults),
            "faults": fault_rows(chaos.faults),
            "failures": outcome.failures,
        }
        path = figures_path(size)
        write(path, document)
        print(table(document))
        print(f"figures written to {path}")
        assert not outcome.failures, f"seed {seed}: " + "\n".join(outcome.failures)
