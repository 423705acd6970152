"""The import readers as the tests see them from outside: the child processes of the
test's own process, and the processor time one has spent."""

from __future__ import annotations

import asyncio
import multiprocessing

from fitboard.adapters.importers.files_process_pool import processor_time_s


def children() -> set[int]:
    """The pids of this process's live multiprocessing children (the readers)."""
    return {p.pid for p in multiprocessing.active_children() if p.pid is not None}


async def until_parsing(pid: int) -> None:
    """Until the reader has spent processor time on the file it was given."""
    before = processor_time_s(pid)
    assert before is not None
    for _ in range(1000):
        await asyncio.sleep(0.01)
        now = processor_time_s(pid)
        if now is not None and now - before >= 0.05:
            return
    raise AssertionError("the reader never started on the file")
