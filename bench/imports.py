"""`python -m bench.imports` (or `python -m bench --only imports`): how fast activity files
are imported, and what importing does to the latency of everything else the API serves.
Every figure is printed beside a baseline measured in the same run, and the ratio.

1. The reader in-process (no HTTP, no pool): files per second for a one-hour run recorded
   at one sample a second, as FIT, GPX and TCX, and for a zip of 50 one-hour GPX files.
   Baseline: the parser's own speed on the same bytes (fitdecode reading every frame;
   defusedxml building the XML tree; for the zip, unpacking and parsing each file), so the
   ratio is what fitboard's reading adds.
2. Imports through the API: the same files uploaded to a real `fitboard serve` (embedded,
   one reader process, its worker in the same process), two clients at once, each upload
   by an athlete who does not have the activity yet (so each is a 202 or a 207 with every
   file queued). Baseline: the parser's own speed again, so the ratio is what the whole
   import path (HTTP, the reader process, duplicate checks, the queue) costs on top.
3. The p99 latency of other requests (GET /v1/workouts at a steady rate) while one client
   uploads one-hour GPX files back to back (the same file: 409 after the first, each read
   in full), with the readers (the default) and with parsing in the event loop
   (FITBOARD_IMPORT_PROCESSES=0). Baseline: the same p99 on a server with no imports."""

from __future__ import annotations

import argparse
import asyncio
import functools
import io
import time
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import fitdecode
import httpx
from defusedxml.ElementTree import fromstring
from tests import activity_files as af

from bench.common import fitboard_server, percentile, register, run_main
from bench.figures import Sizes
from bench.results import Figure, text_table, write_json
from fitboard.adapters.importers.reader import read_upload
from fitboard.application.imports.ports import ImportLimits

GROUP = "imports"
LIMITS = ImportLimits(
    max_file_bytes=32 << 20,
    max_archive_files=500,
    max_archive_bytes=256 << 20,
    max_read_cpu_s=60.0,
)
HOUR_S = 3600
ZIP_FILES = 50
NO_TARGET = "none set"


def _hour(hours_ago: float) -> af.Track:
    return af.Track(af.hours_ago(hours_ago), HOUR_S, speed_m_s=3.0)


def _files() -> dict[str, tuple[str, bytes, int]]:
    """(file name, bytes, activity files in it) per kind; each kind a different hour, so
    one athlete's uploads of two kinds are two activities."""
    archive = af.zipped({f"run-{i}.gpx": af.gpx(_hour(100 + 2 * i)) for i in range(ZIP_FILES)})
    return {
        "one-hour FIT": ("run.fit", af.fit(_hour(30)), 1),
        "one-hour GPX": ("run.gpx", af.gpx(_hour(34)), 1),
        "one-hour TCX": ("run.tcx", af.tcx(_hour(38)), 1),
        f"zip of {ZIP_FILES} one-hour GPX": ("export.zip", archive, ZIP_FILES),
    }


def _raw_parse(name: str, data: bytes) -> None:
    """The parser alone: what fitboard's reader is built on."""
    if name.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for info in archive.infolist():
                _raw_parse(info.filename, archive.read(info))
    elif name.endswith(".fit"):
        reader = fitdecode.FitReader(
            io.BytesIO(data),
            check_crc=fitdecode.CrcCheck.ENABLED,
            error_handling=fitdecode.ErrorHandling.RAISE,
        )
        with reader:
            for _ in reader:
                pass
    else:
        fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)


def _per_second(read: Callable[[], object], at_least_s: float) -> float:
    count, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < at_least_s or count < 3:
        read()
        count += 1
    return count / elapsed


def reader_figures(files: dict[str, tuple[str, bytes, int]], seconds: float) -> list[Figure]:
    rows = []
    for kind, (name, data, count) in files.items():
        raw = _per_second(functools.partial(_raw_parse, name, data), seconds) * count
        ours = _per_second(functools.partial(read_upload, name, data, LIMITS), seconds) * count
        rows.append(
            Figure(
                GROUP,
                f"reader in-process, {kind}",
                ours,
                "files/s",
                NO_TARGET,
                baseline=raw,
                baseline_text="(the parser alone)",
                details={"bytes": len(data)},
            )
        )
    return rows


async def _import_rate(
    http: httpx.AsyncClient, tokens: list[str], name: str, data: bytes, seconds: float
) -> tuple[float, int]:
    """Files per second imported by two clients, each upload by the next athlete, until
    `seconds` pass or every athlete has uploaded; and the uploads made."""
    athletes = iter(tokens)
    done = 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal done
        for token in athletes:
            if time.perf_counter() > deadline:
                return
            response = await http.post(
                "/v1/workouts/import",
                files={"file": (name, data)},
                headers={"authorization": f"Bearer {token}"},
            )
            assert response.status_code in (202, 207), response.text
            if response.status_code == 207:
                statuses = {r["status"] for r in response.json()["results"]}
                assert statuses == {"queued"}, response.text
            done += 1

    started = time.perf_counter()
    await asyncio.gather(client(), client())
    return done / (time.perf_counter() - started), done


async def api_figures(
    files: dict[str, tuple[str, bytes, int]],
    raw_rates: dict[str, float],
    seconds: float,
    athletes: int,
) -> list[Figure]:
    rows = []
    async with (
        fitboard_server({"FITBOARD_IMPORT_PROCESSES": "1"}) as server,
        httpx.AsyncClient(base_url=server.url, timeout=120) as http,
    ):
        tokens = [(await register(http, f"importer{i}"))[0] for i in range(athletes)]
        # The reader process starts on the first upload: not part of any figure.
        await http.post(
            "/v1/workouts/import",
            files={"file": ("warm.gpx", af.gpx(af.Track(af.hours_ago(500), 60)))},
            headers={"authorization": f"Bearer {tokens[0]}"},
        )
        for kind, (name, data, count) in files.items():
            rate, uploads = await _import_rate(http, tokens, name, data, seconds)
            rows.append(
                Figure(
                    GROUP,
                    f"API import (embedded serve, 2 clients), {kind}",
                    rate * count,
                    "files/s",
                    NO_TARGET,
                    baseline=raw_rates[kind],
                    baseline_text="(the parser alone)",
                    details={"uploads": uploads},
                )
            )
    return rows


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
    data, count = af.gpx(_hour(30)), 0
    headers = {"authorization": f"Bearer {token}"}
    while not stop.is_set():
        response = await http.post(
            "/v1/workouts/import", files={"file": ("run.gpx", data)}, headers=headers
        )
        assert response.status_code in (202, 409), response.text
        count += 1
    return count


async def _p99(env: dict[str, str] | None, seconds: float, rate: float) -> tuple[float, int, int]:
    """The p99 of GET /v1/workouts (ms) on a fresh server, with one client uploading
    one-hour GPX files back to back unless `env` is None; the requests and uploads made."""
    async with (
        fitboard_server(env or {}) as server,
        httpx.AsyncClient(base_url=server.url, timeout=30) as reader,
        httpx.AsyncClient(base_url=server.url, timeout=30) as uploader,
    ):
        token, _ = await register(reader, "bench")
        stop = asyncio.Event()
        uploads = None
        if env is not None:
            uploads = asyncio.create_task(_uploads(uploader, token, stop))
            await asyncio.sleep(1.0)  # the reader process starts on the first upload
        latencies = await _latencies(reader, token, seconds, rate)
        stop.set()
        done = await uploads if uploads is not None else 0
    return percentile(latencies, 99), len(latencies), done


async def latency_figures(seconds: float, rate: float) -> list[Figure]:
    quiet, requests, _ = await _p99(None, seconds, rate)
    rows = []
    for label, processes in (("with the readers", "1"), ("parsing in the event loop", "0")):
        p99, requests, uploads = await _p99({"FITBOARD_IMPORT_PROCESSES": processes}, seconds, rate)
        rows.append(
            Figure(
                GROUP,
                f"GET /v1/workouts p99 at {rate:g}/s while importing, {label}",
                p99,
                "ms",
                NO_TARGET,
                better="lower",
                baseline=quiet,
                baseline_text="(no imports)",
                details={"requests": requests, "uploads": uploads},
            )
        )
    return rows


async def figures(seconds: float, rate: float, athletes: int) -> list[Figure]:
    files = _files()
    rows = reader_figures(files, min(seconds, 3.0))
    raw = {kind: row.baseline or 0.0 for kind, row in zip(files, rows, strict=True)}
    rows += await api_figures(files, raw, seconds, athletes)
    rows += await latency_figures(seconds, rate)
    return rows


async def group(sizes: Sizes) -> list[Figure]:
    """The figures as `python -m bench --only imports` runs them (one phase per size's
    seconds, at most 16 uploads of each kind)."""
    return await figures(sizes.seconds, rate=50.0, athletes=16)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument(
        "--athletes", type=int, default=16, help="the most uploads of each kind to the API"
    )
    parser.add_argument("--out", type=Path, help="the JSON file (default bench/results/...)")
    args = parser.parse_args()
    started_at = datetime.now(UTC)
    rows = run_main(figures(args.seconds, args.rate, args.athletes))
    print(text_table(rows))
    out = args.out or Path(__file__).with_name("results") / (
        f"imports-{started_at:%Y%m%dT%H%M%SZ}.json"
    )
    write_json(out, rows, {"started_at": started_at.isoformat(), "args": vars(args)})
    print(f"\nwritten to {out}")


if __name__ == "__main__":
    main()
