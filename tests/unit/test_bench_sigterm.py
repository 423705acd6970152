"""A benchmark stopped with SIGTERM cleans up what it started (bench.common.run_main).

Python's default for SIGTERM ends the process without running `finally`, so a benchmark
killed by `timeout` or a cancelled job left its servers running and its databases, keys
and queues behind. The run here starts a child process in a `try` whose `finally` stops
it, as the benchmarks' deployments do, and is sent SIGTERM while it waits."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import asyncio, subprocess, sys
    from pathlib import Path
    from bench.common import run_main

    async def main() -> None:
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(120)"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        Path(sys.argv[1]).write_text(str(child.pid))
        try:
            await asyncio.sleep(120)
        finally:
            child.terminate()
            child.wait()
            Path(sys.argv[2]).write_text("cleaned up")

    run_main(main())
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigterm_runs_the_cleanup_and_exits_143(tmp_path: Path) -> None:
    started, cleaned = tmp_path / "child.pid", tmp_path / "cleaned"
    child = 0
    run = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(started), str(cleaned)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert run.poll() is None, run.communicate()[0].decode()
            assert time.monotonic() < deadline, "the run never started its child"
            time.sleep(0.05)
        child = int(started.read_text())
        run.send_signal(signal.SIGTERM)
        output = run.communicate(timeout=30)[0].decode()
    finally:
        if run.poll() is None:
            run.kill()
        if child and _alive(child):
            os.kill(child, signal.SIGKILL)
    assert run.returncode == 128 + signal.SIGTERM, output
    assert cleaned.read_text() == "cleaned up"
    assert "stopped by SIGTERM" in output
    assert not _alive(child)
