"""The official JavaScript client (`socket.io-client` from npm, run by Node) against a real
fitboard server: it connects with a token, subscribes, and hears `rank:update` after a
workout is posted over HTTP."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from .conftest import LiveServer
from .test_socketio import BOARD, recently

JS_DIR = Path(__file__).parent / "js"
NPM_CI_TIMEOUT_S = 180
CLIENT_TIMEOUT_S = 40


async def _run(*command: str, timeout_s: float) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=JS_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(timeout_s):
            stdout, stderr = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture(scope="module")
def js_client_installed() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        # Not a skip: `make test` installs them (scripts/install-test-tools.sh).
        pytest.fail("Node.js and npm are needed to run the official JavaScript client")
    if not (JS_DIR / "node_modules" / "socket.io-client").exists():
        code, out, err = asyncio.run(
            _run(npm, "ci", "--no-audit", "--no-fund", timeout_s=NPM_CI_TIMEOUT_S)
        )
        assert code == 0, f"npm ci failed:\n{out}\n{err}"
    return JS_DIR / "subscribe_and_post.mjs"


async def test_the_official_js_client_hears_rank_update(
    live: LiveServer, js_client_installed: Path
) -> None:
    token, _ = await live.api.register("ada")
    workout = {"activity": "run", "started_at": recently(), "duration_s": 1800, "distance_m": 5000}
    code, out, err = await _run(
        "node",
        str(js_client_installed),
        live.url,
        token,
        BOARD,
        json.dumps(workout),
        timeout_s=CLIENT_TIMEOUT_S,
    )
    lines: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines() if line]
    assert code == 0, f"node exited {code}:\n{out}\n{err}"
    by_event: dict[str, list[Any]] = {}
    for line in lines:
        by_event.setdefault(line["event"], []).append(line["payload"])

    assert by_event["ack"] == [{"ok": True}]
    assert by_event["leaderboard:update"][0]["board"] == BOARD
    posted = by_event["posted"][0]
    assert posted["status"] == 202
    rank = by_event["rank:update"][-1]
    assert rank["board"] == BOARD
    assert (rank["rank"], rank["previous_rank"]) == (1, None)
    assert by_event["workout:processed"][0]["id"] == posted["body"]["id"]
    # It started on long-polling, as it does by default, and upgraded to a websocket.
    assert by_event["transport"] == ["websocket"]
