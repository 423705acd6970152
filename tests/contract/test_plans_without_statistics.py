"""The plans PostgreSQL caches for the worker's reads of workouts (judging's, of an
athlete's workouts; what is stored under a batch's ids), made while the workouts table
was empty and never analyzed, still seek each request's athlete or id once the table has
grown.

A prepared statement's generic plan is kept until something invalidates it, and rows
added to a table do not: without statistics (a server with autovacuum off, as the
machine's, or a table grown since its last analyze) the plan made at a worker's first
batches is the one its later batches run. With an index of every workout's status, an
equality on the status looked as selective as one on the athlete to that planner, and
the cached plans walked every counted workout of the table for each athlete of a batch
(one worker drained 30,000 workouts at 264 a second, PostgreSQL's CPU 3.3 ms a workout;
docs/benchmarks.md, "Session 25"). Migration 0016 made that index partial, of the
workouts not counted, which no read of counted workouts can take. The batch's ids were
looked up by `id = ANY(ids)`, cached as a scan of the table; each is now a LATERAL lookup
of its own (adapters/sql/request_rows.py, `per_request`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import pytest
from sqlalchemy import text

from fitboard.adapters.sql import SqlStore, upgrade_database
from tests.conftest import drop_postgres_database, new_postgres_database

from .test_achievements_store_contract import RECORDS
from .test_judging_plans import (  # noqa: F401
    ATHLETES,
    RANGES,
    WORKOUTS_EACH,
    add_histories,
    scans_of_workouts,
    sent_fixture,
)
from .test_store_contract import T0, add_users, make_user

pytestmark = pytest.mark.production

# The worker's reads of workouts that a cached plan could walk the table for: judging's
# bests before and workouts after each request's place (`AS places_rows(`), the athletes'
# active days (`WITH RECURSIVE found`), what is stored under a batch's ids (`wanted_rows`).
MARKERS = ("AS places_rows(", "WITH RECURSIVE found", "AS wanted_rows(")


@pytest.fixture(name="store")
async def never_analyzed_store_fixture() -> AsyncIterator[SqlStore]:
    """A store on a database of its own, migrated and never analyzed (the session's
    database has statistics from other tests' ANALYZE)."""
    name, url = new_postgres_database()
    try:
        await upgrade_database(url)
        store = SqlStore(url)
        yield store
        await store.close()
    finally:
        drop_postgres_database(name)


def literal(value: object) -> str:
    """`value` as a literal of unknown type, which PostgreSQL reads as the type of the
    prepared statement's parameter it is given for (arrays included)."""
    if value is None:
        return "NULL"
    if isinstance(value, list | tuple):
        items = ",".join(
            "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for v in value
        )
        text = "{" + items + "}"
    elif isinstance(value, datetime | date | UUID | str | int | float):
        text = str(value)
    else:
        raise TypeError(f"no literal for {value!r}")
    return "'" + text.replace("'", "''") + "'"


async def test_cached_plans_made_on_an_empty_table_seek_the_athlete_after_it_grew(
    store: SqlStore, sent: list[tuple[str, Any]]
) -> None:
    users = [make_user(f"a{i}") for i in range(ATHLETES)]
    await add_users(store, *users)
    # A batch's requests, in the middle of the histories to come: three of each athlete's.
    places = [
        (user.id, T0 + timedelta(hours=WORKOUTS_EACH // 2 + n, minutes=30), user.id)
        for user in users
        for n in range(3)
    ]
    days = [(user.id, T0.date(), (T0 + timedelta(hours=WORKOUTS_EACH)).date()) for user in users]
    async with store.unit_of_work() as uow:
        sent.clear()
        await uow.achievements.bests_before_many(RECORDS, places)
        await uow.achievements.counted_after_many(places)
        await uow.achievements.active_local_days_many(days)
        await uow.workouts.get_many([uuid4() for _ in places])
        await uow.rollback()
    reads = [(s, p) for s, p in sent if any(marker in s for marker in MARKERS)]
    assert len(reads) == 4, [s.split("\n")[0] for s, _ in sent]

    async with store.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        # Planned generically at once (as after a prepared statement's fifth run), on the
        # empty table, and cached.
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        arguments = [", ".join(literal(p) for p in parameters) for _, parameters in reads]
        for n, (statement, _) in enumerate(reads):
            await raw.execute(f"PREPARE judging_read_{n} AS {statement}")
            await raw.execute(f"EXECUTE judging_read_{n}({arguments[n]})")

        # The table grows (another connection), and is not analyzed.
        await add_histories(store, users)

        for n, (statement, _) in enumerate(reads):
            found = await raw.fetchval(
                f"EXPLAIN (FORMAT JSON) EXECUTE judging_read_{n}({arguments[n]})"
            )
            plan = found[0]["Plan"]  # JSON, decoded by the engine's codec
            scans = scans_of_workouts(plan)
            assert scans, plan
            for scan in scans:
                # A range of an index of the request's own athlete (or the workout's own
                # id), not a walk of the table or of an index of something nearly every
                # workout shares.
                assert scan["Node Type"] in RANGES, (statement, plan)
                seek = scan.get("Index Cond", scan.get("Recheck Cond", ""))
                assert "user_id = " in seek or seek.startswith("(id = "), (statement, plan)


def scans_of(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    """Every node of `plan` (EXPLAIN's JSON) that reads `table`."""
    found = [plan] if plan.get("Relation Name") == table else []
    for child in plan.get("Plans", []):
        found.extend(scans_of(child, table))
    return found


async def test_an_analyze_replans_the_athletes_lock_cached_on_a_small_table(
    store: SqlStore, sent: list[tuple[str, Any]]
) -> None:
    """The athletes' lock (`lock_and_bump_versions`) still relies on statistics: its
    generic plan made at 32 athletes, never analyzed, scans the users table twice (a
    filter of `id = ANY` and a hash join of the UPDATE), whatever the table grows to. An
    ANALYZE of the table (autovacuum's, or by hand) invalidates that cached plan, and the
    next execution seeks each athlete (docs/deploy.md, autovacuum)."""
    users = [make_user(f"a{i}") for i in range(ATHLETES)]
    await add_users(store, *users)
    ids = [user.id for user in users[:8]]
    async with store.unit_of_work() as uow:
        sent.clear()
        await uow.users.lock_and_bump_versions(ids)
        await uow.rollback()
    ((statement, parameters),) = [(s, p) for s, p in sent if "projection_version" in s]
    async with store.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute("SET plan_cache_mode = force_generic_plan")
        arguments = ", ".join(literal(p) for p in parameters)
        await raw.execute(f"PREPARE lock_read AS {statement}")
        await raw.execute(f"BEGIN; EXECUTE lock_read({arguments}); ROLLBACK")
        await add_users(store, *(make_user(f"b{i}") for i in range(3000)))

        async def users_scans() -> list[str]:
            found = await raw.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE lock_read({arguments})")
            return [
                scan["Node Type"]
                for scan in scans_of(found[0]["Plan"], "users")
                if scan["Node Type"] != "ModifyTable"
            ]

        assert "Seq Scan" in await users_scans()
        async with store.engine.connect() as other:
            await other.execute(text("ANALYZE users"))
            await other.commit()
        scans = await users_scans()
        assert scans
        assert all(scan in RANGES for scan in scans), scans
