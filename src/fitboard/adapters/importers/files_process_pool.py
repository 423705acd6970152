"""The ActivityFiles port on reader processes: parsing is CPU work, and in the API's own
event loop a one-hour FIT file would hold every other request for a few hundred
milliseconds (docs/benchmarks.md measures both ways).

Each reader is a process of its own that reads one upload at a time, so stopping a reader
over one upload costs no other upload anything. Readers are spawned, not forked: a fork
of a running event loop with its threads and sockets is not safe. They start on the first
uploads and stay. The bounds (docs/import.md, "Readers"):

- A reader that has spent `ImportLimits.max_read_cpu_s` of processor time on one upload
  is stopped, and the upload refused (UnreadableFile, 422): that much work is the file's
  doing, however busy the machine.
- A reader that has not finished after WALL_FACTOR times that in wall time, without having
  spent it, is stopped, and the upload answered ReadersBusy (503): the machine is too
  loaded to give it the processor, which is not the file's fault.
- At most `max_waiting` uploads wait for a free reader; one more is answered ReadersBusy.
- A reader that dies (killed, out of memory) is replaced, and its upload is answered
  ReadersBusy: it may have been the machine's doing. The same bytes stopping a reader a
  second time are refused as UnreadableFile, so a client retrying a file that kills
  readers gets its answer instead of 503s forever."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import multiprocessing
import os
import signal
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from fitboard.adapters.importers.reader import read_upload
from fitboard.application.imports.ports import (
    ImportLimits,
    ReadersBusy,
    UnreadableFile,
    Upload,
)

log = logging.getLogger(__name__)

# How often a reading upload's processor time is looked at.
POLL_S = 0.05
# A reader given this many times its processor-time limit in wall time, and not using it,
# is starved: the machine is overloaded.
WALL_FACTOR = 10
RETRY_AFTER_S = 2
# Uploads that stopped a reader once, remembered by their SHA-256 (the most recent ones).
_REMEMBERED_DEATHS = 256
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def processor_time_s(pid: int) -> float | None:
    """The processor time (user and system) a process has spent, from Linux's
    /proc/<pid>/stat; None where there is no such file."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            line = stat.read()
    except OSError:
        return None
    # After the command name, in parentheses: state is field 3, utime 14, stime 15.
    fields = line[line.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@dataclass(frozen=True)
class _Reader:
    executor: ProcessPoolExecutor
    pid: int

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self.executor.shutdown(wait=False, cancel_futures=True)


class ProcessPoolActivityFiles:
    """`processes` readers, at most `max_waiting` uploads waiting for one, and a reader
    starved once it has had `wall_factor` times its processor-time limit in wall time."""

    def __init__(self, processes: int, max_waiting: int, wall_factor: float = WALL_FACTOR) -> None:
        self._max_admitted = processes + max_waiting
        self._wall_factor = wall_factor
        self._admitted = 0
        self._free = asyncio.Semaphore(processes)
        self._idle: list[_Reader] = []
        self._readers: set[_Reader] = set()
        self._deaths: OrderedDict[str, None] = OrderedDict()

    async def read(self, name: str, data: bytes, limits: ImportLimits) -> Upload:
        if self._admitted >= self._max_admitted:
            raise ReadersBusy(
                f"the server's file readers are busy ({self._admitted} uploads in hand); "
                f"nothing was saved, retry in {RETRY_AFTER_S} seconds",
                RETRY_AFTER_S,
            )
        self._admitted += 1
        try:
            async with self._free:
                reader = self._idle.pop() if self._idle else await self._start()
                return await self._read_on(reader, name, data, limits)
        finally:
            self._admitted -= 1

    async def _start(self) -> _Reader:
        executor = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn")
        )
        try:
            pid = await asyncio.get_running_loop().run_in_executor(executor, os.getpid)
        except BaseException:
            executor.shutdown(wait=False, cancel_futures=True)
            raise
        reader = _Reader(executor, pid)
        self._readers.add(reader)
        return reader

    def _discard(self, reader: _Reader, reading: asyncio.Future[Upload] | None = None) -> None:
        self._readers.discard(reader)
        reader.stop()
        if reading is not None:
            reading.cancel()  # its answer, a broken pool, is for nobody

    async def _read_on(
        self, reader: _Reader, name: str, data: bytes, limits: ImportLimits
    ) -> Upload:
        """Read the upload on this reader, which goes back to the idle ones unless it was
        stopped."""
        loop = asyncio.get_running_loop()
        what = repr(name) if name else "the file"
        future = loop.run_in_executor(reader.executor, read_upload, name, data, limits)
        started, cpu_at_start = loop.time(), processor_time_s(reader.pid)
        try:
            while not (await asyncio.wait({future}, timeout=POLL_S))[0]:
                waited = loop.time() - started
                cpu = processor_time_s(reader.pid)
                # Without /proc the wall time is taken as the reader's processor time.
                spent = waited if cpu is None or cpu_at_start is None else cpu - cpu_at_start
                if spent >= limits.max_read_cpu_s:
                    self._discard(reader, future)
                    raise UnreadableFile(
                        f"{what} took more than {limits.max_read_cpu_s:g} s of processor time "
                        "to read, far longer than any activity file should; nothing was "
                        "imported (split a large archive, or check the file is not damaged)"
                    )
                if waited >= self._wall_factor * limits.max_read_cpu_s:
                    self._discard(reader, future)
                    raise ReadersBusy(
                        f"the server is too busy to finish reading {what}; nothing was saved, "
                        f"retry in {RETRY_AFTER_S} seconds",
                        RETRY_AFTER_S,
                    )
        except asyncio.CancelledError:
            # The request is gone; the reader would go on with a file nobody waits for.
            self._discard(reader, future)
            raise
        try:
            upload = future.result()
        except BrokenProcessPool:
            self._discard(reader)
            raise self._died_reading(data, what) from None
        except BaseException:
            self._idle.append(reader)  # the reader answered: it refused the file
            raise
        self._idle.append(reader)
        return upload

    def _died_reading(self, data: bytes, what: str) -> UnreadableFile | ReadersBusy:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self._deaths:
            log.error("an activity file stopped a reader process again; refused")
            return UnreadableFile(
                f"{what} stopped the file reader each of the two times it was read (a damaged "
                "or hostile file, or one far too large once unpacked); it cannot be imported"
            )
        self._deaths[digest] = None
        while len(self._deaths) > _REMEMBERED_DEATHS:
            self._deaths.popitem(last=False)
        log.error("an activity file reader process died; a new one takes its place")
        return ReadersBusy(
            f"the file reader stopped while reading {what} (the server may be short of "
            f"memory); nothing was saved, retry in {RETRY_AFTER_S} seconds",
            RETRY_AFTER_S,
        )

    async def close(self) -> None:
        readers, self._readers, self._idle = self._readers, set(), []
        for reader in readers:
            await asyncio.to_thread(reader.executor.shutdown, wait=True, cancel_futures=True)


class InlineActivityFiles:
    """Parses in the calling event loop: what the benchmark compares the readers with
    (FITBOARD_IMPORT_PROCESSES=0), and never the right choice for a served API: it has
    no processor-time limit, no bound on waiting uploads, and a crash is the server's."""

    async def read(self, name: str, data: bytes, limits: ImportLimits) -> Upload:
        return read_upload(name, data, limits)

    async def close(self) -> None:
        return None
