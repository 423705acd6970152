"""Background load in a process of its own, so that its work does not delay the probe's
event loop: workouts submitted on an open-loop schedule (the n-th at start + n / rate,
whatever the answers do), spread in turn over the given API URLs and athletes, with at most
`max_in_flight` unanswered; a submission due while that many wait is skipped and counted.

The parent reads the running counts at any time (shared memory, no round trip) and gets a
final report when it stops the generator: counts, the 202 latency the load saw, how late
the generator started its submissions, and its own CPU time per submission (measured with
`time.process_time()` over the load phase only, imports and connection set-up excluded).

The process stops by itself at `deadline_s`, or when its parent is gone."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import multiprocessing
import multiprocessing.connection
import multiprocessing.synchronize
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

Client = Literal["aiohttp", "httpx"]
# Indices of the shared counters.
STARTED, ACCEPTED, REFUSED, FAILED, SKIPPED = range(5)
REQUEST_TIMEOUT_S = 30.0
LATE_S = 0.010  # a submission started this much after its slot counts as late


@dataclass(frozen=True)
class LoadConfig:
    urls: list[str]
    tokens: list[str]
    rate: float
    max_in_flight: int
    deadline_s: float
    client: Client = "aiohttp"


@dataclass(frozen=True)
class Counts:
    started: int = 0
    accepted: int = 0
    refused: int = 0  # answered, but not 202
    failed: int = 0  # no answer (connection error, timeout)
    skipped: int = 0  # not started: max_in_flight were already waiting for answers


@dataclass(frozen=True)
class LoadReport:
    counts: Counts
    unfinished: int  # still waiting for an answer when the generator stopped
    wall_s: float
    cpu_s: float
    late: int
    max_late_ms: float
    accept_ms: list[float]  # 202 round trips as the load saw them
    error: str | None = None

    @property
    def cpu_ms_per_request(self) -> float:
        return self.cpu_s * 1000 / max(1, self.counts.started)

    @property
    def cpu_share(self) -> float:
        """Fraction of one core the generator used during the load phase."""
        return self.cpu_s / self.wall_s if self.wall_s > 0 else 0.0


class LoadGenerator:
    """Parent side: start, read the counts, stop (bounded), get the report."""

    def __init__(self, config: LoadConfig) -> None:
        context = multiprocessing.get_context("spawn")  # no fork of a running event loop
        self._counters = context.Array("q", 5, lock=False)
        self._stop = context.Event()
        self._running = context.Event()
        self._results, self._child_end = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_child,
            args=(config, self._counters, self._stop, self._running, self._child_end),
            name="fitboard-bench-load",
            daemon=True,
        )

    async def start(self, timeout_s: float = 60.0) -> None:
        """Until the child has connected and begun its schedule."""
        self._process.start()
        # The child holds its own copy: a child that dies unreported then reads as EOF.
        self._child_end.close()
        async with asyncio.timeout(timeout_s):
            while not self._running.is_set():
                if not self._process.is_alive():
                    raise RuntimeError(f"the load generator exited ({self._process.exitcode})")
                await asyncio.sleep(0.05)

    def counts(self) -> Counts:
        return Counts(*self._counters[:5])

    async def stop(self, timeout_s: float = 30.0) -> LoadReport | None:
        """Ask it to stop, wait for its report, and make sure it is gone."""
        self._stop.set()
        report: LoadReport | None = None
        if self._process.pid is not None and await asyncio.to_thread(self._results.poll, timeout_s):
            with contextlib.suppress(EOFError):
                report = self._results.recv()
        await asyncio.to_thread(self._process.join, 5.0)
        if self._process.is_alive():
            self._process.kill()
            await asyncio.to_thread(self._process.join, 5.0)
        self._results.close()
        return report


# ---------------------------------------------------------------------------- the child


def _child(
    config: LoadConfig,
    counters: Any,
    stop: multiprocessing.synchronize.Event,
    running: multiprocessing.synchronize.Event,
    results: multiprocessing.connection.Connection,
) -> None:
    try:
        report = asyncio.run(_generate(config, counters, stop, running))
    except BaseException as exc:
        report = LoadReport(Counts(*counters[:5]), 0, 0.0, 0.0, 0, 0.0, [], repr(exc))
    results.send(report)
    results.close()


Post = Callable[[str, bytes, dict[str, str]], Awaitable[int]]


def _body(n: int, at: datetime) -> bytes:
    return json.dumps(_workout_body(n, at)).encode()


async def _generate(
    config: LoadConfig,
    counters: Any,
    stop: multiprocessing.synchronize.Event,
    running: multiprocessing.synchronize.Event,
) -> LoadReport:
    parent = os.getppid()
    targets = [f"{url}/v1/workouts" for url in config.urls]
    headers = [
        {"authorization": f"Bearer {token}", "content-type": "application/json"}
        for token in config.tokens
    ]
    accept_ms: list[float] = []
    in_flight: set[asyncio.Task[None]] = set()

    async def one(post: Post, url: str, body: bytes, header: dict[str, str]) -> None:
        sent = time.perf_counter()
        try:
            status = await post(url, body, header)
        except asyncio.CancelledError:
            raise
        except Exception:
            counters[FAILED] += 1
            return
        if status == 202:
            counters[ACCEPTED] += 1
            accept_ms.append((time.perf_counter() - sent) * 1000)
        else:
            counters[REFUSED] += 1

    async def schedule(post: Post) -> LoadReport:
        # Every submission goes to the next URL, for the next athlete: with as many
        # athletes as a multiple of the URLs, an athlete always talks to the same process.
        urls = itertools.cycle(targets)
        athletes = itertools.cycle(headers)
        at = datetime.now(UTC)
        late = 0
        max_late = 0.0
        running.set()
        cpu_at = time.process_time()
        start = time.monotonic()
        deadline = start + config.deadline_s

        async def until(due: float) -> bool:
            """Wait for `due`; False as soon as the generator must stop instead."""
            while True:
                now = time.monotonic()
                if stop.is_set() or now > deadline or os.getppid() != parent:
                    return False
                if now >= due:
                    return True
                await asyncio.sleep(min(due - now, 0.1))

        for n in itertools.count():
            due = start + n / config.rate
            if not await until(due):
                break
            now = time.monotonic()
            lateness = now - due
            max_late = max(max_late, lateness)
            late += lateness > LATE_S
            if len(in_flight) >= config.max_in_flight:
                counters[SKIPPED] += 1
                continue
            counters[STARTED] += 1
            body = _body(n, at)
            task = asyncio.create_task(one(post, next(urls), body, next(athletes)))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        wall = time.monotonic() - start
        cpu = time.process_time() - cpu_at
        unfinished = len(in_flight)
        for task in list(in_flight):
            task.cancel()
        await asyncio.gather(*in_flight, return_exceptions=True)
        return LoadReport(
            Counts(*counters[:5]), unfinished, wall, cpu, late, max_late * 1000, accept_ms
        )

    if config.client == "aiohttp":
        import aiohttp

        connector = aiohttp.TCPConnector(limit=config.max_in_flight + 10, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

            async def post_aiohttp(url: str, body: bytes, header: dict[str, str]) -> int:
                async with session.post(url, data=body, headers=header) as response:
                    await response.read()
                    return response.status

            return await schedule(post_aiohttp)
    import httpx

    limits = httpx.Limits(max_connections=config.max_in_flight + 10)
    async with httpx.AsyncClient(
        timeout=REQUEST_TIMEOUT_S, limits=limits, trust_env=False
    ) as client:

        async def post_httpx(url: str, body: bytes, header: dict[str, str]) -> int:
            return (await client.post(url, content=body, headers=header)).status_code

        return await schedule(post_httpx)


# ---------------------------------------------------------------------------- closed loop


Body = Literal["none", "workout", "batch"]
BATCH_SIZE = 100


@dataclass(frozen=True)
class Hammer:
    """Closed loop: `connections` clients in a process of their own, each sending its next
    request as soon as the previous one is answered, for `warm_up_s` (not counted) then
    `seconds`. Request n goes to `targets[n % len(targets)]`: (URL, bearer token or "")."""

    method: Literal["GET", "POST"]
    targets: list[tuple[str, str]]
    body: Body
    connections: int
    seconds: float
    warm_up_s: float = 1.0


@dataclass(frozen=True)
class HammerReport:
    ok: int  # 2xx answers in the measured window
    items: int  # workouts accepted ("queued") in those answers; a batch counts its items
    refused: int  # answered, not 2xx
    failed: int  # no answer
    wall_s: float
    cpu_s: float  # the load process's CPU over the window
    latency_ms: list[float]  # of the 2xx answers
    first_refusal: str = ""

    @property
    def per_s(self) -> float:
        return self.ok / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def items_per_s(self) -> float:
        return self.items / self.wall_s if self.wall_s > 0 else 0.0


# The span of start times a load's workouts take, ending two hours before the load began.
_SPAN = timedelta(hours=6)
_SPAN_MS = _SPAN // timedelta(milliseconds=1)


def _workout_body(n: int, at: datetime) -> dict[str, object]:
    # The n-th workout starts n milliseconds after the first, so that each athlete's
    # workouts arrive in the order they were done, as a device uploads them. (Until
    # 2026-12-03 each started a second before the one sent before it: every new workout
    # came before all of its athlete's earlier ones, and the worker judged the records of
    # every later workout again, a cost real uploads rarely ask for: docs/benchmarks.md,
    # "Session 17".)
    started = at - timedelta(minutes=120) - _SPAN + timedelta(milliseconds=n % _SPAN_MS)
    return {
        "activity": "run",
        "started_at": started.isoformat(),
        "duration_s": 300,
        "distance_m": 900,
    }


def _request_body(kind: Body, n: int, at: datetime) -> bytes | None:
    if kind == "workout":
        return _body(n, at)
    if kind == "batch":
        items = [_workout_body(n * BATCH_SIZE + k, at) for k in range(BATCH_SIZE)]
        return json.dumps({"workouts": items}).encode()
    return None


def hammer(config: Hammer) -> HammerReport:
    """Run `config` in a spawned process (so that the load's CPU is not the caller's and
    the caller's loop is free) and return its report; bounded by the config's duration."""
    context = multiprocessing.get_context("spawn")
    results, child_end = context.Pipe(duplex=False)
    process = context.Process(
        target=_hammer_child, args=(config, child_end), name="fitboard-bench-hammer", daemon=True
    )
    process.start()
    child_end.close()
    try:
        limit = config.warm_up_s + config.seconds + REQUEST_TIMEOUT_S + 60
        if not results.poll(limit):
            raise RuntimeError("the load process sent no report")
        report: HammerReport | str = results.recv()
    finally:
        process.join(5.0)
        if process.is_alive():
            process.kill()
            process.join(5.0)
        results.close()
    if isinstance(report, str):
        raise RuntimeError(f"the load process failed: {report}")
    return report


def _hammer_child(config: Hammer, results: multiprocessing.connection.Connection) -> None:
    try:
        try:
            import uvloop

            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                report: HammerReport | str = runner.run(_hammer(config))
        except ImportError:
            report = asyncio.run(_hammer(config))
    except BaseException as exc:
        report = repr(exc)
    results.send(report)
    results.close()


async def _hammer(config: Hammer) -> HammerReport:
    import aiohttp

    parent = os.getppid()
    counter = itertools.count()
    state = {"ok": 0, "items": 0, "refused": 0, "failed": 0}
    latencies: list[float] = []
    first_refusal: list[str] = []
    measuring = False
    at = datetime.now(UTC)
    connector = aiohttp.TCPConnector(limit=config.connections + 10, limit_per_host=0)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def client(stop_at: float) -> None:
            while time.monotonic() < stop_at and os.getppid() == parent:
                n = next(counter)
                url, token = config.targets[n % len(config.targets)]
                headers = {"content-type": "application/json"}
                if token:
                    headers["authorization"] = f"Bearer {token}"
                data = _request_body(config.body, n, at)
                sent = time.perf_counter()
                try:
                    async with session.request(
                        config.method, url, data=data, headers=headers
                    ) as response:
                        payload = await response.read()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    if measuring:
                        state["failed"] += 1
                    continue
                if not measuring:
                    continue
                if 200 <= status < 300:
                    state["ok"] += 1
                    latencies.append((time.perf_counter() - sent) * 1000)
                    if config.body == "batch":
                        results = json.loads(payload)["results"]
                        state["items"] += sum(r["status"] == "queued" for r in results)
                    elif config.body == "workout":
                        state["items"] += 1
                else:
                    state["refused"] += 1
                    if not first_refusal:
                        first_refusal.append(f"{status} {payload[:200]!r}")

        stop_at = time.monotonic() + config.warm_up_s + config.seconds
        clients = [asyncio.create_task(client(stop_at)) for _ in range(config.connections)]
        await asyncio.sleep(config.warm_up_s)
        measuring = True
        started, cpu_at = time.monotonic(), time.process_time()
        await asyncio.gather(*clients)
        wall, cpu = time.monotonic() - started, time.process_time() - cpu_at
    return HammerReport(
        state["ok"],
        state["items"],
        state["refused"],
        state["failed"],
        wall,
        cpu,
        latencies,
        first_refusal[0] if first_refusal else "",
    )
