"""Production mode as separate OS processes, for the fault tests.

`Deployment` starts `fitboard serve` and any number of `fitboard worker` processes on a
fresh PostgreSQL database (migrated with `fitboard db upgrade`, or a copy of a database the
command migrated earlier in the session: `migrated_database`), the session's Redis and a
RabbitMQ namespace of its own on the session's node, exactly as an operator would run them
(tests/services: private servers, never the machine's); a test that takes PostgreSQL or
Redis down points it at servers of its own (`private_postgres`, `private_redis`), and the
chaos suite, which takes the whole RabbitMQ node down, at a node of its own (`broker`). Each
process writes its output to a file under the test's tmp_path; everything is printed at
teardown, which pytest shows only when the test failed.

It also reads the truth behind the API, so a test can check the invariant directly: the
record in PostgreSQL, the queues as the broker sees them, and `fitboard reconcile`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import aio_pika
import asyncpg  # type: ignore[import-untyped]
import httpx
import redis.asyncio as redis

from fitboard.adapters.queue_rabbitmq import RabbitBroker, retry_queue_name
from fitboard.application.messaging.partitions import partitions_of
from fitboard.application.messaging.ports import RETRY_DELAYS_S, QueueSpec
from fitboard.application.workouts.messages import workouts_queue
from fitboard.bootstrap import topology
from tests.conftest import drop_postgres_database, new_postgres_database
from tests.services.rabbitmq import PrivateRabbitMQ
from tests.services.running import eventually, free_port, run_command
from tests.services.session import SERVICES

# Used from here by the process tests, and by other tiers' tests.
__all__ = ["eventually", "free_port", "run_command"]

FITBOARD = str(Path(sys.executable).with_name("fitboard"))
JWT_SECRET = "fault-tests-secret-long-enough-for-hs256-0123456789"
# Short, so that an outage turns into a 503 quickly; the tests bound the 503 by it.
CONFIRM_TIMEOUT_S = 2.0
# Small, so that a killed worker holds only a few messages and the others share the load
# (a worker holds its batches in flight and one more: two at the defaults; the reports
# consumer, three).
BATCH_SIZE = 4
MAX_ATTEMPTS = 5
PASSWORD = "correct horse battery"
_COUNTED = ("processed",)


@dataclass
class Service:
    """One running fitboard process and the file its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def send(self, sig: signal.Signals) -> None:
        if self.alive:
            self.process.send_signal(sig)

    async def wait_exit(self, within_s: float) -> int:
        """The exit code, once the process has exited; TimeoutError if it does not."""
        await eventually(lambda: self.process.poll() is not None, within_s=within_s)
        code = self.process.poll()
        assert code is not None
        return code

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass(frozen=True)
class Athlete:
    id: uuid.UUID
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass(frozen=True)
class Sent:
    """A workout as submitted, with the answer it got."""

    id: uuid.UUID
    athlete: Athlete
    duration_s: int
    distance_m: int
    status_code: int
    retry_after: str | None
    elapsed_s: float


@dataclass
class Deployment:
    tmp_path: Path
    database_name: str
    database_url: str
    namespace: str
    redis_url: str = field(default_factory=lambda: SERVICES.redis_url)
    # The RabbitMQ node its processes use and the tests inspect, stop and start.
    broker: PrivateRabbitMQ = field(default_factory=lambda: SERVICES.rabbitmq)
    port: int = field(default_factory=free_port)
    api: Service | None = None
    workers: list[Service] = field(default_factory=list)
    _services: list[Service] = field(default_factory=list)
    _numbers: Iterator[int] = field(default_factory=itertools.count)
    _client: httpx.AsyncClient | None = None
    # The retry backoff's steps its processes use (FITBOARD_WORKER_RETRY_DELAYS_S).
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
    # The workers' queue's partitions (FITBOARD_WORKOUT_PARTITIONS).
    partitions: int = 1

    # ------------------------------------------------------------------ set-up

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def broker_vhost(self) -> str:
        """The vhost of the broker's URL, as rabbitmqctl's `-p` wants it."""
        return unquote(urlsplit(self.broker.url).path.lstrip("/")) or "/"

    @property
    def queue(self) -> QueueSpec:
        return workouts_queue(self.namespace, MAX_ATTEMPTS, self.retry_delays_s)

    @property
    def queue_partitions(self) -> list[QueueSpec]:
        return partitions_of(self.queue, self.partitions)

    @property
    def env(self) -> dict[str, str]:
        # The tests' own FITBOARD_* settings must not leak into the processes.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
        env.update(
            PYTHONUNBUFFERED="1",
            # rich wraps tables to the terminal width; wide enough to keep a reason on one line.
            COLUMNS="400",
            FITBOARD_MODE="production",
            FITBOARD_DATA_DIR=str(self.tmp_path / "data"),
            FITBOARD_DATABASE_URL=self.database_url,
            FITBOARD_REDIS_URL=self.redis_url,
            FITBOARD_AMQP_URL=self.broker.url,
            FITBOARD_JWT_SECRET=JWT_SECRET,
            FITBOARD_NAMESPACE=self.namespace,
            FITBOARD_WORKER_BATCH_SIZE=str(BATCH_SIZE),
            FITBOARD_WORKER_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
            FITBOARD_WORKER_RETRY_DELAYS_S=json.dumps(self.retry_delays_s),
            FITBOARD_QUEUE_CONFIRM_TIMEOUT_S=str(CONFIRM_TIMEOUT_S),
            FITBOARD_WORKOUT_PARTITIONS=str(self.partitions),
            FITBOARD_LOG_LEVEL="info",
        )
        return env

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # trust_env=False: never send loopback traffic through a configured proxy.
            # An idle connection is dropped after 2 s, before uvicorn closes it (its
            # keep-alive is 5 s, httpx's the same): at 5 s apart a request could go out on
            # a connection the server was closing, and fail with "Server disconnected"
            # (seen once in CI, 2026-12-05: a board read about 5 s after the last request,
            # the invariant check and its `fitboard reconcile` in between).
            self._client = httpx.AsyncClient(
                base_url=self.api_url,
                timeout=30.0,
                trust_env=False,
                # httpx's own limits otherwise.
                limits=httpx.Limits(
                    max_connections=100, max_keepalive_connections=20, keepalive_expiry=2.0
                ),
            )
        return self._client

    def _spawn(self, name: str, *argv: str) -> Service:
        log_path = self.tmp_path / f"{name}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [FITBOARD, *argv],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C in the terminal running pytest reaches pytest
                # only, and the teardown stops the processes in order.
                start_new_session=True,
            )
        service = Service(name, process, log_path)
        self._services.append(service)
        return service

    async def start_api(self) -> Service:
        self.api = self._spawn("api", "serve", "--port", str(self.port))
        await self.wait_ready()
        return self.api

    async def start_worker(self) -> Service:
        worker = self._spawn(f"worker-{next(self._numbers)}", "worker")
        self.workers.append(worker)
        return worker

    async def start(self, *, workers: int) -> None:
        """The API and `workers` workers, each consuming, before returning."""
        for _ in range(workers):
            await self.start_worker()
        await self.start_api()
        await self.wait_consumers(workers)

    async def wait_ready(self, within_s: float = 30.0) -> None:
        """Until the API answers /readyz with 200 (every dependency reachable)."""
        api = self.api
        assert api is not None

        async def ready() -> bool:
            if not api.alive:
                raise AssertionError(f"the API exited:\n{api.output()}")
            try:
                return (await self.client.get("/readyz")).status_code == 200
            except httpx.TransportError:
                return False  # not listening yet

        await eventually(ready, within_s=within_s, every_s=0.1)

    async def wait_consumers(self, count: int, within_s: float = 30.0) -> None:
        """Until the workouts queue has exactly `count` consumers."""

        async def consuming() -> bool:
            for worker in self.workers:
                if worker.process.poll() not in (None, 0, -signal.SIGKILL):
                    raise AssertionError(f"{worker.name} died:\n{worker.output()}")
            return await self.consumers() == count

        await eventually(consuming, within_s=within_s, every_s=0.1)

    # ------------------------------------------------------------------ the API

    async def register(self, username: str, **profile: Any) -> Athlete:
        name = f"{username}-{uuid.uuid4().hex[:6]}"
        response = await self.client.post(
            "/v1/auth/register", json={"username": name, "password": PASSWORD, **profile}
        )
        assert response.status_code == 201, response.text
        data = response.json()
        return Athlete(uuid.UUID(data["user"]["id"]), name, data["access_token"])

    async def submit(
        self, athlete: Athlete, *, started_at: datetime, duration_s: int, distance_m: int
    ) -> Sent:
        """POST one run with a client-chosen id, so a 503'd workout is known too."""
        workout_id = uuid.uuid4()
        body = {
            "id": str(workout_id),
            "activity": "run",
            "started_at": started_at.isoformat(),
            "duration_s": duration_s,
            "distance_m": distance_m,
        }
        began = time.monotonic()
        response = await self.client.post("/v1/workouts", json=body, headers=athlete.headers)
        elapsed = time.monotonic() - began
        assert response.status_code in (202, 503), response.text
        if response.status_code == 202:
            assert response.json()["id"] == str(workout_id)
        return Sent(
            workout_id,
            athlete,
            duration_s,
            distance_m,
            response.status_code,
            response.headers.get("retry-after"),
            elapsed,
        )

    async def submit_many(
        self, plan: list[Athlete], started_at: datetime, *, concurrency: int = 24
    ) -> list[Sent]:
        """Submit one workout per entry of `plan`, up to `concurrency` at once. Durations
        and distances differ per workout, so a lost or doubled one changes the sums."""
        slots = asyncio.Semaphore(concurrency)

        async def one(n: int, athlete: Athlete) -> Sent:
            async with slots:
                return await self.submit(
                    athlete,
                    started_at=started_at,
                    duration_s=1200 + 7 * n,
                    distance_m=3000 + 11 * n,
                )

        return list(await asyncio.gather(*(one(n, a) for n, a in enumerate(plan))))

    async def board(
        self,
        athlete: Athlete,
        metric: str,
        period: str,
        period_key: str,
        scope: str = "global",
    ) -> list[tuple[int, uuid.UUID, int]]:
        """(rank, user id, score) of every entry, as the API serves it."""
        response = await self.client.get(
            f"/v1/leaderboards/{metric}/{period}",
            params={"scope": scope, "period_key": period_key, "limit": 100},
            headers=athlete.headers,
        )
        assert response.status_code == 200, response.text
        return [
            (e["rank"], uuid.UUID(e["user_id"]), e["score"]) for e in response.json()["entries"]
        ]

    # ------------------------------------------------------------------ the truth

    async def _pg(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.database_url.replace("+asyncpg", "", 1))

    async def record(self) -> dict[uuid.UUID, tuple[uuid.UUID, str, int, float]]:
        """Every workout in the record: id -> (user id, status, duration s, distance m)."""
        connection = await self._pg()
        try:
            rows = await connection.fetch(
                "SELECT id, user_id, status, duration_s, distance_m FROM workouts"
            )
        finally:
            await connection.close()
        return {
            r["id"]: (r["user_id"], r["status"], r["duration_s"], r["distance_m"]) for r in rows
        }

    async def rollup_totals(self) -> dict[uuid.UUID, tuple[int, int, float]]:
        """Per athlete, what the daily rollups (the boards' source) add up to:
        (workouts, duration s, distance m)."""
        connection = await self._pg()
        try:
            rows = await connection.fetch(
                "SELECT user_id, sum(workouts) AS n, sum(duration_s) AS d, sum(distance_m) AS m "
                "FROM daily_rollups GROUP BY user_id"
            )
        finally:
            await connection.close()
        return {r["user_id"]: (int(r["n"]), int(r["d"]), float(r["m"])) for r in rows}

    async def queue_names(self) -> list[str]:
        """The namespace's queues (the registry `rabbitmqctl` lists is current; its message
        counts are not, for quorum queues: they lag by the statistics interval, 5 s)."""
        output = await self.broker.ctl(
            "list_queues", "-p", self.broker_vhost, "--quiet", "--no-table-headers", "name"
        )
        return sorted(n for n in output.split() if n.startswith(f"{self.namespace}."))

    async def queue_stats(self, names: Iterable[str] | None = None) -> dict[str, QueueStats]:
        """Ready messages and consumers of each queue, as the broker sees them right now
        (passive declares). Messages in a consumer's hands are not counted."""
        wanted = list(names) if names is not None else await self.queue_names()
        connection = await aio_pika.connect(self.broker.url, timeout=10)
        try:
            channel = await connection.channel()
            stats: dict[str, QueueStats] = {}
            for name in wanted:
                result = (await channel.declare_queue(name, passive=True)).declaration_result
                stats[name] = QueueStats(result.message_count or 0, result.consumer_count or 0)
            return stats
        finally:
            await connection.close()

    async def ready(self, name: str) -> int:
        return (await self.queue_stats([name]))[name].ready

    async def consumers(self) -> int:
        return (await self.queue_stats([self.queue.name]))[self.queue.name].consumers

    async def waiting(self) -> int:
        """Messages waiting to be processed: ready on the queue, or in a retry queue for a
        retry. Dead letters are not waiting. The queues are named from the spec, not listed
        with rabbitmqctl (an Erlang VM started per call, seconds on a busy machine, which
        `wait_drained` would start every poll): every process declares them all at start."""
        spec = self.queue
        names = [
            spec.name,
            *(retry_queue_name(spec, step) for step in spec.retry_delays_s),
            *(partition.name for partition in self.queue_partitions),
        ]
        return sum(s.ready for s in (await self.queue_stats(names)).values())

    async def wait_processed(
        self, ids: Iterable[uuid.UUID], *, at_least: int | None = None, within_s: float = 60.0
    ) -> None:
        """Until `at_least` (default: all) of `ids` are in the record."""
        wanted = set(ids)
        goal = len(wanted) if at_least is None else at_least

        async def enough() -> bool:
            return len(wanted & set(await self.record())) >= goal

        await eventually(enough, within_s=within_s)

    async def wait_drained(self, ids: Iterable[uuid.UUID], within_s: float = 60.0) -> None:
        """Until every id is in the record and no message waits anywhere but in the dead
        letters. (Messages in a worker's hands are invisible here: `stop_workers` settles
        them, which is why the final check of a test comes after it.)"""
        wanted = set(ids)

        async def drained() -> bool:
            return wanted <= set(await self.record()) and await self.waiting() == 0

        try:
            await eventually(drained, within_s=within_s, every_s=0.2)
        except TimeoutError:
            missing = wanted - set(await self.record())
            raise AssertionError(
                f"not drained in {within_s}s: {len(missing)} workouts missing from the record, "
                f"queues {await self.queue_stats()}"
            ) from None

    async def cli(self, *args: str, timeout_s: float = 60.0) -> tuple[int, str]:
        return await run_command(FITBOARD, *args, env=self.env, timeout_s=timeout_s)

    async def reconcile(self, *, at_least_boards: int) -> str:
        """`fitboard reconcile` must exit 0 reporting no difference, having checked at
        least `at_least_boards` boards (it checks the boards Redis holds: an empty Redis
        would pass vacuously)."""
        code, output = await self.cli("reconcile")
        assert code == 0, f"fitboard reconcile exited {code}:\n{output}"
        found = re.search(r"checked (\d+) boards: (\d+) differences", output)
        assert found, output
        assert int(found.group(2)) == 0, output
        assert int(found.group(1)) >= at_least_boards, output
        return output

    async def check_invariant(
        self, accepted: list[Sent], *, also_allowed: Iterable[uuid.UUID] = (), boards: int
    ) -> None:
        """The invariant of ../shared/ARCHITECTURE.md, checked on the stores themselves,
        once the queues are drained:

        * every 202'd workout is in the record, exactly once (and nothing else is, but for
          `also_allowed`: a 503 means "not confirmed", which may still have landed);
        * the rollups the boards are derived from count each workout once;
        * every board Redis holds equals the record (`fitboard reconcile`)."""
        record = await self.record()
        ids = {s.id for s in accepted}
        assert len(ids) == len(accepted)
        missing = ids - set(record)
        assert not missing, f"{len(missing)} accepted workouts are not in the record"
        extra = set(record) - ids - set(also_allowed)
        assert not extra, f"{len(extra)} workouts in the record were never accepted"
        by_athlete: dict[uuid.UUID, list[tuple[int, float]]] = {}
        for user_id, status, duration_s, distance_m in record.values():
            assert status in _COUNTED, f"a workout was {status}, not processed"
            by_athlete.setdefault(user_id, []).append((duration_s, distance_m))
        expected = {
            user: (len(rows), sum(d for d, _ in rows), sum(m for _, m in rows))
            for user, rows in by_athlete.items()
        }
        assert await self.rollup_totals() == expected
        await self.reconcile(at_least_boards=boards)

    async def stop_workers(self, within_s: float = 20.0) -> None:
        """SIGTERM every running worker; each must settle what it holds and exit 0 in time.
        Nothing is in a worker's hands afterwards, so what the queues and the record show
        then is final: the place for a test's last check."""
        running = [w for w in self.workers if w.alive]
        # A worker still importing has no SIGTERM handler yet and would die of the signal
        # (exit -15) without its shutdown being tested: stop workers once each consumes.
        await self.wait_consumers(len(running))
        for worker in running:
            worker.send(signal.SIGTERM)
        for worker in running:
            code = await worker.wait_exit(within_s)
            assert code == 0, f"{worker.name} exited {code}:\n{worker.output()}"
        waiting = await self.waiting()
        assert waiting == 0, f"{waiting} messages were left unprocessed"

    # ------------------------------------------------------------------ the broker

    async def stop_broker(self) -> None:
        """`rabbitmqctl stop_app` on the deployment's node (the session's, by default): the
        whole broker, every connection of every process. The caller starts it again in a
        `finally` (`start_broker`): the rest of the session uses it too."""
        await self.broker.ctl("stop_app")

    async def start_broker(self) -> None:
        """`start_app`, returning once the node's dead-letter workers have started: a test
        that failed right after it deletes its queues, which must not break the node for
        the rest of the session (`PrivateRabbitMQ.await_dead_letter_workers`)."""
        await self.broker.start_app()

    # ------------------------------------------------------------------ teardown

    async def stop_all(self, within_s: float = 15.0) -> None:
        """SIGTERM every process still running, then SIGKILL whatever outlives the bound."""
        for service in self._services:
            service.send(signal.SIGTERM)
        for service in self._services:
            try:
                await service.wait_exit(within_s)
            except TimeoutError:
                service.send(signal.SIGKILL)
                await service.wait_exit(within_s)

    def logs(self) -> str:
        return "\n".join(
            f"===== {s.name} (pid {s.pid}, exit {s.process.poll()}) =====\n{s.output()}"
            for s in self._services
        )

    async def remove_broker_objects(self) -> None:
        broker = RabbitBroker(self.broker.url, exchange=self.namespace, confirm_timeout_s=5.0)
        try:
            # Every queue its processes declared (the whole topology), their dead letters
            # and retry queues; then anything else declared under their names (by a
            # worker of another version, say).
            queues = topology(self.namespace, MAX_ATTEMPTS, self.retry_delays_s, self.partitions)
            for spec in queues:
                await broker.delete(spec)
            leftovers = [
                n
                for n in await self.queue_names()
                if any(n.startswith(f"{spec.name}.") for spec in queues)
            ]
            for name in leftovers:
                await self.broker.ctl("delete_queue", "-p", self.broker_vhost, name)
            await broker.delete_exchanges()
        finally:
            await broker.close()


@dataclass(frozen=True)
class QueueStats:
    ready: int = 0
    consumers: int = 0


async def flush_redis(url: str | None = None) -> None:
    """FLUSHDB on the session's private Redis, or on the private server at `url`."""
    client = redis.Redis.from_url(url if url is not None else SERVICES.redis_url)
    try:
        await client.flushdb()
    finally:
        await client.aclose()


# The session's PostgreSQL (its admin URL) -> (name, URL) of a database `fitboard db upgrade`
# migrated, which `migrated_database` copies. The template is never dropped: it goes with
# the server when the session ends.
_MIGRATED: dict[str, tuple[str, str]] = {}


async def migrated_database(tmp_path: Path) -> tuple[str, str]:
    """A new database on the session's PostgreSQL, as `fitboard db upgrade` leaves an empty
    one; returns (name, SQLAlchemy URL). The first call runs the command on a database of
    its own, kept as the template; every call copies it (CREATE DATABASE ... TEMPLATE),
    which takes a fraction of a second where the command takes seconds (a Python process
    importing fitboard). Dropped like any other with `drop_postgres_database`."""
    admin_url = SERVICES.pg_admin_url
    if admin_url not in _MIGRATED:
        template, template_url = new_postgres_database()
        code, output = await Deployment(tmp_path, template, template_url, "template").cli(
            "db", "upgrade"
        )
        assert code == 0, output
        _MIGRATED[admin_url] = (template, template_url)
    template, template_url = _MIGRATED[admin_url]
    name = f"fitboard_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await connection.close()
    return name, f"{template_url.rsplit('/', 1)[0]}/{name}"


@contextlib.asynccontextmanager
async def deployment(
    tmp_path: Path,
    *,
    database_url: str | None = None,
    redis_url: str | None = None,
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    partitions: int = 1,
) -> AsyncIterator[Deployment]:
    """A fresh, migrated database and an empty Redis database; the caller starts the
    processes it needs. Everything is stopped and removed afterwards, whatever happened.

    By default the database is a new one on the session's PostgreSQL (`migrated_database`),
    dropped at the end, and Redis is the session's; `database_url` names an empty database
    to use instead, which `fitboard db upgrade` migrates and its owner removes, and
    `redis_url` another private Redis; `retry_delays_s` are the processes' retry backoff
    steps (the shipped ones by default), `partitions` the workers' queue's."""
    if database_url is None:
        name, url = await migrated_database(tmp_path)
    else:
        name, url = "", database_url
    redis_url = redis_url if redis_url is not None else SERVICES.redis_url
    # Boards live in one Redis shared by the tests; start from nothing.
    await flush_redis(redis_url)
    d = Deployment(
        tmp_path,
        name,
        url,
        f"fault-{uuid.uuid4().hex[:12]}",
        redis_url=redis_url,
        retry_delays_s=retry_delays_s,
        partitions=partitions,
    )
    try:
        if database_url is not None:
            code, output = await d.cli("db", "upgrade")
            assert code == 0, output
        yield d
    finally:
        try:
            await d.stop_all()
            if d._client is not None:
                await d._client.aclose()
            await d.remove_broker_objects()
        finally:
            # Shown by pytest only when the test failed.
            print(d.logs())
            await flush_redis(redis_url)
            if database_url is None:
                # It blocks (a loop of its own in a thread); keep it off this loop.
                await asyncio.to_thread(drop_postgres_database, name)


def started_at_for_tests() -> datetime:
    """One start time for every workout of a test, an hour ago to the minute: every
    workout falls on the same board day, week, month and year. Never inside the shipped
    early-bird window (04:00-06:00 for these UTC athletes): a run in it earns a badge the
    tests do not expect, so between 05:00 and 07:00 the start is 03:59 of the same day."""
    start = (datetime.now(UTC) - timedelta(hours=1)).replace(second=0, microsecond=0)
    if 4 <= start.hour < 6:
        start = start.replace(hour=3, minute=59)
    return start


def week_key(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def period_keys(moment: datetime) -> dict[str, str]:
    """The key of every period containing `moment` (board time zone UTC)."""
    return {
        "day": moment.date().isoformat(),
        "week": week_key(moment),
        "month": f"{moment.year}-{moment.month:02d}",
        "year": str(moment.year),
        "all": "all",
    }


METRICS = ("calories", "distance", "duration", "workouts", "points", "active_days")


async def load_boards(d: Deployment, viewer: Athlete, moment: datetime) -> int:
    """Read every board a run at `moment` moves (each metric and period, global and
    activity:run), so Redis holds them loaded before the workers write: reconcile then
    checks what the workers projected, not a rebuild. Returns how many boards."""
    reads = [
        d.board(viewer, metric, period, key, scope)
        for metric in METRICS
        for period, key in period_keys(moment).items()
        for scope in ("global", "activity:run")
    ]
    await asyncio.gather(*reads)
    return len(reads)
