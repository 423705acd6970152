"""What the live benchmarks share: a fitboard server in a subprocess on loopback, athletes,
a minimal Socket.IO websocket client for thousands of connections, and percentiles.

Everything targets 127.0.0.1, and everything is bounded: servers are stopped in `finally`,
waits have timeouts, and every loop has a count."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import httpx

T = TypeVar("T")
# The exit status of a run stopped by SIGTERM, as a shell reports a process it killed.
STOPPED_BY_SIGTERM = 128 + signal.SIGTERM


def run_main(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, where SIGTERM (a `timeout`, a cancelled CI job, `kill`) cancels
    `main` instead of ending the process at once: Python's default for SIGTERM runs no
    `finally`, so the servers a benchmark started, and its databases, Redis keys and queues,
    were left behind. Cancelled, every `finally` and `async with` on the way out stops and
    removes them; then the process exits with 143, as if SIGTERM had killed it."""
    stopped = False

    async def cancelled_by_sigterm() -> T:
        nonlocal stopped
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def stop() -> None:
            nonlocal stopped
            stopped = True
            task.cancel()

        loop.add_signal_handler(signal.SIGTERM, stop)
        try:
            return await main
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    try:
        return asyncio.run(cancelled_by_sigterm())
    except asyncio.CancelledError:
        if not stopped:
            raise
        print("stopped by SIGTERM; what the run had started is stopped and removed", flush=True)
        sys.exit(STOPPED_BY_SIGTERM)


FITBOARD = str(Path(sys.executable).with_name("fitboard"))
SECRET = "bench-secret-that-is-long-enough-for-hs256-signing"
# A few athletes send thousands of workouts a second here: the benchmarks measure what a
# workout costs, so the per-athlete budgets (429 past them) are off. Each budget a request
# is charged to costs one Redis round trip in production.
RATE_LIMITS_OFF = {
    "FITBOARD_LOGIN_ATTEMPTS_PER_MINUTE_PER_USERNAME": "0",
    "FITBOARD_LOGIN_ATTEMPTS_PER_MINUTE_PER_IP": "0",
    "FITBOARD_REGISTRATIONS_PER_HOUR_PER_IP": "0",
    "FITBOARD_WORKOUTS_PER_MINUTE_PER_ATHLETE": "0",
    "FITBOARD_WORKOUTS_PER_DAY_PER_ATHLETE": "0",
}
BOARD = "calories/all/global"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def raise_open_files_limit() -> int:
    """Thousands of sockets need thousands of descriptors; the hard limit is the ceiling."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def recently(minutes: float = 120) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def fitboard_server(extra_env: dict[str, str] | None = None) -> AsyncIterator[Server]:
    """`fitboard serve` in embedded mode on a free loopback port, in a fresh data dir."""
    with tempfile.TemporaryDirectory(prefix="fitboard-bench-") as data_dir:
        port = free_port()
        env = {
            **os.environ,
            "FITBOARD_MODE": "embedded",
            "FITBOARD_DATA_DIR": data_dir,
            "FITBOARD_JWT_SECRET": SECRET,
            "FITBOARD_LOG_LEVEL": "warning",
            **RATE_LIMITS_OFF,
            **(extra_env or {}),
        }
        log = Path(data_dir) / "server.log"
        process = _spawn([FITBOARD, "serve", "--host", "127.0.0.1", "--port", str(port)], env, log)
        url = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=url, timeout=2) as http:
                async with asyncio.timeout(60):
                    while True:
                        if process.poll() is not None:
                            raise RuntimeError(f"server exited:\n{log.read_text()}")
                        with contextlib.suppress(httpx.TransportError):
                            if (await http.get("/readyz")).status_code == 200:
                                break
                        await asyncio.sleep(0.1)
            yield Server(url, process, log)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


async def register(http: httpx.AsyncClient, name: str) -> tuple[str, str]:
    """A new athlete: (token, user id)."""
    # 48 random bits: the drains register 1,000 athletes, and 24 bits collided (409) in
    # about one run in 30.
    body = {"username": f"{name}-{uuid.uuid4().hex[:12]}", "password": "correct horse battery"}
    response = await http.post("/v1/auth/register", json=body)
    response.raise_for_status()
    data = response.json()
    return data["access_token"], data["user"]["id"]


def workout_body(minutes: int = 20) -> dict[str, object]:
    """A run of `minutes` that started two hours ago, at 3 m/s."""
    return {
        "activity": "run",
        "started_at": recently(),
        "duration_s": minutes * 60,
        "distance_m": minutes * 180,
    }


async def post_workout(http: httpx.AsyncClient, token: str, minutes: int = 20) -> httpx.Response:
    return await http.post(
        "/v1/workouts", headers={"authorization": f"Bearer {token}"}, json=workout_body(minutes)
    )


@dataclass
class RawClient:
    """The Socket.IO protocol (Engine.IO v4 over a websocket), just enough to connect with a
    token, subscribe, answer pings and timestamp `leaderboard:update` arrivals: thousands of
    these fit in one process where thousands of full clients would not."""

    ws: aiohttp.ClientWebSocketResponse
    on_update: Callable[[dict[str, Any], float], None]
    reader: asyncio.Task[None] | None = None
    acked: asyncio.Event = field(default_factory=asyncio.Event)

    async def read(self) -> None:
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data: str = message.data
            if data == "2":  # Engine.IO ping: answer, or the server drops us
                await self.ws.send_str("3")
            elif data.startswith('42["leaderboard:update"'):
                now = time.time()
                _event, payload = json.loads(data[2:])
                self.on_update(payload, now)
            elif data.startswith("43"):  # the subscribe ack
                self.acked.set()


async def socketio_connect(
    session: aiohttp.ClientSession, base_url: str, token: str
) -> aiohttp.ClientWebSocketResponse:
    """A websocket that has done Engine.IO's open and Socket.IO's connect with `token`:
    the raw protocol, so thousands of clients cost the load generator little."""
    ws_url = base_url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    ws = await session.ws_connect(ws_url, heartbeat=None, autoping=True)
    opened = await ws.receive_str(timeout=30)
    if not opened.startswith("0{"):
        raise RuntimeError(f"unexpected Engine.IO open packet {opened!r}")
    await ws.send_str("40" + json.dumps({"token": token}))
    connected = await ws.receive_str(timeout=30)
    if not connected.startswith("40{"):
        raise RuntimeError(f"refused: {connected!r}")
    return ws


async def raw_connect(
    session: aiohttp.ClientSession,
    base_url: str,
    token: str,
    board: str,
    on_update: Callable[[dict[str, Any], float], None],
) -> RawClient:
    ws = await socketio_connect(session, base_url, token)
    client = RawClient(ws, on_update)
    client.reader = asyncio.create_task(client.read())
    await ws.send_str("421" + json.dumps(["subscribe", {"board": board}]))
    await asyncio.wait_for(client.acked.wait(), timeout=60)
    return client


async def close_all(clients: list[RawClient]) -> None:
    for client in clients:
        if client.reader is not None:
            client.reader.cancel()
    await asyncio.gather(*(c.ws.close() for c in clients), return_exceptions=True)
    await asyncio.gather(
        *(c.reader for c in clients if c.reader is not None), return_exceptions=True
    )


def positive(kind: type[int] | type[float]) -> Any:
    """An argparse type: a number of `kind` greater than zero."""

    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
        return value

    return parse
