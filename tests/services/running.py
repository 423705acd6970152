"""Small helpers the private servers and the process tests share: free ports, commands run
to completion within a bound, polling, and a directory a server may own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import pwd
import random
import socket
import tempfile
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def run_in_own_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from sync code, in a thread with an event loop of its
    own: it works whether or not an event loop is already running in the calling thread
    (a session fixture first requested by an async fixture, a server started lazily from
    inside a test)."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], *, within_s: float, every_s: float = 0.05
) -> None:
    """Poll `condition` until it holds; TimeoutError after `within_s`."""
    async with asyncio.timeout(within_s):
        while True:
            result = condition()
            if not isinstance(result, bool):
                result = await result
            if result:
                return
            await asyncio.sleep(every_s)


def free_port() -> int:
    """A port free on loopback now, below the kernel's range of ephemeral ports when it
    can: a server the tests stop and start again on its port (a private RabbitMQ's
    stop_app and start_app, a restarted PostgreSQL) must not find it taken meanwhile by
    some outgoing connection's local port, which the kernel picks from that range (seen
    in CI: start_app failed with could_not_start_listener, and every later test on that
    node with it)."""
    first = _first_ephemeral_port()
    below = range(max(1024, first - 10_000), first)
    for port in random.sample(below, min(100, len(below))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or reserved): another
            return port
    # None free below that range (or none there): any the kernel gives.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        anywhere: int = probe.getsockname()[1]
        return anywhere


def _first_ephemeral_port() -> int:
    """The first of the kernel's range of local ports for outgoing connections (Linux's
    default when it cannot be read)."""
    try:
        first, _last = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(first)
    except (OSError, ValueError):
        return 32768


async def run_command(
    *argv: str, env: dict[str, str] | None = None, timeout_s: float = 60.0
) -> tuple[int, str]:
    """Run a command to completion within `timeout_s`; returns (exit code, stdout+stderr)."""
    process = await asyncio.create_subprocess_exec(
        *argv, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
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


async def refuses_connections(port: int) -> bool:
    """Whether nothing listens on 127.0.0.1:`port` (a stopped server)."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
    except OSError:
        return True
    writer.close()
    # A server that is dying may reset the connection meanwhile: it still listened.
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return False


def private_directory(prefix: str, owner: pwd.struct_passwd | None = None) -> Path:
    """A fresh directory outside pytest's tmp_path: that one is private to root (0700 all
    the way down), where the `postgres` OS user could not enter."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))
    if owner is not None:
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    return directory
