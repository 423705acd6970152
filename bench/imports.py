"""`python -m bench.imports`: how fast activity files are read, and what importing does to
the latency of everything else the API serves.

1. Throughput of the reader alone (one process, no HTTP): files per second for a one-hour
   run recorded at one sample a second, as FIT, GPX and TCX, and for a zip of 50 of them.
2. The p50/p99 latency of other requests (GET /v1/workouts, at a steady rate) on a real
   `fitboard serve` (embedded), without imports, then while one client uploads one-hour
   GPX files back to back: once with the reader in its process pool (the default) and once
   in the event loop (FITBOARD_IMPORT_PROCESSES=0), which is what the pool is for."""

from __future__ import annotations

import argparse
import asyncio
import functools
import time
from collections.abc import Callable

import httpx
from tests import activity_files as af

from bench.common import fitboard_server, percentile, register
from fitboard.adapters.importers.reader import read_upload
from fitboard.application.imports.ports import ImportLimits

LIMITS = ImportLimits(
    max_file_bytes=32 << 20,
    max_archive_files=500,
    max_archive_bytes=256 << 20,
    max_read_cpu_s=60.0,
)
HOUR = af.Track(af.hours_ago(30), 3600, speed_m_s=3.0)


def _per_second(read: Callable[[], object], at_least_s: float) -> tuple[float, int]:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < at_least_s or count < 3:
        read()
        count += 1
    return count / elapsed, count


def reader_throughput(seconds: float) -> None:
    files = {"fit": af.fit(HOUR), "gpx": af.gpx(HOUR), "tcx": af.tcx(HOUR)}
    print("reader throughput, one-hour run at 1 Hz (3601 points), one process:")
    for kind, data in files.items():
        rate, n = _per_second(functools.partial(read_upload, f"run.{kind}", data, LIMITS), seconds)
        print(f"  {kind}: {len(data) / 1024:7.0f} KiB  {rate:6.1f} files/s  ({n} reads)")
    archive = af.zipped({f"run-{i}.fit": af.fit(HOUR, serial=i) for i in range(50)})
    rate, n = _per_second(lambda: read_upload("export.zip", archive, LIMITS), seconds)
    print(
        f"  zip of 50 FIT: {len(archive) / 1024:5.0f} KiB  {rate * 50:6.1f} files/s "
        f"({rate:.2f} archives/s, {n} reads)"
    )


async def _latencies(
    http: httpx.AsyncClient, token: str, seconds: float, rate: float
) -> list[float]:
    latencies: list[float] = []
    headers = {"authorization": f"Bearer {token}"}
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        sent = time.perf_counter()
        response = await http.get("/v1/workouts", headers=headers)
        response.raise_for_status()
        latencies.append((time.perf_counter() - sent) * 1000)
        await asyncio.sleep(max(0.0, 1 / rate - (time.perf_counter() - sent)))
    return latencies


async def _uploads(http: httpx.AsyncClient, token: str, stop: asyncio.Event) -> int:
    data, count = af.gpx(HOUR), 0
    headers = {"authorization": f"Bearer {token}"}
    while not stop.is_set():
        response = await http.post(
            "/v1/workouts/import", files={"file": ("run.gpx", data)}, headers=headers
        )
        assert response.status_code in (202, 409), response.text
        count += 1
    return count


async def latency_under_imports(seconds: float, rate: float) -> None:
    print(f"GET /v1/workouts at {rate:.0f}/s for {seconds:.0f} s, ms (embedded `fitboard serve`):")
    for label, env, importing in (
        ("no imports", {}, False),
        ("imports, process pool", {"FITBOARD_IMPORT_PROCESSES": "1"}, True),
        ("imports, in the event loop", {"FITBOARD_IMPORT_PROCESSES": "0"}, True),
    ):
        async with (
            fitboard_server(env) as server,
            httpx.AsyncClient(base_url=server.url, timeout=30) as reader,
            httpx.AsyncClient(base_url=server.url, timeout=30) as uploader,
        ):
            token, _ = await register(reader, "bench")
            stop = asyncio.Event()
            uploads = asyncio.create_task(_uploads(uploader, token, stop)) if importing else None
            if uploads is not None:
                await asyncio.sleep(1.0)  # the pool's process starts on the first upload
            latencies = await _latencies(reader, token, seconds, rate)
            stop.set()
            done = await uploads if uploads is not None else 0
        print(
            f"  {label:28s} p50 {percentile(latencies, 50):6.1f}  p99 "
            f"{percentile(latencies, 99):6.1f}  max {max(latencies):6.1f}  "
            f"({len(latencies)} requests, {done} uploads of a one-hour GPX)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    reader_throughput(min(args.seconds, 3.0))
    asyncio.run(latency_under_imports(args.seconds, args.rate))


if __name__ == "__main__":
    main()
