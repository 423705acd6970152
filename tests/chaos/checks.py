"""What the chaos suite checks at the end, once the queues are drained and the consumers
stopped, on the stores themselves (and `fitboard reconcile`), and the figures it reports.

Each check gives a count of what went wrong, which must be 0; `Outcome.failures` lists
the checks that did not hold. The board check here is independent of the product's own
reconcile: it reads every board instance Redis holds loaded and compares each entry with
the total computed from the workouts in PostgreSQL (not from the rollups the product
derives boards from), for the global and per-activity scopes of every period.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from fitboard.adapters.redis_client import redis_client
from fitboard.domain.standings import whole
from tests.integration.processes import period_keys

from .faults import Fault
from .fleet import Fleet
from .load import Request

# Report figures are rounded to 0.1 by the product.
REPORT_TOLERANCE = 0.05 + 1e-6

Key = TypeVar("Key")


@dataclass
class Outcome:
    figures: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def expect_zero(self, name: str, value: int, detail: object = "") -> None:
        self.figures[name] = value
        if value != 0:
            self.failures.append(f"{name}: {value} {detail}".rstrip())


@dataclass(frozen=True)
class StoredWorkout:
    user_id: uuid.UUID
    activity: str
    status: str
    board_day: date
    duration_s: int
    distance_m: float
    calories: float
    points: int


async def stored_workouts(dsn: str) -> tuple[dict[uuid.UUID, StoredWorkout], int]:
    """Every workout in the record, and how many ids appear more than once."""
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT id, user_id, activity, status, board_day, duration_s,"
            " coalesce(distance_m, 0) AS distance_m, calories, points FROM workouts"
        )
        doubled = await connection.fetchval(
            "SELECT count(*) FROM (SELECT id FROM workouts GROUP BY id HAVING count(*) > 1) d"
        )
    finally:
        await connection.close()
    return {
        r["id"]: StoredWorkout(
            r["user_id"],
            r["activity"],
            r["status"],
            r["board_day"],
            r["duration_s"],
            float(r["distance_m"]),
            float(r["calories"]),
            r["points"],
        )
        for r in rows
    }, int(doubled)


def check_ids(
    outcome: Outcome,
    accepted: set[uuid.UUID],
    submitted: set[uuid.UUID],
    record: dict[uuid.UUID, StoredWorkout],
    doubled: int,
) -> None:
    stored = set(record)
    outcome.figures["workouts stored"] = len(stored)
    outcome.expect_zero("lost (202 but not stored)", len(accepted - stored))
    outcome.expect_zero("doubled (stored more than once)", doubled)
    outcome.figures["stored without a 202 (a 503 or timeout that landed)"] = len(stored - accepted)
    outcome.expect_zero("stored but never submitted", len(stored - submitted))
    by_status: dict[str, int] = defaultdict(int)
    for workout in record.values():
        by_status[workout.status] += 1
    outcome.figures["stored by status"] = dict(by_status)
    outcome.expect_zero(
        "stored but not processed (flagged or rejected)",
        sum(n for status, n in by_status.items() if status != "processed"),
    )


def _processed(record: dict[uuid.UUID, StoredWorkout]) -> list[StoredWorkout]:
    return [w for w in record.values() if w.status == "processed"]


def _differing(
    expected: Mapping[Key, Sequence[float]],
    actual: Mapping[Key, Sequence[float]],
    same: Callable[[float, float], bool],
) -> list[Key]:
    """The keys present on one side only, or whose figures are not all the `same`."""
    return [
        key
        for key in expected.keys() | actual.keys()
        if key not in expected
        or key not in actual
        or not all(
            same(float(a), float(b)) for a, b in zip(expected[key], actual[key], strict=True)
        )
    ]


def _close(a: float, b: float, tolerance: float = 1e-6) -> bool:
    return abs(a - b) <= tolerance * max(1.0, abs(a), abs(b))


async def check_rollups(outcome: Outcome, dsn: str, record: dict[uuid.UUID, StoredWorkout]) -> None:
    """Each daily rollup equals the sums over the stored workouts of its athlete, day and
    activity, and there is no rollup without workouts."""
    expected: dict[tuple[uuid.UUID, date, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for w in _processed(record):
        sums = expected[(w.user_id, w.board_day, w.activity)]
        for n, value in enumerate((1, w.duration_s, w.distance_m, w.calories, w.points)):
            sums[n] += value
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT user_id, day, activity, workouts, duration_s, distance_m, calories, points"
            " FROM daily_rollups"
        )
    finally:
        await connection.close()
    actual = {
        (r["user_id"], r["day"], r["activity"]): [
            r["workouts"],
            r["duration_s"],
            r["distance_m"],
            r["calories"],
            r["points"],
        ]
        for r in rows
    }
    differing = _differing(expected, actual, _close)
    outcome.figures["rollups checked"] = len(actual)
    outcome.expect_zero("rollups differing from the workouts", len(differing), differing[:5])


def expected_boards(
    record: dict[uuid.UUID, StoredWorkout],
) -> dict[str, dict[uuid.UUID, int]]:
    """`<metric>:<period>:<scope>:<period key>` -> user -> score, for the global and
    activity scopes, from the workouts themselves (float totals scored by the domain's
    `whole`, whatever order they were summed in)."""
    # board -> user -> [workouts, duration, distance, calories, points, {days}]
    totals: dict[str, dict[uuid.UUID, list[Any]]] = defaultdict(dict)
    for w in _processed(record):
        moment = datetime(w.board_day.year, w.board_day.month, w.board_day.day, tzinfo=UTC)
        for period, key in period_keys(moment).items():
            for scope in ("global", f"activity:{w.activity}"):
                sums = totals[f"{period}:{scope}:{key}"].setdefault(
                    w.user_id, [0, 0, 0.0, 0.0, 0, set()]
                )
                sums[0] += 1
                sums[1] += w.duration_s
                sums[2] += w.distance_m
                sums[3] += w.calories
                sums[4] += w.points
                sums[5].add(w.board_day)
    boards: dict[str, dict[uuid.UUID, int]] = {}
    for board, by_user in totals.items():
        period, rest = board.split(":", 1)
        for metric in ("calories", "distance", "duration", "workouts", "points", "active_days"):
            scores: dict[uuid.UUID, int] = {}
            for user, (n, duration, distance, calories, points, days) in by_user.items():
                score = {
                    "calories": whole(calories),
                    "distance": whole(distance),
                    "duration": duration,
                    "workouts": n,
                    "points": points,
                    "active_days": len(days),
                }[metric]
                if score > 0:
                    scores[user] = score
            boards[f"{metric}:{period}:{rest}"] = scores
    return boards


async def check_boards_independently(
    outcome: Outcome, redis_url: str, namespace: str, record: dict[uuid.UUID, StoredWorkout]
) -> None:
    """Every loaded board instance in Redis against the workouts in PostgreSQL."""
    expected = expected_boards(record)
    # adapters/ranking_redis.py's key layout 2: `:2:<kind>` after the board's hash tag, each
    # member a user id's 16 raw bytes (so the client must not decode responses).
    head, tail = f"{namespace}:{{board:", "}:2:ready"
    # A single Redis or a Redis Cluster (redis+cluster://), whose SCAN walks every primary.
    client = redis_client(redis_url, timeout_s=30.0)
    boards = entries = differing = 0
    examples: list[str] = []
    try:
        async for name in client.scan_iter(match=f"{head}*{tail}", count=1000):
            board = name.decode()[len(head) : -len(tail)]
            scope = ":".join(board.split(":")[2:-1])
            if scope != "global" and not scope.startswith("activity:"):
                continue  # group boards: the run has no groups
            boards += 1
            z = f"{head}{board}}}:2:z"
            actual = {
                uuid.UUID(bytes=member): math.floor(value)
                async for member, value in client.zscan_iter(z, count=1000)
            }
            want = expected.get(board, {})
            for user in actual.keys() | want.keys():
                entries += 1
                score = want.get(user, 0)
                got = actual.get(user, 0)
                if got != score:
                    differing += 1
                    if len(examples) < 5:
                        examples.append(f"{board} {user}: board {got}, record {score}")
    finally:
        await client.aclose()
    implied = sum(1 for scores in expected.values() if scores)
    outcome.figures["boards the record implies (global and activity scopes)"] = implied
    outcome.figures["boards checked independently (loaded in Redis)"] = boards
    outcome.figures["board entries checked independently"] = entries
    outcome.expect_zero(
        "board entries differing from the record (independent)", differing, examples
    )


async def check_reconcile(outcome: Outcome, fleet: Fleet) -> None:
    """`fitboard reconcile` must find no difference."""
    code, output = await fleet.deployment.cli("reconcile", timeout_s=600)
    found = re.search(r"checked (\d+) boards: (\d+) differences", output)
    outcome.figures["fitboard reconcile exit status"] = code
    outcome.figures["fitboard reconcile boards checked"] = int(found.group(1)) if found else None
    if found is None or code not in (0, 1):
        outcome.failures.append(f"fitboard reconcile exited {code}: {output[-2000:]}")
        return
    differences = int(found.group(2))
    outcome.figures["fitboard reconcile differences"] = differences
    outcome.expect_zero(
        "board entries differing from the record (fitboard reconcile)", differences, output[-3000:]
    )


async def check_awards(outcome: Outcome, dsn: str, record: dict[uuid.UUID, StoredWorkout]) -> None:
    connection = await asyncpg.connect(dsn)
    try:
        duplicates = await connection.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM awards GROUP BY user_id, achievement_id,"
            " period_key HAVING count(*) > 1) d"
        )
        awards = await connection.fetchval("SELECT count(*) FROM awards")
        first = await connection.fetchval(
            "SELECT count(*) FROM awards WHERE achievement_id = 'first-workout'"
        )
        orphans = await connection.fetchval(
            "SELECT count(*) FROM awards a WHERE a.workout_id IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM workouts w WHERE w.id = a.workout_id)"
        )
    finally:
        await connection.close()
    athletes = len({w.user_id for w in _processed(record)})
    outcome.figures["awards"] = int(awards)
    outcome.expect_zero("duplicate awards", int(duplicates))
    outcome.expect_zero(
        "athletes with a workout but not exactly one first-workout award",
        abs(athletes - int(first)),
    )
    outcome.expect_zero("awards for a workout not in the record", int(orphans))


async def check_reports(outcome: Outcome, dsn: str, record: dict[uuid.UUID, StoredWorkout]) -> None:
    """Each monthly report's totals equal the stored workouts of its athlete and month."""
    expected: dict[tuple[uuid.UUID, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for w in _processed(record):
        sums = expected[(w.user_id, w.board_day.strftime("%Y-%m"))]
        for n, value in enumerate((1, w.duration_s, w.distance_m, w.calories, w.points)):
            sums[n] += value
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch("SELECT user_id, month, body FROM monthly_reports")
    finally:
        await connection.close()
    actual: dict[tuple[uuid.UUID, str], list[float]] = {}
    for r in rows:
        body = json.loads(r["body"])
        actual[(r["user_id"], r["month"])] = [
            body["workouts"],
            body["duration_s"],
            body["distance_m"],
            body["calories"],
            body["points"],
        ]
    differing = _differing(expected, actual, lambda a, b: abs(a - b) <= REPORT_TOLERANCE)
    outcome.figures["monthly reports checked"] = len(actual)
    outcome.expect_zero(
        "monthly reports differing from the record",
        len(differing),
        [(str(k), expected.get(k), actual.get(k)) for k in differing[:3]],
    )


def check_answers(outcome: Outcome, requests: list[Request], faults: list[Fault]) -> None:
    submits = [r for r in requests if r.kind != "read"]
    reads = [r for r in requests if r.kind == "read"]
    outcome.figures["requests: submissions (with retries and resubmissions)"] = len(submits)
    outcome.figures["requests: board reads"] = len(reads)
    outcome.figures["answers 503 with Retry-After"] = sum(
        1 for r in requests if r.status == 503 and r.retry_after
    )
    outcome.figures["no answer (connection refused or reset, timeout)"] = sum(
        1 for r in requests if r.status is None
    )
    bad = [
        r
        for r in requests
        if r.status is not None and r.status >= 500 and not (r.status == 503 and r.retry_after)
    ]
    outcome.expect_zero(
        "5xx other than 503 with Retry-After",
        len(bad),
        [(r.kind, r.status, r.error) for r in bad[:5]],
    )
    unexpected = [r for r in submits if r.status is not None and 400 <= r.status < 500]
    outcome.expect_zero(
        "4xx answers to submissions",
        len(unexpected),
        [(r.status, r.error) for r in unexpected[:5]],
    )
    windows = [f.broker_down for f in faults if f.broker_down is not None]
    during = [
        r
        for r in submits
        if r.status == 202 and any(begin < r.sent and r.answered < end for begin, end in windows)
    ]
    outcome.figures["broker down windows"] = len(windows)
    outcome.expect_zero("202 while the broker was unreachable", len(during))
