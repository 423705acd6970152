"""The production processes on a 3-node Redis Cluster, one node of which is killed under
load: the invariant holds.

`fitboard serve` and two `fitboard worker`s run with FITBOARD_REDIS_URL naming a private
cluster (tests/services/redis_cluster.py: three primaries, no replicas,
`cluster-require-full-coverage no` as docs/deploy.md recommends, an append-only file
synced on every write), the session's PostgreSQL and RabbitMQ. Workouts are submitted
steadily through the HTTP API; the node holding the weekly calories board is SIGKILLed,
stays down for OUTAGE_S while submissions go on, and is started again with every write
it acknowledged. Its boards are not rebuilt: what the workers could not project into them
while it was down, they must project when it is back.
Half the athletes submit nothing after the outage, so their entries are what the outage's
projections made them (a node that came back empty would be rebuilt from the record, and
a later workout rewrites its athlete's whole total: either would hide a lost write;
tests/contract/test_ranking_cluster.py covers the empty node). Once the queues are
drained and the workers stopped: every workout answered 202 is in the record exactly
once (and nothing else, but for 503'd ones that landed), the rollups count each once,
`fitboard reconcile` finds no difference, every loaded board equals the workouts
themselves (tests/chaos/checks.py, independent of the product's own reconcile), and no
achievement was awarded twice; and the workers did wait for the node (else nothing was
tested).

While the node is down, /readyz answers 503 with the ranking unavailable (it pings every
primary). What it prints (pytest -s): how the API answered during the outage, and the
recovery time: from the restart until the cluster is ok, and until the API serves the
killed node's board again. Measured, not asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pytest

from tests.chaos.checks import (
    Outcome,
    check_awards,
    check_boards_independently,
    stored_workouts,
)
from tests.conftest import drop_postgres_database
from tests.services.redis_cluster import PrivateRedisCluster, private_redis_cluster

from ..contract.queue_adapters import bounded
from .processes import (
    Athlete,
    Deployment,
    Sent,
    eventually,
    load_boards,
    migrated_database,
    period_keys,
    started_at_for_tests,
    week_key,
)

pytestmark = pytest.mark.production

ATHLETES = ("ada", "bo", "cy", "di", "ed", "flo")
# Rounds (one workout per athlete each) before the kill and after the restart.
ROUNDS_AROUND = 12
# How long the node stays down, submissions going on: long enough for a few dozen
# workouts to meet the dead node and for the workers' waits to reach their cap.
OUTAGE_S = 4.0
# The workers' retry backoff (FITBOARD_WORKER_RETRY_DELAYS_S): a short cap, so the
# backlog of the outage is processed within a second of the node's return rather than
# after the shipped 8 s step, and no message is still on its way back from a retry
# queue (where the drain check cannot see it) when the workers are stopped.
RETRY_DELAYS_S = (0.25, 0.5, 1.0)
# Between rounds, so that the load is a few hundred workouts, not as many as 2 cores
# can push.
PAUSE_S = 0.1


@contextlib.asynccontextmanager
async def cluster_deployment(tmp_path: Path, redis_url: str) -> AsyncIterator[Deployment]:
    """A fresh migrated database and a RabbitMQ namespace of its own, Redis being the
    cluster at `redis_url` (fresh too: nothing to flush). Every process stopped and
    everything removed afterwards, whatever happened."""
    name, url = await migrated_database(tmp_path)
    d = Deployment(
        tmp_path,
        name,
        url,
        f"cluster-{uuid.uuid4().hex[:12]}",
        redis_url=redis_url,
        retry_delays_s=RETRY_DELAYS_S,
    )
    try:
        yield d
    finally:
        try:
            await d.stop_all()
            await d.client.aclose()
            await d.remove_broker_objects()
        finally:
            # Shown by pytest only when the test failed.
            print(d.logs())
            await asyncio.to_thread(drop_postgres_database, name)


@dataclass
class Load:
    """Rounds of submissions, one workout per athlete each, until stopped; each workout
    has its own duration and distance, so a lost or doubled one changes the totals."""

    d: Deployment
    athletes: list[Athlete]
    moment: datetime
    sent: list[Sent] = field(default_factory=list)
    rounds: int = 0

    async def round(self) -> None:
        base = self.rounds * len(self.athletes)
        self.rounds += 1
        self.sent += await asyncio.gather(
            *(
                self.d.submit(
                    athlete,
                    started_at=self.moment,
                    duration_s=600 + base + n,
                    distance_m=1000 + 3 * (base + n),
                )
                for n, athlete in enumerate(self.athletes)
            )
        )
        await asyncio.sleep(PAUSE_S)

    async def until(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.round()


def board_key(namespace: str, metric: str, period: str, scope: str, period_key: str) -> str:
    """The Redis key of a board's sorted set (adapters/ranking_redis.py lays them out)."""
    return f"{namespace}:{{board:{metric}:{period}:{scope}:{period_key}}}:2:z"


async def read_status(d: Deployment, viewer: Athlete, period: str, period_key: str) -> int:
    """The status of one read of a global calories board (200, or 503 while its node is
    unavailable)."""
    response = await d.client.get(
        f"/v1/leaderboards/calories/{period}",
        params={"scope": "global", "period_key": period_key, "limit": 10},
        headers=viewer.headers,
    )
    assert response.status_code in (200, 503), response.text
    return response.status_code


async def served(d: Deployment, viewer: Athlete, period_key: str) -> bool:
    return await read_status(d, viewer, "week", period_key) == 200


async def kill_and_restart(
    cluster: PrivateRedisCluster, node: int, load: Load, d: Deployment, viewer: Athlete
) -> None:
    """Node `node` (the weekly board's) down for OUTAGE_S under load, then up again;
    prints what it saw, also of a board on another node if one of the other periods'
    global calories boards is on one."""
    before = len(load.sent)
    period_key = week_key(load.moment)
    elsewhere = [
        (period, key)
        for period, key in period_keys(load.moment).items()
        if await cluster.node_of(board_key(d.namespace, "calories", period, "global", key)) != node
    ][:1]
    stop = asyncio.Event()
    submitting = asyncio.create_task(load.until(stop))
    try:
        await cluster.kill(node)
        killed_at = time.monotonic()
        # Readiness asks every primary: one down is Redis unavailable, as a single Redis
        # down is.
        ready = await d.client.get("/readyz")
        assert ready.status_code == 503, ready.text
        assert ready.json()["checks"]["ranking"] == "unavailable", ready.text
        reads: list[int] = []
        other_reads: list[int] = []
        while time.monotonic() - killed_at < OUTAGE_S:
            reads.append(await read_status(d, viewer, "week", period_key))
            other_reads += [await read_status(d, viewer, *board) for board in elsewhere]
            await asyncio.sleep(0.2)
        restarted_at = time.monotonic()
        await cluster.restart(node)
        cluster_ok_s = time.monotonic() - restarted_at
        await eventually(lambda: served(d, viewer, period_key), within_s=60, every_s=0.05)
        served_s = time.monotonic() - restarted_at
    finally:
        stop.set()
        await submitting
    during = load.sent[before:]
    slowest = max(s.elapsed_s for s in during)
    print(
        f"\nRedis node {node} down {OUTAGE_S:.0f} s under load: "
        f"{sum(s.status_code == 202 for s in during)} workouts answered 202 "
        f"(the slowest in {slowest:.2f} s), {sum(s.status_code == 503 for s in during)} "
        f"503; reads of its weekly board: {reads.count(200)} 200, {reads.count(503)} 503; "
        f"of the {elsewhere} board on another node: {other_reads.count(200)} 200, "
        f"{other_reads.count(503)} 503.\n"
        f"Recovery after the restart: cluster ok in {cluster_ok_s:.2f} s, "
        f"its board served again by the API in {served_s:.2f} s."
    )


@bounded(240)
async def test_a_redis_node_killed_under_load_keeps_the_invariant(tmp_path: Path) -> None:
    async with (
        private_redis_cluster(full_coverage=False, appendonly=True) as cluster,
        cluster_deployment(tmp_path, cluster.url) as d,
    ):
        began = time.monotonic()
        phases: dict[str, float] = {}

        def phase(name: str) -> None:
            phases[name] = round(time.monotonic() - began, 1)

        await d.start(workers=2)
        phase("started")
        athletes = list(await asyncio.gather(*(d.register(name) for name in ATHLETES)))
        phase("registered")
        viewer = athletes[0]
        load = Load(d, athletes, started_at_for_tests())
        # Loaded before the workers write, so reconcile compares what they projected.
        boards = await load_boards(d, viewer, load.moment)
        weekly = board_key(d.namespace, "calories", "week", "global", week_key(load.moment))
        node = await cluster.node_of(weekly)
        phase("boards loaded")

        for _ in range(ROUNDS_AROUND):
            await load.round()
        phase("load before")
        await kill_and_restart(cluster, node, load, d, viewer)
        phase("outage")
        # Half the athletes submit nothing more: their totals on the boards stay as the
        # projections of the outage left them. (A later workout writes its athlete's
        # whole total again, which would mend one that was lost.)
        load.athletes = load.athletes[: len(ATHLETES) // 2]
        for _ in range(ROUNDS_AROUND):
            await load.round()
        phase("load after")

        accepted = [s for s in load.sent if s.status_code == 202]
        refused = [s.id for s in load.sent if s.status_code != 202]
        print(f"{len(load.sent)} workouts submitted, {len(accepted)} answered 202.")
        await d.wait_drained([s.id for s in accepted])
        phase("drained")
        await d.stop_workers()
        phase("workers stopped")
        # In the record exactly once, rollups, `fitboard reconcile` (exit 0, no difference).
        await d.check_invariant(accepted, also_allowed=refused, boards=boards)
        dsn = d.database_url.replace("+asyncpg", "", 1)
        record, doubled = await stored_workouts(dsn)
        assert doubled == 0
        outcome = Outcome()
        await check_boards_independently(outcome, cluster.url, d.namespace, record)
        await check_awards(outcome, dsn, record)
        assert not outcome.failures, outcome.failures
        assert outcome.figures["boards checked independently (loaded in Redis)"] > 0
        phase("checked")
        # Last: a test that tested nothing fails, but a broken invariant says so first.
        waits = sum(w.output().count("for a dependency") for w in d.workers)
        assert waits > 0, "no projection met the dead node: the kill tested nothing"
        print(f"{waits} waits of the workers for Redis.")
        print(outcome.figures)
        print(phases)
