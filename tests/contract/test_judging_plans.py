"""How PostgreSQL runs judging's reads of an athlete's workouts: each request's own range
of the athlete's (user_id, started_at, id) index, never a scan of the whole table.

Joined to the batch's requests, these reads were planned as a hash join of every counted
workout (the planner takes a range of an athlete's workouts to hold a third of them): a
batch of 32 athletes with 1,000 workouts each took 12-17 ms (docs/benchmarks.md, "Session
23"). The statements read each request's range in a LATERAL subquery (adapters/sql/
achievements.py, `_per_request`). This checks the plans PostgreSQL makes for them on a
table of that kind (32 athletes of 300 workouts), analyzed: with statistics, the join was
still planned as a scan of the whole table (checked by reverting to it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Connection

from fitboard.adapters.sql import SqlStore
from fitboard.adapters.sql.tables import metadata
from fitboard.domain.users import User
from fitboard.domain.workouts import WorkoutStatus

from .store_adapters import migrated_postgres_url_fixture  # noqa: F401
from .test_achievements_store_contract import RECORDS
from .test_store_contract import T0, add_users, make_user, make_workout

pytestmark = pytest.mark.production

ATHLETES = 32
WORKOUTS_EACH = 300
RANGES = ("Index Scan", "Index Only Scan", "Bitmap Heap Scan")


@pytest.fixture(name="store")
async def postgres_store_fixture(migrated_postgres_url: str) -> AsyncIterator[SqlStore]:
    store = SqlStore(migrated_postgres_url)
    names = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    async with store.engine.begin() as connection:
        await connection.execute(text(f"TRUNCATE TABLE {names}"))
    yield store
    await store.close()


@pytest.fixture(name="sent")
def sent_fixture(store: SqlStore) -> Iterator[list[tuple[str, Any]]]:
    """Each statement the store sends, with its parameters as the driver gets them."""
    sent: list[tuple[str, Any]] = []

    def record(
        _conn: Connection, _cursor: object, statement: str, parameters: Any, *_: Any
    ) -> None:
        sent.append((statement, parameters))

    event.listen(store.engine.sync_engine, "before_cursor_execute", record)
    yield sent
    event.remove(store.engine.sync_engine, "before_cursor_execute", record)


def scans_of_workouts(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """Every node of `plan` (EXPLAIN's JSON) that reads the workouts table."""
    found = [plan] if plan.get("Relation Name") == "workouts" else []
    for child in plan.get("Plans", []):
        found.extend(scans_of_workouts(child))
    return found


async def add_histories(store: SqlStore, users: Sequence[User]) -> None:
    """WORKOUTS_EACH counted workouts for each of `users`, an hour apart from T0."""
    async with store.unit_of_work() as uow:
        for user in users:
            await uow.workouts.add_new(
                [
                    replace(
                        make_workout(user.id, T0 + timedelta(hours=n)),
                        status=WorkoutStatus.PROCESSED,
                    )
                    for n in range(WORKOUTS_EACH)
                ]
            )
        await uow.commit()


async def test_judging_reads_each_request_s_range_of_the_athlete_s_index(
    store: SqlStore, sent: list[tuple[str, Any]]
) -> None:
    users = [make_user(f"a{i}") for i in range(ATHLETES)]
    await add_users(store, *users)
    await add_histories(store, users)
    async with store.engine.begin() as connection:
        await connection.execute(text("ANALYZE workouts"))

    # A batch's requests: three of each athlete's, in the middle of their history, with
    # nothing kept (the whole history before each is read, the widest ranges).
    places = [
        (user.id, T0 + timedelta(hours=WORKOUTS_EACH // 2 + n, minutes=30), user.id)
        for user in users
        for n in range(3)
    ]
    async with store.unit_of_work() as uow:
        sent.clear()
        await uow.achievements.bests_before_many(RECORDS, places)
        await uow.achievements.counted_after_many(places)
        await uow.rollback()
    reads = [(s, p) for s, p in sent if "AS places_rows(" in s]
    assert len(reads) == 2, [s.split("\n")[0] for s, _ in sent]
    async with store.engine.connect() as connection:
        for statement, parameters in reads:
            result = await connection.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) {statement}", parameters
            )
            plan = result.scalar_one()[0]["Plan"]
            scans = scans_of_workouts(plan)
            assert scans, plan
            for scan in scans:
                # An index range (or the bitmap of one) of the request's own athlete.
                assert scan["Node Type"] in RANGES, (statement, plan)
                seek = scan.get("Index Cond", scan.get("Recheck Cond", ""))
                assert "user_id = places_rows.user_id" in seek, (statement, plan)
