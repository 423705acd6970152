"""Embedded mode has one process per data directory: a second `fitboard serve` or an
embedded `fitboard worker` on the same directory refuses to start (it would rank half the
workouts in a memory of its own and show other boards), and says who holds it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from fitboard.adapters.data_dir_lock import DataDirInUse, DataDirLock
from tests.integration.processes import eventually, free_port

from ..contract.queue_adapters import bounded

FITBOARD = str(Path(sys.executable).with_name("fitboard"))


def embedded_env(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
    return {**env, "FITBOARD_MODE": "embedded", "FITBOARD_DATA_DIR": str(data_dir)}


def run(args: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [FITBOARD, *args],
        env=embedded_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def spawn_serve(port: int, data_dir: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FITBOARD, "serve", "--port", str(port)],
        env=embedded_env(data_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


async def serving(port: int) -> bool:
    try:
        async with httpx.AsyncClient(trust_env=False) as client:
            answer = await client.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
        return answer.status_code == 200
    except httpx.TransportError:
        return False


@bounded(120)
async def test_a_second_process_on_the_same_data_directory_refuses_to_start(
    tmp_path: Path,
) -> None:
    port = free_port()
    first = spawn_serve(port, tmp_path)
    try:
        await eventually(lambda: serving(port), within_s=60, every_s=0.2)
        for args in (["serve", "--port", str(free_port())], ["worker"]):
            refused = run(args, tmp_path)
            assert refused.returncode == 1, refused.stderr
            assert f"(pid {first.pid}) is already serving the data directory" in refused.stderr
            assert "FITBOARD_DATA_DIR" in refused.stderr
        assert await serving(port), "the first process must be left running"
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)

    # Once it is gone, the directory is free again.
    again = DataDirLock.acquire(tmp_path)
    again.release()


def test_the_lock_is_exclusive_and_released_by_the_holders_death(tmp_path: Path) -> None:
    held = DataDirLock.acquire(tmp_path)
    with pytest.raises(DataDirInUse, match=f"pid {os.getpid()}"):
        DataDirLock.acquire(tmp_path)
    held.release()
    DataDirLock.acquire(tmp_path).release()

    # A holder killed outright leaves no stale lock: the kernel drops it.
    with subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path;"
            "from fitboard.adapters.data_dir_lock import DataDirLock;"
            "DataDirLock.acquire(Path(sys.argv[1])); print('held', flush=True); time.sleep(60)",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            with pytest.raises(DataDirInUse):
                DataDirLock.acquire(tmp_path)
        finally:
            holder.kill()
            holder.wait(timeout=10)
    DataDirLock.acquire(tmp_path).release()
