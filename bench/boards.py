"""Boards at N athletes: reads, rebuilds and Redis memory, production mode.

1. A fresh deployment (one API process, no worker); N athletes written straight into the
   record with COPY (users, and one daily rollup each for a run on a day two years ago, so
   each athlete is on the 12 all-time boards: 6 metrics x global and activity scope);
   scores are random.
2. `fitboard rebuild` (every board), timed; then one board (calories/all/global) rebuilt
   alone (bench/rebuild_one.py). Baseline: pipelined ZADD (1,000 members a command) of the
   same N members and scores into a scratch key of the namespace, timed (for all boards:
   that rate times the entries).
   The members are copied from the board's sorted set, so they are what the index writes
   (user ids' 16 raw bytes, adapters/ranking_redis.py).
3. Redis memory per board entry: MEMORY USAGE of every key of the namespace (board sorted
   sets and every helper structure) over the entries of the sorted sets. Baseline: the
   scratch sorted set's MEMORY USAGE over its N members.
4. Reads, closed loop at 32 connections: `GET /v1/leaderboards/calories/all?limit=10` and
   `GET .../calories/all/me?around=5` (athletes in turn, tokens minted with the
   deployment's secret), against a bare FastAPI endpoint reading a copy of that sorted set
   with the user ids as text, as bench/bare.py reads and answers them (the same scores and
   order; members of 36 characters instead of 16 bytes), and against PostgreSQL's own rank
   query on the same rows (a window function over the athletes' summed rollups, run one
   after the other on one connection: its rate is 1 / its latency).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

import asyncpg  # type: ignore[import-untyped]
import redis.asyncio as redis

from bench.bare import bare_server
from bench.common import FITBOARD, SECRET
from bench.deployment import REDIS_URL, Deployment, _run, deploy
from bench.load import Hammer, HammerReport, hammer

BOARD_PATH = "/v1/leaderboards/calories/all"
SEED_CHUNK = 50_000
PG_RUNS = 5
ZADD_CHUNK = 10_000
# Members of one ZADD command of the baseline (the rebuild's own script calls write 1,000).
ZADD_MEMBERS = 1_000
TOKENS = 1000
# The columns seeded with COPY, in the order of each record.
USER_COLUMNS = [
    "id",
    "username",
    "username_key",
    "display_name",
    "password_hash",
    "timezone",
    "weight_kg",
    "birth_year",
    "sex",
    "show_on_leaderboards",
    "is_admin",
    "projection_version",
    "created_at",
]
ROLLUP_COLUMNS = [
    "user_id",
    "day",
    "activity",
    "calories",
    "distance_m",
    "duration_s",
    "workouts",
    "points",
    "first_ended_at",
    "last_ended_at",
    "distance_last_ended_at",
    "calories_reached_at",
    "points_reached_at",
]

TOP_SQL = """
WITH totals AS (SELECT user_id, sum(calories) AS score FROM daily_rollups GROUP BY user_id)
SELECT user_id, score, rank() OVER (ORDER BY score DESC) AS rank
FROM totals ORDER BY score DESC LIMIT 10
"""
AROUND_SQL = """
WITH totals AS (SELECT user_id, sum(calories) AS score FROM daily_rollups GROUP BY user_id),
ranked AS (SELECT user_id, score, rank() OVER (ORDER BY score DESC) AS rank FROM totals)
SELECT user_id, score, rank FROM ranked
WHERE rank BETWEEN (SELECT rank FROM ranked WHERE user_id = $1) - 5
              AND (SELECT rank FROM ranked WHERE user_id = $1) + 5
ORDER BY rank
"""


@dataclass
class BoardsResult:
    athletes: int
    seed_s: float
    rebuild_all_s: float
    rebuild_all_boards: int
    rebuild_all_entries: int
    rebuild_one_s: float
    rebuild_one_entries: int
    zadd_s: float  # pipelined ZADD of `athletes` members into one key
    bytes_per_entry: float
    bare_bytes_per_member: float
    memory_by_kind: dict[str, int]
    top: HammerReport
    around: HammerReport
    bare_top: HammerReport
    bare_around: HammerReport
    pg_top_ms: float
    pg_around_ms: float


def _database_url(deployment: Deployment) -> str:
    assert deployment.worker_setup is not None
    url = deployment.worker_setup[0]["FITBOARD_DATABASE_URL"]
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _names(athlete: uuid.UUID) -> tuple[str, str, str]:
    """username, username_key, display_name."""
    username = f"b{athlete.hex[:16]}"
    return username, username, f"Athlete {athlete.hex[:8]}"


async def seed(deployment: Deployment, athletes: int) -> list[uuid.UUID]:
    """N athletes and one rollup each, with COPY; returns their ids."""
    ids = [uuid.uuid4() for _ in range(athletes)]
    rng = random.Random(12)
    now = datetime.now(UTC)
    day = date(now.year - 2, 1, 15)
    ended = datetime(day.year, day.month, day.day, 8, tzinfo=UTC)
    password = "$argon2id$v=19$m=65536,t=3,p=4$bench$bench"  # nobody signs in with it
    connection = await asyncpg.connect(_database_url(deployment), timeout=10)
    try:
        for start in range(0, athletes, SEED_CHUNK):
            chunk = ids[start : start + SEED_CHUNK]
            users = [
                (i, *_names(i), password, "UTC", None, None, None, True, False, 0, now)
                for i in chunk
            ]
            await connection.copy_records_to_table(
                "users",
                records=users,
                columns=USER_COLUMNS,
            )
            rollups = []
            for i in chunk:
                minutes = rng.randint(10, 300)
                at = ended + timedelta(seconds=rng.randint(0, 36_000))
                rollups.append(
                    (
                        i,
                        day,
                        "run",
                        round(minutes * rng.uniform(8, 14), 3),
                        float(minutes * rng.randint(120, 250)),
                        minutes * 60,
                        rng.randint(1, 3),
                        minutes * rng.randint(1, 3),
                        at,
                        at,
                        at,
                        at,
                        at,
                    )
                )
            await connection.copy_records_to_table(
                "daily_rollups",
                records=rollups,
                columns=ROLLUP_COLUMNS,
            )
        await connection.execute("ANALYZE users; ANALYZE daily_rollups")
    finally:
        await connection.close()
    return ids


async def rebuild_all(deployment: Deployment) -> tuple[float, int, int]:
    """`fitboard rebuild`, timed: (seconds, boards, entries)."""
    assert deployment.worker_setup is not None
    env = deployment.worker_setup[0]
    started = time.perf_counter()
    code, output = await _run([FITBOARD, "rebuild"], env, 3600)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"fitboard rebuild exited {code}:\n{output[-2000:]}")
    # Its last line; an earlier one may tell of keys of an old layout it removed first.
    found = re.search(r"rebuilt (\d+) boards, (\d+) entries", output)
    if found is None:
        raise RuntimeError(f"fitboard rebuild did not say what it rebuilt:\n{output[-2000:]}")
    return seconds, int(found[1]), int(found[2])


async def rebuild_one(deployment: Deployment) -> tuple[float, int]:
    assert deployment.worker_setup is not None
    import sys

    argv = [sys.executable, "-m", "bench.rebuild_one", "calories", "all", "global", "all"]
    code, output = await _run(argv, deployment.worker_setup[0], 3600)
    if code != 0:
        raise RuntimeError(f"rebuild of one board exited {code}:\n{output[-2000:]}")
    result = json.loads(output.strip().splitlines()[-1])
    return float(result["seconds"]), int(result["entries"])


async def board_key(client: redis.Redis, namespace: str) -> str:
    """The sorted set of the calories/all/global board (adapters/ranking_redis.py's key
    layout 2: `:2:z` after the hash tag)."""
    async for key in client.scan_iter(match=f"{namespace}:{{board:calories:all:global:*}}:2:z"):
        return str(key.decode())
    raise RuntimeError("no calories/all/global board in Redis after the rebuild")


async def _zadd_all(client: redis.Redis, key: str, rows: list[tuple[bytes, float]]) -> None:
    """`rows` written into `key` with pipelined ZADD, ZADD_MEMBERS members a command: the
    fastest plain way to fill a sorted set from a client (one member a command spends
    most of its time in the client encoding commands, so it would flatter the rebuild)."""
    for start in range(0, len(rows), ZADD_CHUNK):
        async with client.pipeline(transaction=False) as pipe:
            chunk = rows[start : start + ZADD_CHUNK]
            for first in range(0, len(chunk), ZADD_MEMBERS):
                pipe.zadd(key, dict(chunk[first : first + ZADD_MEMBERS]))
            await pipe.execute()


async def scratch_zadd(
    client: redis.Redis, source: str, scratch: str
) -> tuple[float, float, list[str]]:
    """The board's members (as the index writes them) and scores written again into
    `scratch` with pipelined ZADD: (seconds, MEMORY USAGE per member, a sample of the user
    ids, as text)."""
    rows = cast(list[tuple[bytes, float]], await client.zrange(source, 0, -1, withscores=True))
    started = time.perf_counter()
    await _zadd_all(client, scratch, rows)
    seconds = time.perf_counter() - started
    used = await client.memory_usage(scratch, samples=0) or 0
    sample = [
        str(uuid.UUID(bytes=m)) for m, _ in random.Random(5).sample(rows, min(TOKENS, len(rows)))
    ]
    return seconds, used / max(1, len(rows)), sample


async def text_copy(client: redis.Redis, source: str, target: str) -> None:
    """The board's sorted set copied into `target` with each user id as text, what the
    bare endpoint reads and answers (bench/bare.py)."""
    rows = cast(list[tuple[bytes, float]], await client.zrange(source, 0, -1, withscores=True))
    await _zadd_all(client, target, [(str(uuid.UUID(bytes=m)).encode(), s) for m, s in rows])


async def memory(client: redis.Redis, namespace: str, scratch: str) -> tuple[float, dict[str, int]]:
    """Bytes per board entry over every key of the namespace (the scratch key excepted),
    and the bytes by kind of key (the suffix after the board's hash tag)."""
    by_kind: dict[str, int] = {}
    entries = 0
    async for raw in client.scan_iter(match=f"{namespace}:*", count=1000):
        key = raw.decode()
        if key == scratch:
            continue
        used = await client.memory_usage(key, samples=0) or 0
        kind = key.rsplit("}", 1)[-1] if "}" in key else key.split(":", 1)[-1]
        by_kind[kind] = by_kind.get(kind, 0) + used
        if key.endswith(":z"):
            entries += await client.zcard(key)
    return sum(by_kind.values()) / max(1, entries), by_kind


async def pg_rank_ms(deployment: Deployment, ids: list[uuid.UUID]) -> tuple[float, float]:
    """Median milliseconds of PostgreSQL's rank query, top 10 and around an athlete."""
    connection = await asyncpg.connect(_database_url(deployment), timeout=10)
    try:
        top: list[float] = []
        around: list[float] = []
        for n in range(PG_RUNS):
            started = time.perf_counter()
            await connection.fetch(TOP_SQL)
            top.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            rows = await connection.fetch(AROUND_SQL, ids[n * 7919 % len(ids)])
            around.append((time.perf_counter() - started) * 1000)
            assert rows, "the around query found nobody"
    finally:
        await connection.close()
    return statistics.median(top), statistics.median(around)


def _tokens(ids: list[uuid.UUID]) -> list[str]:
    from fitboard.adapters.tokens_jwt import JwtTokens

    tokens = JwtTokens(SECRET, 3600)
    sample = random.Random(7).sample(ids, min(TOKENS, len(ids)))
    # Seeded athletes have never signed out: token generation 0.
    return [tokens.issue(i, 0)[0] for i in sample]


async def _hammer(config: Hammer) -> HammerReport:
    return await asyncio.to_thread(hammer, config)


async def measure(athletes: int, seconds: float, connections: int) -> BoardsResult:
    async with deploy("production", workers=0) as deployment:
        assert deployment.namespace is not None
        started = time.perf_counter()
        ids = await seed(deployment, athletes)
        seed_s = time.perf_counter() - started
        print(f"  seeded {athletes:,} athletes in {seed_s:.1f} s; rebuilding every board")
        all_s, boards, entries = await rebuild_all(deployment)
        print(f"  fitboard rebuild: {boards} boards, {entries:,} entries in {all_s:.1f} s")
        one_s, one_entries = await rebuild_one(deployment)
        client = redis.Redis.from_url(REDIS_URL)
        scratch = f"{deployment.namespace}:bench-scratch"
        # Left for the bare reads below; the namespace's keys go with the deployment.
        bare_key = f"{deployment.namespace}:bench-bare"
        try:
            key = await board_key(client, deployment.namespace)
            zadd_s, bare_bytes, members = await scratch_zadd(client, key, scratch)
            per_entry, by_kind = await memory(client, deployment.namespace, scratch)
            await text_copy(client, key, bare_key)
        finally:
            await client.unlink(scratch)
            await client.aclose()
        pg_top, pg_around = await pg_rank_ms(deployment, ids)
        api = deployment.api_urls[0]
        tokens = _tokens(ids)
        top = await _hammer(
            Hammer(
                "GET", [(f"{api}{BOARD_PATH}?limit=10", tokens[0])], "none", connections, seconds
            )
        )
        around = await _hammer(
            Hammer(
                "GET",
                [(f"{api}{BOARD_PATH}/me?around=5", t) for t in tokens],
                "none",
                connections,
                seconds,
            )
        )
        async with bare_server(REDIS_URL) as bare:
            quoted = quote(bare_key, safe="")
            bare_top = await _hammer(
                Hammer("GET", [(f"{bare}/top?key={quoted}", "")], "none", connections, seconds)
            )
            bare_around = await _hammer(
                Hammer(
                    "GET",
                    [(f"{bare}/around?key={quoted}&member={quote(m)}", "") for m in members],
                    "none",
                    connections,
                    seconds,
                )
            )
    return BoardsResult(
        athletes,
        seed_s,
        all_s,
        boards,
        entries,
        one_s,
        one_entries,
        zadd_s,
        per_entry,
        bare_bytes,
        by_kind,
        top,
        around,
        bare_top,
        bare_around,
        pg_top,
        pg_around,
    )


def summary(result: BoardsResult) -> dict[str, Any]:
    """The figures as plain numbers, for the JSON's details."""
    return {
        "athletes": result.athletes,
        "seed_s": round(result.seed_s, 2),
        "rebuild_all": {
            "seconds": round(result.rebuild_all_s, 2),
            "boards": result.rebuild_all_boards,
            "entries": result.rebuild_all_entries,
        },
        "rebuild_one": {
            "seconds": round(result.rebuild_one_s, 2),
            "entries": result.rebuild_one_entries,
        },
        "zadd_s": round(result.zadd_s, 3),
        "memory_by_kind": result.memory_by_kind,
        "pg_top_ms": round(result.pg_top_ms, 2),
        "pg_around_ms": round(result.pg_around_ms, 2),
    }
