"""`fitboard reconcile` at N athletes, production mode: how many board entries it compares
per second.

1. A fresh database and Redis namespace on the machine's services (`make services`), as
   bench/deployment.py makes them, with no process running; N athletes written straight
   into the record with COPY: each one daily rollup (a random activity, on a random day of
   the last four weeks, random totals), and one athlete in three in one of N/50 groups.
2. `fitboard reconcile`, timed, with no board loaded: every instance the record implies
   is read from it (all cold, nothing to compare): the record's entries read per second.
3. `fitboard reconcile --warm`, timed: the same, then every instance loaded.
4. `fitboard reconcile`, timed: every instance loaded, every entry compared: entries
   compared per second.

Afterwards the database is dropped, the namespace's Redis keys removed (never FLUSHDB) and
the queues the commands declared deleted.

    python -m bench.reconcile [--athletes 100000] [--cold-only]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench.boards import ROLLUP_COLUMNS, USER_COLUMNS, _names
from bench.common import FITBOARD, SECRET
from bench.deployment import (
    AMQP_URL,
    POSTGRES_URL,
    REDIS_URL,
    _create_database,
    _drop_database,
    _remove_broker_objects,
    _remove_redis_keys,
    _run,
    _sqlalchemy_url,
)

ACTIVITIES = ("run", "walk", "hike", "cycle", "swim", "row", "strength", "yoga", "hiit", "other")
CHUNK = 50_000


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


async def reconcile(env: dict[str, str], *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    code, output = await _run([FITBOARD, "reconcile", *args], env, 3600)
    seconds = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"fitboard reconcile {' '.join(args)} exited {code}:\n{output[-2000:]}")
    return seconds, output


async def main(athletes: int, *, cold_only: bool) -> None:
    from fitboard.application.workouts.messages import workouts_queue

    tag = uuid.uuid4().hex[:12]
    database, namespace = f"fitboard_bench_{tag}", f"bench-{tag}"
    env = {
        **os.environ,
        "FITBOARD_MODE": "production",
        "FITBOARD_DATABASE_URL": _sqlalchemy_url(POSTGRES_URL, database),
        "FITBOARD_REDIS_URL": REDIS_URL,
        "FITBOARD_AMQP_URL": AMQP_URL,
        "FITBOARD_JWT_SECRET": SECRET,
        "FITBOARD_NAMESPACE": namespace,
        "FITBOARD_LOG_LEVEL": "warning",
    }
    await _create_database(database)
    try:
        code, output = await _run([FITBOARD, "db", "upgrade"], env, 120)
        if code != 0:
            raise RuntimeError(f"fitboard db upgrade exited {code}:\n{output}")
        started = time.perf_counter()
        await seed(env["FITBOARD_DATABASE_URL"].replace("+asyncpg", ""), athletes)
        print(f"seeded {athletes} athletes in {time.perf_counter() - started:.1f} s")
        cold_s, cold = await reconcile(env)
        entries = int(_figure(r"(\d+) entries in the record", cold))
        print(f"reconcile, every board cold: {cold_s:.1f} s\n{_summary(cold)}")
        print(f"{entries / cold_s:,.0f} of the record's entries read per second (whole command)")
        if cold_only:
            return
        warm_s, warm = await reconcile(env, "--warm")
        print(f"reconcile --warm: {warm_s:.1f} s\n{_summary(warm)}")
        check_s, checked = await reconcile(env)
        entries = int(_figure(r"(\d+) compared", checked))
        print(f"reconcile, every board loaded: {check_s:.1f} s\n{_summary(checked)}")
        print(f"{entries / check_s:,.0f} entries compared per second (whole command)")
    finally:
        await _drop_database(database)
        print(f"removed {await _remove_redis_keys(namespace)} Redis keys")
        await _remove_broker_objects(namespace, workouts_queue(namespace, 1).name)


def _figure(pattern: str, output: str) -> str:
    found = re.search(pattern, output)
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
    asyncio.run(main(arguments.athletes, cold_only=arguments.cold_only))
