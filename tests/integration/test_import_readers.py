"""The reader processes that parse uploaded activity files, with real processes: a file
past its processor time, a reader starved of the processor, uploads past the waiting
bound, and a reader killed in the middle of a file. After each, the next upload is read."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from fitboard.adapters.importers.files_process_pool import ProcessPoolActivityFiles
from fitboard.application.imports.ports import ImportLimits, ReadersBusy, UnreadableFile, Upload
from tests import activity_files as af
from tests.reader_processes import children, until_parsing

LIMITS = ImportLimits(
    max_file_bytes=32 << 20, max_archive_files=10, max_archive_bytes=64 << 20, max_read_cpu_s=60
)
SMALL = af.gpx(af.Track(af.hours_ago(3), 60))


@pytest.fixture(scope="module")
def six_hours() -> bytes:
    """A six-hour run at one point a second: about 0.8 s of processor time to read."""
    return af.gpx(af.Track(af.hours_ago(30), 6 * 3600))


@pytest.fixture
async def readers() -> AsyncIterator[ProcessPoolActivityFiles]:
    files = ProcessPoolActivityFiles(processes=1, max_waiting=1)
    try:
        yield files
    finally:
        await files.close()


async def read_small(files: ProcessPoolActivityFiles) -> int:
    """Read a small file, and the pid of the reader that read it."""
    upload = await files.read("small.gpx", SMALL, LIMITS)
    assert upload.files[0].activities[0].duration_s == 60
    for _ in range(500):  # until a reader stopped before it is reaped
        if len(pids := children()) == 1:
            return pids.pop()
        await asyncio.sleep(0.01)
    raise AssertionError(f"one reader expected, found {children()}")


async def gone(pid: int) -> bool:
    """Whether the reader process has ended (within a few seconds of being stopped)."""
    for _ in range(500):
        if pid not in children():
            return True
        await asyncio.sleep(0.01)
    return False


async def test_a_file_past_its_processor_time_is_refused_and_the_next_is_read(
    six_hours: bytes,
) -> None:
    # However loaded the machine running the test, the reader is not judged starved.
    readers = ProcessPoolActivityFiles(processes=1, max_waiting=0, wall_factor=1000)
    try:
        first = await read_small(readers)
        with pytest.raises(UnreadableFile, match=r"more than 0.2 s of processor time"):
            await readers.read("long.gpx", six_hours, replace(LIMITS, max_read_cpu_s=0.2))
        assert await gone(first)  # stopped, not left parsing
        assert await read_small(readers) != first
    finally:
        await readers.close()


async def test_a_file_the_reader_refuses_keeps_the_reader(
    readers: ProcessPoolActivityFiles,
) -> None:
    first = await read_small(readers)
    with pytest.raises(UnreadableFile, match="is empty"):
        await readers.read("empty.gpx", b"  ", LIMITS)
    assert await read_small(readers) == first


async def test_a_reader_starved_of_the_processor_is_a_retry_not_the_files_fault(
    readers: ProcessPoolActivityFiles,
) -> None:
    first = await read_small(readers)
    os.kill(first, signal.SIGSTOP)  # as if the machine gave it no processor time
    with pytest.raises(ReadersBusy, match=r"too busy to finish reading 'small\.gpx'") as busy:
        async with asyncio.timeout(30):  # a stopped reader would never answer
            await readers.read("small.gpx", SMALL, replace(LIMITS, max_read_cpu_s=0.05))
    assert busy.value.retry_after_s > 0
    assert await gone(first)
    assert await read_small(readers) != first


async def test_uploads_past_the_waiting_bound_are_turned_away_at_once(
    readers: ProcessPoolActivityFiles,
) -> None:
    first = await read_small(readers)
    os.kill(first, signal.SIGSTOP)
    starved = replace(LIMITS, max_read_cpu_s=0.05)
    reading = asyncio.create_task(readers.read("a.gpx", SMALL, starved))
    waiting = asyncio.create_task(readers.read("b.gpx", SMALL, LIMITS))
    await asyncio.sleep(0.05)
    # One upload in the reader and one waiting (max_waiting=1): a third is refused at once.
    with pytest.raises(ReadersBusy, match=r"readers are busy \(2 uploads in hand\)"):
        await readers.read("c.gpx", SMALL, LIMITS)
    with pytest.raises(ReadersBusy, match=r"too busy to finish reading 'a\.gpx'"):
        async with asyncio.timeout(30):  # a stopped reader would never answer
            await reading
    # The waiting upload is read by the reader that replaced the starved one.
    done: Upload = await waiting
    assert done.files[0].activities[0].duration_s == 60
    assert await gone(first)


async def test_a_reader_killed_mid_file_is_replaced_and_the_same_file_twice_is_refused(
    readers: ProcessPoolActivityFiles, six_hours: bytes
) -> None:
    first = await read_small(readers)
    reading = asyncio.create_task(readers.read("long.gpx", six_hours, LIMITS))
    await until_parsing(first)
    os.kill(first, signal.SIGKILL)
    with pytest.raises(ReadersBusy, match=r"reader stopped while reading 'long\.gpx'"):
        await reading
    second = await read_small(readers)
    assert second != first

    # The same bytes stopping a reader again are the file's doing: refused, not retried.
    reading = asyncio.create_task(readers.read("long.gpx", six_hours, LIMITS))
    await until_parsing(second)
    os.kill(second, signal.SIGKILL)
    with pytest.raises(UnreadableFile, match="stopped the file reader each of the two times"):
        await reading
    assert await read_small(readers) not in (first, second)


async def test_a_request_that_goes_away_stops_its_reader(
    readers: ProcessPoolActivityFiles, six_hours: bytes
) -> None:
    first = await read_small(readers)
    reading = asyncio.create_task(readers.read("long.gpx", six_hours, LIMITS))
    await until_parsing(first)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    assert await gone(first)  # not left reading a file nobody waits for
    assert await read_small(readers) != first
