"""A Redis server of the tests' own, which a test may kill and start again.

The machine's Redis serves other things; the tests never use it, so flushing a database
of a private server is harmless. A private server listens on a free loopback port, has no
persistence, and comes back empty on the same port, as a restarted server that lost its
data does. The session's server (tests/services/session.py) is one; a test that kills
Redis starts one of its own with `private_redis`, which removes everything when the block
ends, whatever happened inside it.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as redis
from redis.exceptions import RedisError

from .running import eventually, free_port, private_directory


@dataclass
class PrivateRedis:
    """A redis-server child process on 127.0.0.1:`port`, without persistence: a start
    after `stop` is an empty Redis, as after a restart that lost its data."""

    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    # Names its log in a failed test's output.
    label = "private Redis"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        return self.directory / "redis.log"

    def options(self) -> list[str]:
        """redis-server's options past its port and address: no persistence."""
        return ["--save", "", "--appendonly", "no"]

    def _spawn(self) -> subprocess.Popen[bytes]:
        executable = shutil.which("redis-server")
        if executable is None:
            raise RuntimeError(
                "redis-server not on PATH (scripts/install-test-tools.sh installs it)"
            )
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                [
                    executable,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    *self.options(),
                    "--dir",
                    str(self.directory),
                    "--daemonize",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def client(self) -> redis.Redis:
        """A client of this server alone."""
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)

    async def start(self, within_s: float = 30.0) -> None:
        """Start it (again) on the same port; returns once it answers PING."""
        assert self.process is None, "already running"
        self.process = process = self._spawn()

        async def answers() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited {process.returncode}:\n{self.log()}")
            client = self.client()
            try:
                return bool(await client.ping())
            except RedisError:
                return False
            finally:
                await client.aclose()

        await eventually(answers, within_s=within_s, every_s=0.05)

    async def stop(self, within_s: float = 10.0) -> None:
        """SIGKILL: gone at once with everything it held, like a crashed server."""
        process = self.process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        await eventually(lambda: process.poll() is not None, within_s=within_s)
        self.process = None

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return f"===== {self.label} :{self.port} =====\n" + self.log_path.read_text(
            errors="replace"
        )


async def start_redis() -> PrivateRedis:
    """A running Redis; the caller removes it with `remove_redis`."""
    server = PrivateRedis(private_directory("fitboard-redis-"), free_port())
    try:
        await server.start()
    except BaseException:
        await remove_redis(server)
        raise
    return server


async def remove_redis(server: PrivateRedis) -> None:
    """Kill the server and delete its directory."""
    try:
        await server.stop()
    finally:
        shutil.rmtree(server.directory, ignore_errors=True)


@contextlib.asynccontextmanager
async def private_redis() -> AsyncIterator[PrivateRedis]:
    """A running Redis of this block's own; killed and its directory deleted afterwards."""
    server = await start_redis()
    try:
        yield server
    finally:
        try:
            await server.stop()
        finally:
            # Shown by pytest only when the test failed.
            print(server.log())
            await remove_redis(server)
