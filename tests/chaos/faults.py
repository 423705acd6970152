"""The faults the chaos suite injects, when it injects them, and how it times recovery.

Each fault is done to the run's own servers and processes only (tests/services, and the
fleet's supervisor). A fault has a beginning and an end: for a server, the end is when it
answers again; for a SIGKILLed process, the kill itself (the supervisor starting a new one
is part of the recovery). Broker faults also record the window in which the broker was
certainly unreachable: from the moment the stop (or kill) had completed until the start
was begun. No 202 may be both sent and answered inside that window.

On clusters (FITBOARD_CHAOS_CLUSTER=1) the broker and Redis faults are node SIGKILLs:
the RabbitMQ node holding the most of the fleet's connections, or one of the Redis
Cluster's three primaries (the seed picks which), killed and started again after the
hold. The broker as a whole stays up (two nodes hold a majority of every quorum queue), so
such a fault has no window in which a 202 is forbidden: a 202 in it was confirmed by the
nodes still running.

Recovery is not asserted (no test here fails on a timing); it is measured from the fault's
end until the first 202 of a request sent after it, and until the record grows again
(`RecordWatch` samples the number of stored workouts).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from tests.integration.cluster_deployment import ClusterDeployment
from tests.integration.processes import Service, eventually
from tests.services.rabbitmq_cluster import RabbitMQCluster
from tests.services.redis import PrivateRedis
from tests.services.redis_cluster import PrivateRedisCluster

from .fleet import Fleet
from .load import Load

WORKER_SIGKILL = "worker SIGKILL"
API_SIGKILL = "API SIGKILL"
RABBITMQ_STOP_APP = "RabbitMQ stop_app/start_app"
RABBITMQ_NODE_RESTART = "RabbitMQ node restart"
RABBITMQ_NODE_KILL = "RabbitMQ node SIGKILL"
REDIS_KILL = "Redis SIGKILL, back empty"
REDIS_NODE_KILL = "Redis Cluster node SIGKILL, back empty"
POSTGRES_FAST = "PostgreSQL restart (fast)"
POSTGRES_IMMEDIATE = "PostgreSQL restart (immediate)"

# Every kind (worker SIGKILL twice): one round of the full run, which shuffles its rounds.
KINDS = (
    WORKER_SIGKILL,
    RABBITMQ_STOP_APP,
    REDIS_KILL,
    POSTGRES_FAST,
    API_SIGKILL,
    RABBITMQ_NODE_RESTART,
    POSTGRES_IMMEDIATE,
    WORKER_SIGKILL,
    RABBITMQ_NODE_KILL,
)
BROKER_KINDS = (RABBITMQ_STOP_APP, RABBITMQ_NODE_RESTART, RABBITMQ_NODE_KILL)


def short_kinds(seed: int) -> list[str]:
    """The short run's faults, in order: every kind but the broker's once, and one of the
    three broker kinds, chosen by the seed (seed % 3), which takes the place of all three.
    A broker fault costs the most time (the node stops and starts, every process
    reconnects), so each run injects one and runs cover all three between them; the full
    run injects all of them every time, and FITBOARD_CHAOS_SEED repeats a run's choice."""
    return [
        WORKER_SIGKILL,
        BROKER_KINDS[seed % len(BROKER_KINDS)],
        REDIS_KILL,
        POSTGRES_FAST,
        API_SIGKILL,
        POSTGRES_IMMEDIATE,
    ]


# The run on clusters, every kind once: RabbitMQ's and Redis's faults are node SIGKILLs.
CLUSTER_KINDS = (
    WORKER_SIGKILL,
    RABBITMQ_NODE_KILL,
    REDIS_NODE_KILL,
    POSTGRES_FAST,
    API_SIGKILL,
    POSTGRES_IMMEDIATE,
)


# The longest a replaced worker may take to consume again before the figure says "none".
CONSUMING_WITHIN_S = 90.0


@dataclass
class Fault:
    kind: str
    began: float  # time.monotonic()
    ended: float = 0.0
    # The broker was certainly unreachable from the first to the second (broker faults).
    broker_down: tuple[float, float] | None = None
    target: str = ""
    # Filled in after the run: seconds from `ended`.
    first_202_s: float | None = None
    first_stored_s: float | None = None
    # Process kills: until the replacement consumes (worker) or answers 202 (API).
    replacement_s: float | None = None
    during_load: bool = True
    # Servers: how long stopping and starting them took (the hold is between the two).
    stopping_s: float = 0.0
    starting_s: float = 0.0


@dataclass
class RecordWatch:
    """Samples `SELECT count(*) FROM workouts` about four times a second, through outages
    of PostgreSQL (a failed sample is skipped, and the connection replaced)."""

    dsn: str
    samples: list[tuple[float, int]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        connection: asyncpg.Connection | None = None
        try:
            while not stop.is_set():
                try:
                    if connection is None or connection.is_closed():
                        connection = await asyncpg.connect(self.dsn, timeout=2)
                    count = await connection.fetchval("SELECT count(*) FROM workouts", timeout=2)
                    self.samples.append((time.monotonic(), int(count)))
                except Exception:  # any failure (PostgreSQL restarting) is a skipped sample
                    if connection is not None:
                        connection.terminate()
                    connection = None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.25)
        finally:
            if connection is not None:
                connection.terminate()

    def first_growth_after(self, moment: float) -> float | None:
        """Seconds from `moment` until a sample shows more workouts than the last sample
        taken before it."""
        before = [count for at, count in self.samples if at <= moment]
        base = before[-1] if before else 0
        for at, count in self.samples:
            if at > moment and count > base:
                return at - moment
        return None


@dataclass
class Chaos:
    """Injects faults into `fleet`, each held for `hold_s` (servers stay down that long)."""

    fleet: Fleet
    load: Load
    hold_s: float
    seed: int
    faults: list[Fault] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    async def inject(self, kind: str) -> Fault:
        fault = Fault(kind, time.monotonic(), during_load=not self.load.done.is_set())
        self.faults.append(fault)
        if kind == WORKER_SIGKILL:
            await self._kill_worker(fault)
        elif kind == API_SIGKILL:
            await self._kill_api(fault)
        elif kind in BROKER_KINDS:
            await self._broker(fault)
        elif kind == REDIS_KILL:
            redis = self.fleet.redis
            assert isinstance(redis, PrivateRedis), "a single Redis fault on a Redis Cluster"
            await self._server(fault, redis.stop(), redis.start)
        elif kind == REDIS_NODE_KILL:
            cluster = self.fleet.redis
            assert isinstance(cluster, PrivateRedisCluster), "a cluster fault on a single Redis"
            index = self._rng.randrange(len(cluster.nodes))
            fault.target = f"redis node {index}"
            await self._server(fault, cluster.kill(index), lambda: cluster.restart(index))
        elif kind in (POSTGRES_FAST, POSTGRES_IMMEDIATE):
            mode = "fast" if kind == POSTGRES_FAST else "immediate"
            postgres = self.fleet.postgres
            await self._server(fault, postgres.stop(mode=mode), postgres.start)
        else:
            raise ValueError(f"no such fault: {kind}")
        return fault

    async def _server(
        self,
        fault: Fault,
        stopping: Coroutine[Any, Any, None],
        start: Callable[[], Coroutine[Any, Any, None]],
    ) -> None:
        await stopping
        fault.stopping_s = time.monotonic() - fault.began
        await asyncio.sleep(self.hold_s)
        starting = time.monotonic()
        await start()
        fault.ended = time.monotonic()
        fault.starting_s = fault.ended - starting

    async def _kill(self, fault: Fault, roles: list[str]) -> Service:
        """SIGKILL one of `roles`, at random; returns the killed process once it is gone."""
        role = self._rng.choice(roles)
        old = self.fleet.supervisor.service(role)
        self.fleet.supervisor.kill(role)
        fault.target = role
        fault.ended = time.monotonic()
        await old.wait_exit(10)
        return old

    async def _kill_worker(self, fault: Fault) -> None:
        supervisor = self.fleet.supervisor
        old = await self._kill(fault, self.fleet.worker_roles)
        workers = len(self.fleet.worker_roles)

        async def replaced() -> bool:
            if supervisor.service(fault.target) is old:
                return False
            with contextlib.suppress(Exception):  # the broker may be restarting
                return await self.fleet.consumers() == workers
            return False

        with contextlib.suppress(TimeoutError):
            await eventually(replaced, within_s=CONSUMING_WITHIN_S, every_s=0.1)
            fault.replacement_s = time.monotonic() - fault.ended

    async def _kill_api(self, fault: Fault) -> None:
        # Its replacement is timed after the run, from the requests: its first 202.
        await self._kill(fault, self.fleet.api_roles)

    async def _broker(self, fault: Fault) -> None:
        node = self.fleet.rabbitmq
        if isinstance(node, RabbitMQCluster):
            await self._broker_node(fault, node)
            return
        if fault.kind == RABBITMQ_STOP_APP:
            await node.ctl("stop_app")
        elif fault.kind == RABBITMQ_NODE_RESTART:
            await node.ctl("stop")
            # The node has stopped; `kill` only collects the script that ran it.
            await node.kill()
        else:
            await node.kill()
        down_from = time.monotonic()
        fault.stopping_s = down_from - fault.began
        await asyncio.sleep(self.hold_s)
        down_until = time.monotonic()
        if fault.kind == RABBITMQ_STOP_APP:
            await node.start_app()
        else:
            await node.start()
            await node.await_dead_letter_workers()
        fault.broker_down = (down_from, down_until)
        fault.ended = time.monotonic()
        fault.starting_s = fault.ended - down_until

    async def _broker_node(self, fault: Fault, cluster: RabbitMQCluster) -> None:
        """SIGKILL the node of the cluster that holds the most of the fleet's connections
        (at first every process is on the first node of FITBOARD_AMQP_URL), start it again
        after the hold. No `broker_down`: the two others go on confirming."""
        assert fault.kind == RABBITMQ_NODE_KILL, f"{fault.kind} is not a cluster fault"
        deployment = self.fleet.deployment
        assert isinstance(deployment, ClusterDeployment)
        counts = await deployment.connections_by_node()
        names = [node.nodename for node in cluster.nodes]
        index = max(range(len(names)), key=lambda i: counts.get(names[i], 0))
        fault.target = f"rabbitmq node {index} ({counts.get(names[index], 0)} connections)"
        # The fault begins with the kill, not with rabbitmqctl's listing (seconds on a busy
        # machine): `stopping_s` is the kill's own time, as for the other servers.
        fault.began = time.monotonic()
        await self._server(fault, cluster.kill(index), lambda: cluster.start(index))

    async def run(self, kinds: Sequence[str], settle_s: float) -> None:
        """Inject `kinds` in order, spread over the load, each while workouts are being
        submitted. The load is cut into k+1 slices of s workouts; the i-th fault comes once
        i*s have been started, and the load may start s/2 more, during the fault, but no
        further until the fault has ended: the load never runs ahead of the faults, however
        slow they are. The next fault waits until every process works again, and
        `settle_s` more."""
        load = self.load
        slice_ = load.total // (len(kinds) + 1)
        load.allowed = slice_
        for n, kind in enumerate(kinds, start=1):

            def due(threshold: int = n * slice_) -> bool:
                return load.started >= threshold or load.done.is_set()

            await eventually(due, within_s=3600, every_s=0.05)
            load.allowed = n * slice_ + slice_ // 2
            await self.inject(kind)
            # New workouts right after the fault ended, so the first 202 after it times
            # the recovery rather than the schedule.
            load.allowed = (n + 1) * slice_ if n < len(kinds) else load.total
            # Each fault on its own: every process back and working before the next.
            await self.fleet.wait_all_running()
            await asyncio.sleep(settle_s)

    def measure(self, watch: RecordWatch) -> None:
        """Fill in each fault's recovery times from the requests and the record's samples."""
        submits = [r for r in self.load.requests if r.status == 202]
        for fault in self.faults:
            after = [r.answered for r in submits if r.sent >= fault.ended]
            fault.first_202_s = min(after) - fault.ended if after else None
            fault.first_stored_s = watch.first_growth_after(fault.ended)
            if fault.kind == API_SIGKILL:
                api = int(fault.target.removeprefix("api-"))
                back = [r.answered for r in submits if r.api == api and r.sent >= fault.ended]
                fault.replacement_s = min(back) - fault.ended if back else None
