"""The ActivityFiles port on a process pool: parsing is CPU work, and in the API's own
event loop a one-hour FIT file would hold every other request for a few hundred
milliseconds (docs/benchmarks.md measures both ways).

Worker processes are spawned, not forked: a fork of a running event loop with its
threads and sockets is not safe. They start on the first upload and stay."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from fitboard.adapters.importers.reader import read_upload
from fitboard.application.imports.ports import ImportLimits, UnreadableFile, Upload

log = logging.getLogger(__name__)


class ProcessPoolActivityFiles:
    def __init__(self, processes: int) -> None:
        self._processes = processes
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=self._processes, mp_context=multiprocessing.get_context("spawn")
        )

    async def read(self, name: str, data: bytes, limits: ImportLimits) -> Upload:
        pool = self._pool
        try:
            return await asyncio.get_running_loop().run_in_executor(
                pool, read_upload, name, data, limits
            )
        except BrokenProcessPool:
            # A reader process died (killed, out of memory) with this file or another in
            # hand. The pool cannot be used again; the next upload gets a fresh one.
            log.error("an activity file reader process died; starting a new pool")
            if self._pool is pool:
                self._pool = self._new_pool()
                pool.shutdown(wait=False, cancel_futures=True)
            raise UnreadableFile(
                "reading the file stopped the reader (it may be far too large once unpacked); "
                "try again, or upload a smaller file"
            ) from None

    async def close(self) -> None:
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)


class InlineActivityFiles:
    """Parses in the calling event loop: what the benchmark compares the pool with
    (FITBOARD_IMPORT_PROCESSES=0), and never the right choice for a served API."""

    async def read(self, name: str, data: bytes, limits: ImportLimits) -> Upload:
        return read_upload(name, data, limits)

    async def close(self) -> None:
        return None
