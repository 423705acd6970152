"""A dependency that cannot be reached ends a command with one line saying which and what
to check, and exit status 1: no traceback of hundreds of lines."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.running import free_port

FITBOARD = str(Path(sys.executable).with_name("fitboard"))


def unreachable_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FITBOARD_")}
    return {
        **env,
        "FITBOARD_MODE": "production",
        "FITBOARD_DATABASE_URL": f"postgresql+asyncpg://x@127.0.0.1:{free_port()}/x",
        "FITBOARD_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "FITBOARD_AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/",
        "FITBOARD_JWT_SECRET": secrets.token_urlsafe(40),
        # The long-running commands try the broker again for this long before giving up.
        "FITBOARD_STARTUP_WAIT_S": "1",
    }


@pytest.mark.parametrize("command", [["worker"], ["reconcile"], ["serve"], ["reports"]])
def test_an_unreachable_dependency_is_one_line_and_exit_1(command: list[str]) -> None:
    run = subprocess.run(
        [FITBOARD, *command],
        env=unreachable_env(),
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    assert "cannot be reached (check FITBOARD_" in errors[0]
    # A few log lines of the clients' own reconnect attempts at most, not a traceback.
    assert len(output.splitlines()) <= 10, output
