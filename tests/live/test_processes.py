"""Live updates across processes, on the real services: two API processes (`fitboard serve`,
production mode) and one `fitboard worker`. A client connected to API process B hears the
events of a workout posted to API process A and processed by the worker, which proves the
fan-out through python-socketio's Redis manager and the boards-moved channel."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import socketio

from fitboard.adapters.queue_rabbitmq import RabbitBroker
from fitboard.bootstrap import topology
from tests.e2e.conftest import TEST_SECRET, Api, _clean_production_state
from tests.services.running import free_port
from tests.services.session import SERVICES

from .conftest import EVENT_WAIT_S, LiveClient
from .test_socketio import BOARD, recently

pytestmark = pytest.mark.production

FITBOARD = str(Path(sys.executable).with_name("fitboard"))
START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 15


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str | None = None

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def deployment(
    database_url: str, tmp_path: Path, namespace: str
) -> AsyncIterator[tuple[Process, Process, Process]]:
    env = {
        **os.environ,
        "FITBOARD_MODE": "production",
        "FITBOARD_DATABASE_URL": database_url,
        "FITBOARD_REDIS_URL": SERVICES.redis_url,
        "FITBOARD_AMQP_URL": SERVICES.amqp_url,
        "FITBOARD_JWT_SECRET": TEST_SECRET,
        "FITBOARD_NAMESPACE": namespace,
        "FITBOARD_DATA_DIR": str(tmp_path / "data"),
        "FITBOARD_LOG_LEVEL": "warning",
    }
    processes: list[Process] = []

    def start(name: str, *args: str, url: str | None = None) -> Process:
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [FITBOARD, *args], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        process = Process(name, popen, log, url)
        processes.append(process)
        return process

    try:
        ports = [free_port(), free_port()]
        api_a, api_b = (
            start(f"api-{n}", "serve", "--port", str(p), url=f"http://127.0.0.1:{p}")
            for n, p in zip("ab", ports, strict=True)
        )
        worker = start("worker", "worker")
        for api in (api_a, api_b):
            await _wait_ready(api)
        yield api_a, api_b, worker
    finally:
        for process in processes:
            if process.popen.poll() is None:
                process.popen.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.popen.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.popen.kill()
                process.popen.wait()
        for process in processes:
            # Shown by pytest when the test failed.
            print(f"----- {process.name} (exit {process.popen.returncode})\n{process.output()}")
        broker = RabbitBroker(SERVICES.amqp_url, exchange=namespace)
        try:
            for queue in topology(namespace, 5):
                await broker.delete(queue)
            await broker.delete_exchanges()
        finally:
            await broker.close()


async def _wait_ready(api: Process) -> None:
    assert api.url is not None
    async with httpx.AsyncClient(base_url=api.url, timeout=2) as http:
        async with asyncio.timeout(START_TIMEOUT_S):
            while True:
                if api.popen.poll() is not None:
                    raise AssertionError(f"{api.name} exited:\n{api.output()}")
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get("/readyz")).status_code == 200:
                        return
                await asyncio.sleep(0.1)


async def test_a_client_on_one_api_process_hears_a_workout_posted_to_another(
    migrated_postgres: str, tmp_path: Path
) -> None:
    await _clean_production_state(migrated_postgres)
    namespace = f"live-{uuid.uuid4().hex[:12]}"
    async with deployment(migrated_postgres, tmp_path, namespace) as (api_a, api_b, _worker):
        assert api_a.url is not None
        assert api_b.url is not None
        async with (
            httpx.AsyncClient(base_url=api_a.url, timeout=30) as http_a,
            httpx.AsyncClient(base_url=api_b.url, timeout=30) as http_b,
        ):
            on_a, on_b = Api(http_a), Api(http_b)
            ada, ada_user = await on_a.register("ada")
            bob, _ = await on_b.register("bob")

            clients: list[socketio.AsyncClient] = []
            try:
                ada_on_b = await _connect(api_b.url, ada, clients)
                bob_on_a = await _connect(api_a.url, bob, clients)
                watcher_on_b = await _connect(api_b.url, bob, clients)
                for client in (ada_on_b, bob_on_a, watcher_on_b):
                    assert await client.subscribe(BOARD) == {"ok": True}
                    await client.wait_for("leaderboard:update")

                workout_id = await on_a.submit_ok(
                    ada, activity="run", started_at=recently(), duration_s=1800, distance_m=5000
                )
                processed = await ada_on_b.wait_for("workout:processed")
                assert processed["id"] == workout_id
                rank = await ada_on_b.wait_for("rank:update", lambda p: p["board"] == BOARD)
                assert (rank["rank"], rank["previous_rank"]) == (1, None)
                # Both API processes snapshot the board for their own subscribers.
                for client in (watcher_on_b, bob_on_a):
                    moved = await client.wait_for(
                        "leaderboard:update", lambda s: s["entries"] != []
                    )
                    assert moved["entries"][0]["user_id"] == ada_user["id"]
                # Athlete events go to the athlete only, on whichever process they are.
                assert bob_on_a.received("workout:processed") == []
                # Snapshots are sent by the subscriber's own process only, never twice.
                await asyncio.sleep(0.5)
                assert len(watcher_on_b.received("leaderboard:update")) == 2
            finally:
                for client in clients:
                    await client.disconnect()


async def _connect(url: str, token: str, clients: list[socketio.AsyncClient]) -> LiveClient:
    client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
    clients.append(client)
    live = LiveClient(client)

    async def any_event(event: str, payload: object = None) -> None:
        live.record(event, payload)

    client.on("*", any_event)
    await client.connect(
        url, auth={"token": token}, transports=["websocket"], wait_timeout=EVENT_WAIT_S
    )
    return live
