"""What live events cost an API process: its CPU per processed workout, production mode,
with no Socket.IO client connected and then with some.

One API process and one worker (a fresh deployment, bench/deployment.py). `--athletes`
athletes each submit workouts in turn (`POST /v1/workouts`, one at a time per athlete,
`--rate` a second in all) until `--workouts` are accepted; the run waits until the worker
has processed them all (their count on `workouts/all/global`, read through the API), then
for the API to go quiet. The API process's CPU (/proc) over that window, divided by the
workouts, is its cost per workout: the ingest of the POST, and whatever the worker's live
events cost it. Then `--clients` of those athletes connect over a websocket (connect only:
no board subscription, so no snapshots are read) and the same is done again; the events
they received are counted, which shows delivery works.

    python -m bench.live_cost [--workouts 1000] [--rate 100] [--athletes 50]
        [--clients 10] [--py-spy FILE]

`--py-spy FILE` records the API process with py-spy (it must be installed) during the
phase without clients, in py-spy's raw (collapsed stacks) format.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from dataclasses import dataclass, field

import aiohttp
import httpx

from bench.common import positive, post_workout, run_main, socketio_connect
from bench.deployment import Deployment, deploy
from bench.live_freshness import processed_count, register_athletes
from fitboard.domain.boards import Metric, Period

QUIET_S = 1.0
PROCESS_TIMEOUT_S = 120.0


@dataclass
class Listener:
    """A Socket.IO connection that only counts what it hears (Engine.IO v4 over a
    websocket, as bench.common.RawClient, without subscribing to a board)."""

    ws: aiohttp.ClientWebSocketResponse
    events: dict[str, int] = field(default_factory=dict)
    reader: asyncio.Task[None] | None = None

    async def read(self) -> None:
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            data: str = message.data
            if data == "2":
                await self.ws.send_str("3")
            elif data.startswith("42["):
                name = json.loads(data[2:])[0]
                self.events[name] = self.events.get(name, 0) + 1


async def listen(session: aiohttp.ClientSession, base_url: str, token: str) -> Listener:
    ws = await socketio_connect(session, base_url, token)
    listener = Listener(ws)
    listener.reader = asyncio.create_task(listener.read())
    return listener


@dataclass(frozen=True)
class Phase:
    clients: int
    workouts: int
    api_cpu_s: float
    worker_cpu_s: float
    seconds: float
    events_heard: dict[str, int]

    def line(self) -> str:
        per = 1000 / self.workouts
        heard = ", ".join(f"{n} {e}" for e, n in sorted(self.events_heard.items())) or "none"
        return (
            f"  {self.clients:>4} clients: API {self.api_cpu_s * per:.2f} ms CPU per workout,"
            f" worker {self.worker_cpu_s * per:.2f} ms; {self.workouts} workouts in"
            f" {self.seconds:.1f} s; clients heard {heard}"
        )


async def submit(http: httpx.AsyncClient, tokens: list[str], workouts: int, rate: float) -> None:
    """`workouts` POSTs started on a fixed schedule, athletes in turn."""
    started = time.monotonic()
    tasks: list[asyncio.Task[httpx.Response]] = []
    for n in range(workouts):
        delay = started + n / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(post_workout(http, tokens[n % len(tokens)])))
    for response in await asyncio.gather(*tasks):
        if response.status_code != 202:
            raise RuntimeError(f"a workout was answered {response.status_code}")


async def load_boards(http: httpx.AsyncClient, token: str) -> None:
    """Read every board a run workout moves once, so that Redis holds them all: a board
    nobody has read is not loaded, and a workout announces no rank change on it."""
    for metric in Metric:
        for period in Period:
            for scope in ("global", "activity:run"):
                response = await http.get(
                    f"/v1/leaderboards/{metric}/{period}",
                    params={"scope": scope},
                    headers={"authorization": f"Bearer {token}"},
                )
                response.raise_for_status()


async def wait_processed(http: httpx.AsyncClient, token: str, total: int) -> None:
    async with asyncio.timeout(PROCESS_TIMEOUT_S):
        while True:
            if (await processed_count(http, token, "") or 0) >= total:
                return
            await asyncio.sleep(0.2)


async def phase(
    deployment: Deployment,
    http: httpx.AsyncClient,
    tokens: list[str],
    listeners: list[Listener],
    *,
    done_before: int,
    workouts: int,
    rate: float,
) -> Phase:
    api = next(s for s in deployment.services if s.role == "api")
    worker = next(s for s in deployment.services if s.role == "worker")
    at, api_cpu, worker_cpu = time.monotonic(), api.cpu_s(), worker.cpu_s()
    await submit(http, tokens, workouts, rate)
    await wait_processed(http, tokens[0], done_before + workouts)
    await asyncio.sleep(QUIET_S)  # the last events reach the API and its clients
    heard: dict[str, int] = {}
    for listener in listeners:
        for name, n in listener.events.items():
            heard[name] = heard.get(name, 0) + n
        listener.events.clear()
    return Phase(
        len(listeners),
        workouts,
        api.cpu_s() - api_cpu,
        worker.cpu_s() - worker_cpu,
        time.monotonic() - at,
        heard,
    )


async def main(workouts: int, rate: float, athletes: int, clients: int, py_spy: str | None) -> None:
    async with deploy("production", workers=1, api_processes=1) as deployment:
        url = deployment.api_urls[0]
        tokens = await register_athletes([url], athletes)
        # Idle connections are dropped before uvicorn's keep-alive (5 s) closes them, so
        # that no request is sent on a connection the server is closing.
        limits = httpx.Limits(max_connections=64, keepalive_expiry=1.0)
        async with (
            httpx.AsyncClient(base_url=url, timeout=30, trust_env=False, limits=limits) as http,
            aiohttp.ClientSession() as session,
        ):
            # Warm-up: the first workouts load the boards and the caches.
            await submit(http, tokens, athletes, rate)
            await wait_processed(http, tokens[0], athletes)
            await load_boards(http, tokens[0])
            done = athletes
            api = next(s for s in deployment.services if s.role == "api")
            spy = None
            if py_spy is not None:
                argv = ["py-spy", "record", "-p", str(api.process.pid), "-f", "raw", "-o", py_spy]
                spy = await asyncio.create_subprocess_exec(
                    *argv, "-r", "200", stdout=asyncio.subprocess.DEVNULL
                )
            results = [
                await phase(
                    deployment, http, tokens, [], done_before=done, workouts=workouts, rate=rate
                )
            ]
            done += workouts
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                await asyncio.wait_for(spy.wait(), timeout=60)
            listeners = [await listen(session, url, t) for t in tokens[:clients]]
            try:
                results.append(
                    await phase(
                        deployment,
                        http,
                        tokens,
                        listeners,
                        done_before=done,
                        workouts=workouts,
                        rate=rate,
                    )
                )
            finally:
                for listener in listeners:
                    await listener.ws.close()
                    if listener.reader is not None:
                        listener.reader.cancel()
        print(f"live cost: {athletes} athletes, {rate:.0f} workouts/s, 1 API process, 1 worker")
        for result in results:
            print(result.line())


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workouts", type=positive(int), default=1000)
    parser.add_argument("--rate", type=positive(float), default=100.0)
    parser.add_argument("--athletes", type=positive(int), default=50)
    parser.add_argument("--clients", type=positive(int), default=10)
    parser.add_argument("--py-spy", default=None)
    args = parser.parse_args()
    run_main(main(args.workouts, args.rate, args.athletes, args.clients, args.py_spy))


if __name__ == "__main__":
    cli()
