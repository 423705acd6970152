"""The README's "Try it" works on any day it is run: its commands, as written, against a
real `fitboard serve` (on a free port instead of 8000), end with the athlete on the
board."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.e2e.test_embedded_one_process import serving, spawn_serve
from tests.integration.processes import eventually, free_port, run_command

from ..contract.queue_adapters import bounded

README = Path(__file__).resolve().parents[2] / "README.md"


def try_it_commands() -> str:
    text = README.read_text()
    section = text[text.index("## Try it") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None, "no shell block under ## Try it"
    lines = block.group(1).splitlines()
    assert lines[0] == "make run", "the block starts the server with `make run`"
    # The server is this test's; the rest is run exactly as written.
    return "\n".join(lines[1:])


@bounded(120)
async def test_the_try_it_commands_put_the_athlete_on_the_board(tmp_path: Path) -> None:
    port = free_port()
    server = spawn_serve(port, tmp_path)
    try:
        await eventually(lambda: serving(port), within_s=60, every_s=0.2)
        script = try_it_commands().replace("localhost:8000", f"127.0.0.1:{port}")
        for _ in range(2):  # again: ada exists the second time, and it still works
            code, output = await run_command("bash", "-e", "-o", "pipefail", "-c", script)
            assert code == 0, output
            board = json.loads(output.strip().splitlines()[-1])
            [entry] = board["entries"]
            assert entry["display_name"] == "ada"
            assert entry["score"] > 0
    finally:
        server.terminate()
        server.wait(timeout=30)
