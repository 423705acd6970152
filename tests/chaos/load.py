"""The chaos suite's clients: many athletes submitting workouts through the HTTP API, as a
real app would, while others read the boards.

Every workout has an id the client chose, so a retry is a resubmission of the same
workout: a client retries on 503 (after its Retry-After, capped), and on a connection
error, a timeout or any other 5xx (on the other API process), always with the same id, until
it gets a 202 or its GIVE_UP_S run out. Some workouts are deliberately sent again after
their 202 (later, or at once on both API processes), which must change nothing. Every
request is recorded with when it was sent and answered, so the checks can tell which
answers came while a server was down.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx

from tests.integration.processes import METRICS, Athlete, Deployment, period_keys

# A client's patience for one workout, across all its retries.
GIVE_UP_S = 300.0
# The longest a client waits before a retry, whatever Retry-After says.
RETRY_CAP_S = 2.0
REQUEST_TIMEOUT_S = 20.0
# Share of accepted workouts sent again later with the same id and body.
RESUBMIT_LATER = 0.05
# Share sent twice at once, one copy to each API process.
RESUBMIT_TWIN = 0.01
# Workouts start up to this many days back, so they land on several day boards.
DAYS_BACK = 3
SCOPES = ("global", "activity:run", "activity:cycle", "activity:walk")

# activity -> (shortest, longest duration s), (slowest, fastest speed m/s): plausible for
# anyone, so no workout is flagged and every one counts on the boards.
ACTIVITIES: dict[str, tuple[tuple[int, int], tuple[float, float]]] = {
    "run": ((1200, 3600), (2.4, 3.6)),
    "cycle": ((1800, 5400), (5.0, 8.0)),
    "walk": ((900, 3600), (1.1, 1.6)),
}


@dataclass(frozen=True)
class Request:
    """One HTTP request as a client saw it. `status` is None when no answer came
    (connection refused or reset, timeout)."""

    kind: str  # "submit", "resubmit" or "read"
    api: int
    sent: float  # time.monotonic()
    answered: float
    status: int | None
    retry_after: str | None
    workout_id: uuid.UUID | None = None
    error: str | None = None


@dataclass
class Load:
    """`total` workouts from `athletes`, `concurrency` requests at once, no faster than
    `max_rate` per second, spread over the API processes at `api_urls`; never more than
    `allowed` started (whoever runs the load raises it; `total` lets it all through)."""

    api_urls: Sequence[str]
    athletes: Sequence[Athlete]
    total: int
    concurrency: int
    max_rate: float
    seed: int
    # Shares of accepted workouts sent again later, and sent twice at once.
    resubmit_later: float = RESUBMIT_LATER
    resubmit_twin: float = RESUBMIT_TWIN
    requests: list[Request] = field(default_factory=list)
    accepted: dict[uuid.UUID, float] = field(default_factory=dict)  # id -> first 202 answered
    gave_up: set[uuid.UUID] = field(default_factory=set)
    resubmitted: set[uuid.UUID] = field(default_factory=set)
    submitted: set[uuid.UUID] = field(default_factory=set)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    # How many workouts have been started, and how many may be (the fault schedule holds
    # the load back so that it never runs ahead of the faults).
    started: int = 0
    allowed: int = 0
    _clients: list[httpx.AsyncClient] = field(default_factory=list)
    _round_robin: itertools.count[int] = field(default_factory=itertools.count)
    _later: list[tuple[Athlete, dict[str, Any]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    @property
    def progress(self) -> int:
        return len(self.accepted) + len(self.gave_up)

    def days(self) -> list[date]:
        today = datetime.now(UTC).date()
        return [today - timedelta(days=n) for n in range(DAYS_BACK + 1)]

    def body(self) -> dict[str, Any]:
        activity = self._rng.choice(list(ACTIVITIES))
        (shortest, longest), (slowest, fastest) = ACTIVITIES[activity]
        duration_s = self._rng.randint(shortest, longest)
        distance_m = round(duration_s * self._rng.uniform(slowest, fastest))
        ended = datetime.now(UTC) - timedelta(seconds=self._rng.randint(60, DAYS_BACK * 86400))
        started_at = (ended - timedelta(seconds=duration_s)).replace(microsecond=0)
        return {
            "id": str(uuid.uuid4()),
            "activity": activity,
            "started_at": started_at.isoformat(),
            "duration_s": duration_s,
            "distance_m": distance_m,
        }

    async def _post(self, api: int, athlete: Athlete, body: dict[str, Any], kind: str) -> Request:
        workout_id = uuid.UUID(body["id"])
        sent = time.monotonic()
        try:
            response = await self._clients[api].post(
                "/v1/workouts", json=body, headers=athlete.headers
            )
        except httpx.TransportError as exc:
            request = Request(
                kind, api, sent, time.monotonic(), None, None, workout_id, type(exc).__name__
            )
        else:
            request = Request(
                kind,
                api,
                sent,
                time.monotonic(),
                response.status_code,
                response.headers.get("retry-after"),
                workout_id,
                None if response.status_code == 202 else response.text[:200],
            )
        self.requests.append(request)
        return request

    async def submit_until_accepted(
        self, athlete: Athlete, body: dict[str, Any], kind: str, api: int | None = None
    ) -> bool:
        """Send until a 202, as a client would: the same id every time."""
        workout_id = uuid.UUID(body["id"])
        self.submitted.add(workout_id)
        deadline = time.monotonic() + GIVE_UP_S
        target = next(self._round_robin) % len(self._clients) if api is None else api
        while time.monotonic() < deadline:
            request = await self._post(target, athlete, body, kind)
            if request.status == 202:
                self.accepted.setdefault(workout_id, request.answered)
                return True
            if request.status is not None and request.status < 500 and request.status != 429:
                # Nothing a retry could change (and nothing this run should ever see).
                break
            if request.status is None or request.status != 503:
                # This API process is gone, stuck or broken: try the other one, as a load
                # balancer would (a 503 is about the queue, which both share).
                target = (target + 1) % len(self._clients)
            wait = 0.2 if request.status is None else _retry_wait(request.retry_after)
            await asyncio.sleep(wait * self._rng.uniform(0.5, 1.0))
        self.gave_up.add(workout_id)
        return False

    async def _one(self, slots: asyncio.Semaphore) -> None:
        async with slots:
            athlete = self._rng.choice(self.athletes)
            body = self.body()
            if await self.submit_until_accepted(athlete, body, "submit"):
                roll = self._rng.random()
                if roll < self.resubmit_twin:
                    self.resubmitted.add(uuid.UUID(body["id"]))
                    await asyncio.gather(
                        *(
                            self.submit_until_accepted(athlete, body, "resubmit", api)
                            for api in range(len(self._clients))
                        )
                    )
                elif roll < self.resubmit_twin + self.resubmit_later:
                    self._later.append((athlete, body))

    async def _resubmit_later(
        self, slots: asyncio.Semaphore, athlete: Athlete, body: dict[str, Any]
    ) -> None:
        async with slots:
            self.resubmitted.add(uuid.UUID(body["id"]))
            await self.submit_until_accepted(athlete, body, "resubmit")

    def _take_later(self) -> tuple[Athlete, dict[str, Any]]:
        return self._later.pop(self._rng.randrange(len(self._later)))

    async def run(self) -> None:
        """Submit every workout (and the resubmissions), paced; sets `done` at the end."""
        self._clients = [
            httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, trust_env=False)
            for url in self.api_urls
        ]
        slots = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task[None]] = set()
        began = time.monotonic()
        try:
            for n in range(self.total):
                while n >= self.allowed:
                    await asyncio.sleep(0.05)
                    began = time.monotonic() - n / self.max_rate
                # Paced: at most max_rate workouts started per second.
                await asyncio.sleep(max(0.0, began + n / self.max_rate - time.monotonic()))
                self.started = n + 1
                await slots.acquire()
                slots.release()
                tasks.add(asyncio.create_task(self._one(slots)))
                tasks = {t for t in tasks if not t.done()}
                if self._later and self._rng.random() < self.resubmit_later * 2:
                    tasks.add(asyncio.create_task(self._resubmit_later(slots, *self._take_later())))
            await asyncio.gather(*tasks)
            while self._later:
                await self._resubmit_later(slots, *self._take_later())
        finally:
            # Cut short (a failure elsewhere): no request may outlive the clients.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for client in self._clients:
                await client.aclose()
            self.done.set()


def _retry_wait(retry_after: str | None) -> float:
    try:
        return min(RETRY_CAP_S, max(0.1, float(retry_after))) if retry_after else 0.5
    except ValueError:
        return 0.5


@dataclass
class BoardReader:
    """Reads boards through the API, round and round, so Redis holds them loaded (from
    the record) and the workers project into loaded boards, which is what the final checks
    compare; after Redis comes back empty, the next round loads them again."""

    api_urls: Sequence[str]
    viewer: Athlete
    days: Sequence[date]
    concurrency: int = 4
    requests: list[Request] = field(default_factory=list)

    def boards(self) -> list[tuple[str, str, str, str]]:
        """(metric, period, period key, scope) of every board the load moves."""
        keys: set[tuple[str, str]] = set()
        for day in self.days:
            moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            keys.update(period_keys(moment).items())
        return [
            (metric, period, key, scope)
            for metric in METRICS
            for period, key in sorted(keys)
            for scope in SCOPES
        ]

    async def run(self, stop: asyncio.Event) -> None:
        boards = self.boards()
        clients = [
            httpx.AsyncClient(base_url=url, timeout=REQUEST_TIMEOUT_S, trust_env=False)
            for url in self.api_urls
        ]
        turn = itertools.count()

        async def read(board: tuple[str, str, str, str]) -> None:
            metric, period, key, scope = board
            api = next(turn) % len(clients)
            sent = time.monotonic()
            try:
                response = await clients[api].get(
                    f"/v1/leaderboards/{metric}/{period}",
                    params={"scope": scope, "period_key": key, "limit": 10},
                    headers=self.viewer.headers,
                )
            except httpx.TransportError as exc:
                self.requests.append(
                    Request("read", api, sent, time.monotonic(), None, None, None, repr(exc))
                )
            else:
                self.requests.append(
                    Request(
                        "read",
                        api,
                        sent,
                        time.monotonic(),
                        response.status_code,
                        response.headers.get("retry-after"),
                        None,
                        None if response.status_code == 200 else response.text[:200],
                    )
                )

        try:
            while not stop.is_set():
                for start in range(0, len(boards), self.concurrency):
                    if stop.is_set():
                        break
                    await asyncio.gather(*map(read, boards[start : start + self.concurrency]))
                    # Paced: reading is not the load under test.
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), 0.05)
        finally:
            for client in clients:
                await client.aclose()


async def register_athletes(d: Deployment, count: int, concurrency: int = 8) -> list[Athlete]:
    """`count` athletes, signed up through the API, each with a body mass of their own."""
    slots = asyncio.Semaphore(concurrency)

    async def one(n: int) -> Athlete:
        async with slots:
            return await d.register(f"chaos{n}", weight_kg=50 + n % 50)

    return list(await asyncio.gather(*(one(n) for n in range(count))))
