"""fitboard as the benchmarks run it: embedded (one `fitboard serve`), or production (a fresh
PostgreSQL database, a namespace of its own in Redis and RabbitMQ, M `fitboard serve` and
N `fitboard worker` processes), everything on loopback.

Production mode, step by step (the same steps as docs/deploy.md; the idea of
tests/integration/processes.py, without importing the tests):

1. `CREATE DATABASE fitboard_bench_<hex>` as the role of BENCH_POSTGRES_URL;
2. `fitboard db upgrade` with the deployment's settings;
3. N `fitboard worker` and M `fitboard serve --port <free port>` processes, each in its own
   session, with FITBOARD_MODE=production, the three URLs and FITBOARD_NAMESPACE=bench-<hex>
   (Redis database 11 and the fitboard_test vhost unless BENCH_REDIS_URL / BENCH_AMQP_URL
   say otherwise); output to a file each, shown when a process dies;
4. ready once every API answers /readyz 200 and the workouts queue has N consumers.

Afterwards, whatever happened: SIGTERM to every process, SIGKILL to any still running after
STOP_TIMEOUT_S; the namespace's queues and exchanges deleted with the product's broker
adapter, its Redis keys deleted (SCAN for `<namespace>:*` then UNLINK: nothing else is
touched, never FLUSHDB), and the database dropped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import aio_pika
import asyncpg  # type: ignore[import-untyped]
import httpx
import redis.asyncio as redis

from bench.common import FITBOARD, RATE_LIMITS_OFF, SECRET, fitboard_server, free_port
from bench.machine import backing_cpu_s, machine_busy_s, process_cpu_s

Mode = Literal["embedded", "production"]

POSTGRES_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://fitboard:fitboard@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/11")
AMQP_URL = os.environ.get("BENCH_AMQP_URL", "amqp://fitboard:fitboard@127.0.0.1:5672/fitboard_test")
# The services' ports, for telling their processes from other servers of the same name.
SERVICE_PORTS = {
    "PostgreSQL": urlsplit(POSTGRES_URL).port or 5432,
    "Redis": urlsplit(REDIS_URL).port or 6379,
    "RabbitMQ": urlsplit(AMQP_URL).port or 5672,
}
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 30.0
# Settings the deployment sets itself; any other FITBOARD_* of the caller's environment
# (FITBOARD_WORKER_BATCH_SIZE=200, say) reaches the processes and is printed.
_OWN_SETTINGS = (
    "FITBOARD_MODE",
    "FITBOARD_DATA_DIR",
    "FITBOARD_DATABASE_URL",
    "FITBOARD_REDIS_URL",
    "FITBOARD_AMQP_URL",
    "FITBOARD_JWT_SECRET",
    "FITBOARD_NAMESPACE",
    "FITBOARD_LOG_LEVEL",
)


@dataclass
class Service:
    """One fitboard process and the file its output goes to."""

    name: str
    role: Literal["api", "worker"]
    process: subprocess.Popen[bytes]
    log: Path

    def cpu_s(self) -> float:
        """User + system CPU seconds so far (Linux /proc; 0 once the process is gone)."""
        return process_cpu_s(self.process.pid)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no output)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Deployment:
    mode: Mode
    api_urls: list[str]
    services: list[Service]
    namespace: str | None = None
    passed_through: dict[str, str] = field(default_factory=dict)
    # Production mode: what more workers are started with (their environment, where their
    # output goes, the queue they consume).
    worker_setup: tuple[dict[str, str], Path, str] | None = None
    # Embedded mode: the server's data dir (its record and its queue file, queue.db).
    data_dir: Path | None = None

    def spawn_workers(self, n: int) -> list[Service]:
        """n more `fitboard worker` processes, stopped and cleaned up with the rest."""
        if self.worker_setup is None:
            raise RuntimeError("only a production deployment has separate workers")
        env, logs, _queue = self.worker_setup
        first = sum(s.role == "worker" for s in self.services)
        started = [_spawn(f"worker-{first + k}", "worker", ["worker"], env, logs) for k in range(n)]
        self.services.extend(started)
        return started

    async def start_workers(self, n: int) -> list[Service]:
        """`spawn_workers`, then wait until every worker consumes the queue."""
        started = self.spawn_workers(n)
        assert self.worker_setup is not None
        workers = sum(s.role == "worker" for s in self.services)
        async with asyncio.timeout(START_TIMEOUT_S):
            await _wait_ready(self, workers, self.worker_setup[2])
        return started

    def cpu_snapshot(self) -> dict[str, float]:
        """CPU seconds so far: each of fitboard's processes by name, each backing service
        by name (bench.machine.BACKING), and the whole machine's "machine busy" out of
        "machine total"; two snapshots' difference over the wall time between them gives
        each one's share of a core."""
        busy, total = machine_busy_s()
        return {
            **{service.name: service.cpu_s() for service in self.services},
            **backing_cpu_s(SERVICE_PORTS),
            "machine busy": busy,
            "machine total": total,
        }

    def check_alive(self) -> None:
        for service in self.services:
            if service.process.poll() is not None:
                raise RuntimeError(
                    f"{service.name} exited with {service.process.returncode}:\n{service.tail()}"
                )


@contextlib.asynccontextmanager
async def deploy(
    mode: Mode, *, workers: int = 2, api_processes: int = 1
) -> AsyncIterator[Deployment]:
    if mode == "embedded":
        async with fitboard_server() as server:
            yield Deployment(
                "embedded",
                [server.url],
                [Service("api-0", "api", server.process, server.log)],
                # fitboard_server writes the server's output into its fresh data dir.
                data_dir=server.log.parent,
            )
    else:
        async with _production(workers, api_processes) as deployment:
            yield deployment


# ---------------------------------------------------------------------------- production


def _sqlalchemy_url(admin_url: str, database: str) -> str:
    base = admin_url.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{database}"


def production_env(database: str, namespace: str) -> dict[str, str]:
    """The environment of a production-mode fitboard process on the machine's services,
    with a database and a namespace of its own (steps 1 and 3 of the module's docstring)."""
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "FITBOARD_MODE": "production",
        "FITBOARD_DATABASE_URL": _sqlalchemy_url(POSTGRES_URL, database),
        "FITBOARD_REDIS_URL": REDIS_URL,
        "FITBOARD_AMQP_URL": AMQP_URL,
        "FITBOARD_JWT_SECRET": SECRET,
        "FITBOARD_NAMESPACE": namespace,
        "FITBOARD_LOG_LEVEL": "warning",
    }


async def create_database(database: str, env: dict[str, str]) -> None:
    """`CREATE DATABASE`, then `fitboard db upgrade` with `env`; a database whose upgrade
    fails is dropped again. The caller drops it when done (`clean_up`)."""
    await _create_database(database)
    try:
        code, output = await _run([FITBOARD, "db", "upgrade"], env, 120)
        if code != 0:
            raise RuntimeError(f"fitboard db upgrade exited {code}:\n{output}")
    except BaseException:
        await _drop_database(database)
        raise


async def _create_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL, timeout=10)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()


async def _drop_database(name: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL, timeout=10)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def _run(argv: list[str], env: dict[str, str], timeout_s: float) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        async with asyncio.timeout(timeout_s):
            output, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def _spawn(
    name: str, role: Literal["api", "worker"], argv: list[str], env: dict[str, str], logs: Path
) -> Service:
    log = logs / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [FITBOARD, *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C reaches the benchmark only, which stops them in order.
            start_new_session=True,
        )
    return Service(name, role, process, log)


async def _wait_ready(deployment: Deployment, workers: int, queue: str) -> None:
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        for url in deployment.api_urls:
            while True:
                deployment.check_alive()
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{url}/readyz")).status_code == 200:
                        break
                await asyncio.sleep(0.1)
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        channel = await connection.channel()
        while True:
            deployment.check_alive()
            declared = (await channel.declare_queue(queue, passive=True)).declaration_result
            if (declared.consumer_count or 0) >= workers:
                return
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


async def _stop(services: list[Service]) -> None:
    """SIGTERM to all, then SIGKILL to whatever is still running after STOP_TIMEOUT_S."""
    for service in services:
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    for service in services:
        with contextlib.suppress(subprocess.TimeoutExpired):
            remaining = max(0.0, deadline - time.monotonic())
            await asyncio.to_thread(service.process.wait, remaining)
    for service in services:
        if service.process.poll() is None:
            print(f"  {service.name} still running {STOP_TIMEOUT_S:.0f} s after SIGTERM: killed")
            service.process.kill()
            service.process.wait()
        elif service.process.returncode not in (0, -signal.SIGTERM):
            print(f"  {service.name} exited with {service.process.returncode}:\n{service.tail()}")


async def _remove_broker_objects(namespace: str) -> None:
    """Every queue of the namespace (the workouts and reports queues, their retry queues
    and dead letters, whichever the run made) and its exchanges. The queues are listed with
    rabbitmqctl when it is at hand (one call) and deleted over AMQP; without it, the
    workouts queue and its dead letters are deleted by the product's adapter and the rest
    is left (named `<namespace>.*`)."""
    from fitboard.adapters.queue_rabbitmq import RabbitBroker
    from fitboard.application.workouts.messages import workouts_queue

    broker = RabbitBroker(AMQP_URL, exchange=namespace, confirm_timeout_s=5.0)
    try:
        await broker.delete(workouts_queue(namespace, 1))
        await broker.delete_exchanges()
    finally:
        await broker.close()
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl is None:
        return
    vhost = unquote(urlsplit(AMQP_URL).path.lstrip("/")) or "/"
    code, output = await _run(
        [rabbitmqctl, "list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name"],
        dict(os.environ),
        60,
    )
    if code != 0:
        return
    names = [name for name in output.split() if name.startswith(f"{namespace}.")]
    if not names:
        return
    connection = await aio_pika.connect(AMQP_URL, timeout=10)
    try:
        channel = await connection.channel()
        for name in names:
            await channel.queue_delete(name)
    finally:
        await connection.close()


async def _remove_redis_keys(namespace: str) -> int:
    client = redis.Redis.from_url(REDIS_URL)
    removed = 0
    try:
        batch: list[bytes] = []
        async for key in client.scan_iter(match=f"{namespace}:*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                removed += await client.unlink(*batch)
                batch = []
        if batch:
            removed += await client.unlink(*batch)
    finally:
        await client.aclose()
    return removed


@contextlib.asynccontextmanager
async def _production(workers: int, api_processes: int) -> AsyncIterator[Deployment]:
    from fitboard.application.workouts.messages import workouts_queue

    tag = uuid.uuid4().hex[:12]
    database = f"fitboard_bench_{tag}"
    namespace = f"bench-{tag}"
    queue = workouts_queue(namespace, 1).name
    passed = {
        k: v for k, v in os.environ.items() if k.startswith("FITBOARD_") and k not in _OWN_SETTINGS
    }
    services: list[Service] = []
    with tempfile.TemporaryDirectory(prefix="fitboard-bench-") as tmp:
        logs = Path(tmp)
        env = {
            **production_env(database, namespace),
            "FITBOARD_DATA_DIR": str(logs / "data"),
            **RATE_LIMITS_OFF,
        }
        await create_database(database, env)
        try:
            deployment = Deployment(
                "production", [], services, namespace, passed, (env, logs, queue)
            )
            deployment.spawn_workers(workers)
            for n in range(api_processes):
                port = free_port()
                argv = ["serve", "--host", "127.0.0.1", "--port", str(port)]
                services.append(_spawn(f"api-{n}", "api", argv, env, logs))
                deployment.api_urls.append(f"http://127.0.0.1:{port}")
            async with asyncio.timeout(START_TIMEOUT_S):
                await _wait_ready(deployment, workers, queue)
            yield deployment
        finally:
            # A Ctrl-C must not leave processes, a database or a namespace behind: the
            # clean-up runs to its end; a second Ctrl-C abandons it.
            cleanup = asyncio.ensure_future(clean_up(services, namespace, queue, database))
            try:
                await asyncio.shield(cleanup)
            except asyncio.CancelledError:
                print("  interrupted: cleaning up first (Ctrl-C again to abandon it)")
                await cleanup
                raise


async def clean_up(services: list[Service], namespace: str, queue: str, database: str) -> None:
    """Stop the processes, then remove the database and the namespace; each step bounded,
    and a step that fails does not keep the next from running."""
    await _stop(services)
    removed: list[str] = []
    for step, remove in (
        ("database", lambda: _drop_database(database)),
        ("redis keys", lambda: _remove_redis_keys(namespace)),
        ("queues", lambda: _remove_broker_objects(namespace)),
    ):
        try:
            async with asyncio.timeout(60):
                result = await remove()
            removed.append(step if result is None else f"{result} {step}")
        except Exception as exc:  # report, and go on with the next
            print(f"  cleanup of the {step} failed: {exc!r}")
    print(f"  removed namespace {namespace}: {', '.join(removed)}")
