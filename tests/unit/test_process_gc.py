"""`fitboard worker` and `fitboard reports` tune the garbage collector as `serve` does,
once their container is built (`run_until_signalled`): a worker without it spent a
quarter to a third of its CPU in collections."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import asyncio, gc
    from types import SimpleNamespace
    from fitboard.bootstrap import Task
    from fitboard.entrypoints.process import run_until_signalled

    ran = []

    async def runner(container, stop):
        # What the worker's tasks would see once running: the tuned collector.
        ran.append((gc.get_threshold(), gc.get_freeze_count() > 0))

    container = SimpleNamespace(
        settings=SimpleNamespace(gc_gen0_threshold=23456), background=[Task.WORKER]
    )
    asyncio.run(run_until_signalled(container, {Task.WORKER: runner}))
    print(ran)
    """
)


def test_the_background_tasks_run_with_the_tuned_collector() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert out.strip() == "[((23456, 20, 100), True)]"
