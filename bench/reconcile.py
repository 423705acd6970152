"""`fitboard reconcile` at N athletes, production mode: how many board entries it reads and
compares per second, beside what PostgreSQL and Redis do with the same data on their own.

1. A fresh database and Redis namespace on the machine's services (`make services`), as
   bench/deployment.py makes them, with no process running; `fitboard reconcile` on the
   empty record, timed: the command's fixed cost (start-up, connections, the index's
   scans), taken off the times below; then N athletes written straight into the record
   with COPY: each one daily rollup (a random activity, on a random day of the last four
   weeks, random totals), and one athlete in three in one of N/50 groups.
2. `fitboard reconcile`, timed, with no board loaded: every instance the record implies
   is read from it (all cold, nothing to compare): the record's entries read per second.
   Baseline: PostgreSQL's own grouped sums over the same rollups, one statement computing
   every instance's per-athlete totals (each period's instances, in the global, activity
   and group scopes), streamed to the client by asyncpg: its rows times the six metrics
   per second.
3. `fitboard reconcile --warm`, timed: the same, then every instance loaded.
4. `fitboard reconcile`, timed: every instance loaded, every entry compared: entries
   compared per second. Baseline: step 2's statement and then pipelined `ZRANGE key 0 -1
   WITHSCORES` of every board the index holds (1,000 keys a pipeline), one after the
   other: the entries read from both sides per second of the two.

Each figure is the command's time less its fixed cost (step 1; the whole command's time
is in the figure's name) and is printed beside its baseline, measured in the same run,
with the ratio. Afterwards the database is dropped,
the namespace's Redis keys removed (never FLUSHDB) and the queues the commands declared
deleted.

    python -m bench.reconcile [--athletes 100000] [--cold-only]
"""

from __future__ import annotations

import argparse
import random
import re
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import redis.asyncio as redis

from bench.boards import ROLLUP_COLUMNS, USER_COLUMNS, _names
from bench.common import FITBOARD, run_main
from bench.deployment import REDIS_URL, _run, clean_up, create_database, production_env
from bench.results import Figure, text_table

ACTIVITIES = ("run", "walk", "hike", "cycle", "swim", "row", "strength", "yoga", "hiit", "other")
CHUNK = 50_000
# Board keys read per pipeline by the index baseline.
ZRANGE_KEYS = 1000
# Rows the record baseline's cursor fetches at a time.
PREFETCH = 10_000
# Each row of the record baseline is one athlete on one instance of every metric's board.
METRICS = 6

# The record baseline: every instance's per-athlete totals of the six metrics, grouped by
# PostgreSQL (each period's instances; global and activity scopes as grouping sets, group
# scopes joined through the memberships), for visible athletes as reconcile reads them.
_PERIOD_STARTS = {
    "day": "r.day",
    "week": "date_trunc('week', r.day)::date",
    "month": "date_trunc('month', r.day)::date",
    "year": "date_trunc('year', r.day)::date",
    "all": "NULL::date",
}
_TOTALS = """sum(r.calories), sum(r.distance_m), sum(r.duration_s), sum(r.workouts),
    sum(r.points), count(DISTINCT r.day), max(r.calories_reached_at),
    max(r.distance_last_ended_at), max(r.last_ended_at), max(r.points_reached_at)"""
RECORD_BASELINE_SQL = "\nUNION ALL\n".join(
    f"""SELECT {start} AS start, r.activity, NULL::uuid AS group_id, r.user_id, {_TOTALS}
FROM daily_rollups r JOIN users u ON u.id = r.user_id AND u.show_on_leaderboards
GROUP BY GROUPING SETS ((1, r.user_id), (1, r.activity, r.user_id))
UNION ALL
SELECT {start}, NULL, g.group_id, r.user_id, {_TOTALS}
FROM daily_rollups r JOIN users u ON u.id = r.user_id AND u.show_on_leaderboards
JOIN group_members g ON g.user_id = r.user_id
GROUP BY 1, g.group_id, r.user_id"""
    for start in _PERIOD_STARTS.values()
)


async def seed(database_url: str, athletes: int) -> None:
    """N athletes, one rollup each, and groups, with COPY."""
    rng = random.Random(17)
    now = datetime.now(UTC)
    owner = uuid.uuid4()
    groups = [uuid.uuid4() for _ in range(max(1, athletes // 50))]
    password = "$argon2id$v=19$m=65536,t=3,p=4$bench$bench"  # nobody signs in with it
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        ids = [owner] + [uuid.uuid4() for _ in range(athletes - 1)]
        for start in range(0, athletes, CHUNK):
            chunk = ids[start : start + CHUNK]
            users = [
                (i, *_names(i), password, "UTC", None, None, None, True, False, 0, now)
                for i in chunk
            ]
            await connection.copy_records_to_table("users", records=users, columns=USER_COLUMNS)
            await connection.copy_records_to_table(
                "daily_rollups",
                records=[_rollup(rng, i, now) for i in chunk],
                columns=ROLLUP_COLUMNS,
            )
        await connection.copy_records_to_table(
            "groups",
            records=[(g, f"club {n}", owner, f"invite{n}", now) for n, g in enumerate(groups)],
            columns=["id", "name", "owner_id", "invite_code", "created_at"],
        )
        members = [(rng.choice(groups), i, now) for i in ids if rng.random() < 1 / 3]
        await connection.copy_records_to_table(
            "group_members", records=members, columns=["group_id", "user_id", "joined_at"]
        )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


def _rollup(rng: random.Random, athlete: uuid.UUID, now: datetime) -> tuple[Any, ...]:
    minutes = rng.randint(10, 300)
    at = now - timedelta(days=rng.randint(1, 27), seconds=rng.randint(0, 36_000))
    return (
        athlete,
        at.date(),
        rng.choice(ACTIVITIES),
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


@dataclass(frozen=True)
class Baseline:
    seconds: float
    entries: int

    @property
    def per_s(self) -> float:
        return self.entries / self.seconds


async def record_baseline(database_url: str) -> Baseline:
    """RECORD_BASELINE_SQL streamed through an asyncpg cursor, timed: its rows times the
    six metrics."""
    connection = await asyncpg.connect(database_url, timeout=10)
    try:
        started = time.perf_counter()
        rows = 0
        async with connection.transaction(readonly=True, isolation="repeatable_read"):
            async for _ in connection.cursor(RECORD_BASELINE_SQL, prefetch=PREFETCH):
                rows += 1
        return Baseline(time.perf_counter() - started, rows * METRICS)
    finally:
        await connection.close()


async def index_baseline(namespace: str) -> Baseline:
    """Pipelined `ZRANGE key 0 -1 WITHSCORES` of every board sorted set of the namespace,
    timed (finding the keys with SCAN is not): the members read."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        # Key layout 2 of adapters/ranking_redis.py: `:2:z` after the board's hash tag.
        match = f"{namespace}:{{board:*}}:2:z"
        keys = [k async for k in client.scan_iter(match=match, count=1000)]
        started = time.perf_counter()
        entries = 0
        for start in range(0, len(keys), ZRANGE_KEYS):
            async with client.pipeline(transaction=False) as pipe:
                for key in keys[start : start + ZRANGE_KEYS]:
                    pipe.zrange(key, 0, -1, withscores=True)
                entries += sum(len(members) for members in await pipe.execute())
        return Baseline(time.perf_counter() - started, entries)
    finally:
        await client.aclose()


async def reconcile(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    code, output = await _run([FITBOARD, "reconcile", *args], env, 3600)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"fitboard reconcile {' '.join(args)} exited {code}:\n{output[-2000:]}")
    return seconds, output


async def main(athletes: int, *, cold_only: bool) -> list[Figure]:
    from fitboard.application.workouts.messages import workouts_queue

    tag = uuid.uuid4().hex[:12]
    database, namespace = f"fitboard_bench_{tag}", f"bench-{tag}"
    env = production_env(database, namespace)
    database_url = env["FITBOARD_DATABASE_URL"].replace("+asyncpg", "")
    group = f"reconcile, {athletes:,} athletes"
    figures: list[Figure] = []
    await create_database(database, env)
    try:
        fixed_s, _ = await reconcile(env)
        print(f"reconcile, empty record (the fixed cost): {fixed_s:.1f} s")
        started = time.perf_counter()
        await seed(database_url, athletes)
        print(f"seeded {athletes} athletes in {time.perf_counter() - started:.1f} s")
        cold_s, cold = await reconcile(env)
        entries = int(_figure(r"(\d+) entries in the record", cold))
        print(f"reconcile, every board cold: {cold_s:.1f} s\n{_summary(cold)}")
        record = await record_baseline(database_url)
        print(
            f"baseline: PostgreSQL's grouped sums, {record.entries:,} entries"
            f" ({record.entries // METRICS:,} rows) in {record.seconds:.2f} s"
        )
        figures.append(
            Figure(
                group,
                f"reconcile, all cold: record entries read ({cold_s:.1f} s)",
                _rate(entries, cold_s, fixed_s),
                "/s",
                "-",
                baseline=record.per_s,
                baseline_text="PostgreSQL grouped sums, streamed",
                details={
                    "seconds": cold_s,
                    "fixed_s": fixed_s,
                    "entries": entries,
                    "baseline_s": record.seconds,
                },
            )
        )
        if not cold_only:
            warm_s, warm = await reconcile(env, "--warm")
            print(f"reconcile --warm: {warm_s:.1f} s\n{_summary(warm)}")
            figures.append(
                Figure(
                    group,
                    f"reconcile --warm: record entries read and loaded ({warm_s:.1f} s)",
                    _rate(entries, warm_s, fixed_s),
                    "/s",
                    "-",
                    baseline_text="none",
                    details={"seconds": warm_s, "entries": entries},
                )
            )
            check_s, checked = await reconcile(env)
            compared = int(_figure(r"(\d+) compared", checked))
            print(f"reconcile, every board loaded: {check_s:.1f} s\n{_summary(checked)}")
            index = await index_baseline(namespace)
            print(f"baseline: pipelined ZRANGE, {index.entries:,} entries in {index.seconds:.2f} s")
            both = (record.entries + index.entries) / (record.seconds + index.seconds)
            figures.append(
                Figure(
                    group,
                    f"reconcile, all loaded: entries compared ({check_s:.1f} s)",
                    _rate(compared, check_s, fixed_s),
                    "/s",
                    "-",
                    baseline=both,
                    baseline_text="grouped sums + pipelined ZRANGE, both sides' entries",
                    notes=(
                        f"pipelined ZRANGE alone: {index.per_s:,.0f} entries/s; every figure"
                        f" less the fixed cost of {fixed_s:.1f} s (reconcile, empty record)"
                    ),
                    details={
                        "seconds": check_s,
                        "compared": compared,
                        "index_baseline_s": index.seconds,
                        "index_entries": index.entries,
                    },
                )
            )
    finally:
        await clean_up([], namespace, workouts_queue(namespace, 1).name, database)
    print("\n" + text_table(figures))
    return figures


def _rate(count: int, seconds: float, fixed_s: float) -> float | None:
    """`count` per second of `seconds` less the fixed cost; None (not measured) when the
    command took no longer than its fixed cost."""
    net = seconds - fixed_s
    return count / net if net > 0 else None


def _figure(pattern: str, output: str) -> str:
    """The first group of `pattern` in `output`, read with its lines joined: the command
    prints through rich, which wraps its summary at the terminal's width (80 columns when
    its output is not a terminal), anywhere between two words."""
    found = re.search(pattern, " ".join(output.split()))
    if found is None:
        raise RuntimeError(f"no {pattern!r} in:\n{output[-2000:]}")
    return found.group(1)


def _summary(output: str) -> str:
    return "\n".join(line for line in output.splitlines()[-4:] if line.strip())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--athletes", type=int, default=100_000)
    parser.add_argument(
        "--cold-only", action="store_true", help="Only the first step: no board loaded."
    )
    arguments = parser.parse_args()
    run_main(main(arguments.athletes, cold_only=arguments.cold_only))
