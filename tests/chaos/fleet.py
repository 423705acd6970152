"""Production mode for the chaos suite: two `fitboard serve`, two `fitboard worker` and one
`fitboard reports`, on a PostgreSQL, a Redis and a RabbitMQ node of the run's own
(tests/services), and a supervisor that starts again whatever the run kills.

`ChaosDeployment` is tests/integration/processes.py's `Deployment` on a RabbitMQ node of
the run's own (its `broker`) instead of the session's: the suite stops and kills the whole
node, which the rest of the session must not see. The supervisor plays systemd's
`Restart=always` (docs/deploy.md): a process the run SIGKILLed is started again after
RESTART_DELAY_S. A process that exits by itself is started again too, and counted: nothing
in the run is meant to make one exit, so any such exit is a finding.

With `clusters=True` (FITBOARD_CHAOS_CLUSTER=1, `make chaos-cluster`) the fleet runs on a
three-node RabbitMQ cluster (tests/services/rabbitmq_cluster.py; FITBOARD_AMQP_URL lists
its nodes) and a three-node Redis Cluster (tests/services/redis_cluster.py; a
redis+cluster:// FITBOARD_REDIS_URL) instead of one node of each.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import httpx

from fitboard.bootstrap import reports_queue
from tests.integration.cluster_deployment import ClusterDeployment
from tests.integration.processes import (
    MAX_ATTEMPTS,
    Deployment,
    Service,
    eventually,
    free_port,
)
from tests.services.postgres import PrivatePostgres, private_postgres
from tests.services.rabbitmq import PrivateRabbitMQ, private_rabbitmq
from tests.services.rabbitmq_cluster import RabbitMQCluster, rabbitmq_cluster
from tests.services.redis import PrivateRedis, private_redis
from tests.services.redis_cluster import PrivateRedisCluster, private_redis_cluster

# As systemd's RestartSec would be: how long a dead process stays dead.
RESTART_DELAY_S = 1.0
# Lines of each process's output printed at teardown (pytest shows them on failure only).
LOG_TAIL_LINES = 150


@dataclass
class ChaosDeployment(Deployment):
    """A `Deployment` on the run's own RabbitMQ node (pass it as `broker`)."""

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env.update(
            # Every athlete signs up from 127.0.0.1; the per-address budget is for the internet.
            FITBOARD_REGISTRATIONS_PER_HOUR_PER_IP="0",
            # Tokens outlive the longest run.
            FITBOARD_JWT_TTL_S=str(24 * 3600),
        )
        return env

    async def remove_broker_objects(self) -> None:
        """Nothing to remove: the whole node is deleted with the run."""

    @property
    def reports_queue_name(self) -> str:
        return reports_queue(self.namespace, MAX_ATTEMPTS).name

    async def backlog(self) -> int:
        """Messages waiting anywhere but in a dead-letter queue: the workouts queue, the
        reports queue, and their retry queues. Messages in a consumer's hands are not
        counted (the final check comes after the consumers were stopped)."""
        names = [n for n in await self.queue_names() if not n.endswith(".dlq")]
        return sum(s.ready for s in (await self.queue_stats(names)).values())

    async def dead_letter_count(self) -> int:
        names = [n for n in await self.queue_names() if n.endswith(".dlq")]
        return sum(s.ready for s in (await self.queue_stats(names)).values())


@dataclass
class ClusterChaosDeployment(ClusterDeployment, ChaosDeployment):
    """A `ChaosDeployment` on the run's RabbitMQ cluster (pass it as `cluster`)."""


@dataclass
class Exit:
    """A process that ended while the supervisor watched it."""

    role: str
    pid: int
    code: int | None
    planned: bool
    at: float
    # The end of its output, for an exit the run did not cause.
    last_words: str = ""


@dataclass
class Managed:
    """One role of the deployment (`api-0`, `worker-1`, `reports`) and its current process."""

    role: str
    argv: tuple[str, ...]
    service: Service
    exit_planned: bool = False
    generation: int = 0


@dataclass
class Supervisor:
    """Starts again, after RESTART_DELAY_S, any managed process that has exited."""

    fleet: ChaosDeployment
    members: dict[str, Managed] = field(default_factory=dict)
    exits: list[Exit] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def spawn(self, role: str, *argv: str) -> Service:
        service = self.fleet._spawn(role, *argv)
        self.members[role] = Managed(role, argv, service)
        return service

    def service(self, role: str) -> Service:
        return self.members[role].service

    def kill(self, role: str) -> int:
        """SIGKILL the role's process (the supervisor brings it back); returns its pid."""
        member = self.members[role]
        member.exit_planned = True
        member.service.send(signal.SIGKILL)
        return member.service.pid

    def terminate(self, role: str) -> Service:
        """SIGTERM the role's process (the supervisor brings it back); returns it."""
        member = self.members[role]
        member.exit_planned = True
        member.service.send(signal.SIGTERM)
        return member.service

    @property
    def unplanned_exits(self) -> list[Exit]:
        return [e for e in self.exits if not e.planned]

    async def _watch(self) -> None:
        while True:
            for member in self.members.values():
                code = member.service.process.poll()
                if code is None:
                    continue
                planned = member.exit_planned
                output = "" if planned else member.service.output()
                self.exits.append(
                    Exit(
                        member.role,
                        member.service.pid,
                        code,
                        planned,
                        time.monotonic(),
                        "\n".join(output.splitlines()[-40:]),
                    )
                )
                await asyncio.sleep(RESTART_DELAY_S)
                member.generation += 1
                member.exit_planned = False
                member.service = self.fleet._spawn(
                    f"{member.role}.{member.generation}", *member.argv
                )
            await asyncio.sleep(0.1)

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        """Stop watching (and restarting); the processes keep running."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


@dataclass
class Fleet:
    """The running deployment: its servers, its processes and their supervisor."""

    deployment: ChaosDeployment
    postgres: PrivatePostgres
    redis: PrivateRedis | PrivateRedisCluster
    rabbitmq: PrivateRabbitMQ | RabbitMQCluster
    supervisor: Supervisor
    api_ports: list[int]

    @property
    def api_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.api_ports]

    @property
    def worker_roles(self) -> list[str]:
        return [r for r in self.supervisor.members if r.startswith("worker-")]

    @property
    def api_roles(self) -> list[str]:
        return [r for r in self.supervisor.members if r.startswith("api-")]

    async def consumers(self) -> int:
        d = self.deployment
        return (await d.queue_stats([d.queue.name]))[d.queue.name].consumers

    @property
    def dsn(self) -> str:
        """The record, for asyncpg."""
        return self.deployment.database_url.replace("+asyncpg", "", 1)

    async def stored_of(self, ids: list[uuid.UUID]) -> int | None:
        """How many of `ids` are in the record (None while PostgreSQL cannot answer)."""
        try:
            connection = await asyncpg.connect(self.dsn, timeout=5)
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return None
        try:
            return int(
                await connection.fetchval("SELECT count(*) FROM workouts WHERE id = ANY($1)", ids)
            )
        finally:
            await connection.close()

    async def drain(self, accepted: Iterable[uuid.UUID], within_s: float) -> float | None:
        """Until every id of `accepted` is stored and no message waits in any queue, twice in
        a row a second apart; returns how long that took, or None if not within `within_s`."""
        began = time.monotonic()
        ids = list(accepted)
        calm = 0
        while time.monotonic() - began < within_s:
            stored = await self.stored_of(ids)
            # The queues are looked at only once the record is complete: listing them runs
            # rabbitmqctl, an Erlang VM of its own, which takes CPU from the workers draining.
            backlog = -1
            if stored == len(ids):
                try:
                    backlog = await self.deployment.backlog()
                except Exception:  # the broker may still be recovering
                    backlog = -1
            calm = calm + 1 if stored == len(ids) and backlog == 0 else 0
            if calm >= 2:
                return time.monotonic() - began
            await asyncio.sleep(1.0)
        return None

    async def wait_all_running(self, within_s: float = 120.0) -> None:
        """Until every API process answers /readyz with 200, and the workouts and reports
        queues have all their consumers: every process the supervisor brought back works."""
        d = self.deployment
        reports = d.reports_queue_name
        workers = len(self.worker_roles)
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:

            async def running() -> bool:
                try:
                    for url in self.api_urls:
                        if (await client.get(f"{url}/readyz")).status_code != 200:
                            return False
                    stats = await d.queue_stats([d.queue.name, reports])
                except Exception:  # not listening yet, the broker still starting
                    return False
                return stats[d.queue.name].consumers == workers and stats[reports].consumers == 1

            try:
                await eventually(running, within_s=within_s, every_s=0.2)
            except TimeoutError:
                raise AssertionError(
                    f"the processes were not all running again within {within_s} s"
                ) from None

    async def stop_consumers(self, within_s: float = 60.0) -> dict[str, int | None]:
        """SIGTERM every worker and the reports consumer (the supervisor stopped first):
        each settles what it holds and exits. Returns each role's exit code (None: it
        outlived the bound and was killed)."""
        await self.supervisor.stop()
        roles = [r for r in self.supervisor.members if not r.startswith("api-")]
        for role in roles:
            self.supervisor.service(role).send(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for role in roles:
            service = self.supervisor.service(role)
            try:
                codes[role] = await service.wait_exit(within_s)
            except TimeoutError:
                service.send(signal.SIGKILL)
                codes[role] = None
        return codes


async def wait_ready(url: str, service: Service, within_s: float = 60.0) -> None:
    """Until the API at `url` answers /readyz with 200."""
    async with httpx.AsyncClient(base_url=url, timeout=5.0, trust_env=False) as client:

        async def ready() -> bool:
            if not service.alive:
                raise AssertionError(f"{service.name} exited:\n{service.output()}")
            try:
                return (await client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(ready, within_s=within_s, every_s=0.2)


def log_tails(fleet: Deployment) -> str:
    parts = []
    for s in fleet._services:
        lines = s.output().splitlines()[-LOG_TAIL_LINES:]
        parts.append(f"===== {s.name} (pid {s.pid}, exit {s.process.poll()}) =====")
        parts.extend(lines)
    return "\n".join(parts)


async def _redis(
    servers: contextlib.AsyncExitStack, cluster: bool
) -> PrivateRedis | PrivateRedisCluster:
    if cluster:
        return await servers.enter_async_context(private_redis_cluster())
    return await servers.enter_async_context(private_redis())


async def _rabbitmq(
    servers: contextlib.AsyncExitStack, cluster: bool
) -> PrivateRabbitMQ | RabbitMQCluster:
    if cluster:
        return await servers.enter_async_context(rabbitmq_cluster())
    return await servers.enter_async_context(private_rabbitmq())


@contextlib.asynccontextmanager
async def chaos_fleet(
    tmp_path: Path,
    *,
    apis: int = 2,
    workers: int = 2,
    clusters: bool = False,
    partitions: int = 1,
) -> AsyncIterator[Fleet]:
    """Private servers, a migrated database, `apis` API processes, `workers` workers and the
    reports consumer, all running and consuming, under a running supervisor. Everything is
    stopped and deleted afterwards, whatever happened. `clusters`: RabbitMQ and Redis are
    three-node clusters; `partitions`: the workers' queue's (FITBOARD_WORKOUT_PARTITIONS)."""
    async with contextlib.AsyncExitStack() as servers:
        # The servers start at once (RabbitMQ's start is the longest). If one fails, the
        # others are cancelled; those already running are removed by the stack.
        async with asyncio.TaskGroup() as group:
            starting_pg = group.create_task(servers.enter_async_context(private_postgres()))
            starting_rd = group.create_task(_redis(servers, clusters))
            starting_mq = group.create_task(_rabbitmq(servers, clusters))
        pg, rd, mq = starting_pg.result(), starting_rd.result(), starting_mq.result()
        namespace = f"chaos-{uuid.uuid4().hex[:8]}"
        d: ChaosDeployment
        if isinstance(mq, RabbitMQCluster):
            d = ClusterChaosDeployment(
                tmp_path,
                "",
                pg.database_url,
                namespace,
                redis_url=rd.url,
                cluster=mq,
                partitions=partitions,
            )
        else:
            d = ChaosDeployment(
                tmp_path,
                "",
                pg.database_url,
                namespace,
                redis_url=rd.url,
                broker=mq,
                partitions=partitions,
            )
        supervisor = Supervisor(d)
        try:
            code, output = await d.cli("db", "upgrade")
            assert code == 0, output
            for n in range(workers):
                supervisor.spawn(f"worker-{n}", "worker")
            supervisor.spawn("reports", "reports")
            ports = [free_port() for _ in range(apis)]
            for n, port in enumerate(ports):
                supervisor.spawn(f"api-{n}", "serve", "--port", str(port))
            fleet = Fleet(d, pg, rd, mq, supervisor, ports)
            # `Deployment.register` and its client talk to the first API.
            d.port = ports[0]
            for n, url in enumerate(fleet.api_urls):
                await wait_ready(url, supervisor.service(f"api-{n}"))

            async def consuming() -> bool:
                return await fleet.consumers() == workers

            await eventually(consuming, within_s=60, every_s=0.2)
            supervisor.start()
            yield fleet
        finally:
            try:
                await supervisor.stop()
                await d.stop_all()
                if d._client is not None:
                    await d._client.aclose()
            finally:
                print(log_tails(d))
