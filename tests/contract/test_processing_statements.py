"""What a batch of workouts costs the database: the worker's transaction runs a bounded
number of statements for a whole batch, not some for every workout. On SQLite and
PostgreSQL, counted with SQLAlchemy's `before_cursor_execute` event."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path
from uuid import UUID

from sqlalchemy import select

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.adapters.sql import SqlStore
from fitboard.adapters.sql.tables import kept_record_bests
from fitboard.application.workouts.processing import Processing
from fitboard.domain.activities import Activity
from fitboard.domain.workouts import WorkoutSubmission

from .store_adapters import (  # noqa: F401  (fixtures are found by their `name`)
    StatementLog,
    migrated_postgres_url_fixture,
    statement_log_fixture,
    store_fixture,
    store_url_fixture,
)
from .test_records_order import CATALOG, NOW, RULES, FixedClock
from .test_store_contract import T0, add_users, make_user

ATHLETES = 30
BATCH = 100


def batch_of(athletes: list[UUID], first: int) -> list[WorkoutSubmission]:
    """BATCH workouts dealt round the athletes, each later than the last (in date order,
    as workouts usually arrive), with distances that make some of them records."""
    found = []
    for n in range(first, first + BATCH):
        user_id = athletes[n % len(athletes)]
        found.append(
            WorkoutSubmission(
                id=UUID(int=(user_id.int >> 64 << 64) | n),
                user_id=user_id,
                activity=(Activity.RUN, Activity.CYCLE)[n % 2],
                started_at=T0 + timedelta(hours=n),
                duration_s=1800 + 60 * (n % 7),
                submitted_at=NOW,
                distance_m=4000.0 + 500 * (n % 5),
            )
        )
    return found


async def test_a_batch_runs_a_bounded_number_of_statements(
    store: SqlStore, statement_log: StatementLog, tmp_path: Path
) -> None:
    users = [make_user(f"s{i}") for i in range(ATHLETES)]
    await add_users(store, *users)
    athletes = [u.id for u in users]
    inflight = SqliteInFlight(tmp_path / "inflight.db")
    processing = Processing(
        store, MemoryRanking(), inflight, FixedClock(), RULES, achievement_rules=CATALOG
    )
    try:
        await processing.process_batch(batch_of(athletes, 0))  # every athlete has a past
        statement_log.clear()
        cpu = time.process_time()
        await processing.process_batch(batch_of(athletes, BATCH))
        cpu = time.process_time() - cpu
        texts = set(statement_log.queries())
        queries = statement_log.queries()
        # A batch of another size sends the same texts: a text per number of rows would
        # be parsed and planned again by PostgreSQL on every connection.
        statement_log.clear()
        await processing.process_batch(batch_of(athletes, 2 * BATCH)[: BATCH // 3])
        assert set(statement_log.queries()) <= texts, "\n".join(
            q.split("\n")[0] for q in set(statement_log.queries()) - texts
        )
        # Each athlete's bests are kept at their latest workout judged of each batch, so
        # the next batch reads only the workouts since (kept_record_bests).
        async with store.engine.connect() as connection:
            kept = await connection.execute(select(kept_record_bests.c.user_id).distinct())
            assert sorted(kept.scalars()) == sorted(athletes)
    finally:
        await inflight.close()
    if os.environ.get("FITBOARD_PRINT_COST"):
        print(
            f"\n{store.engine.dialect.name}: {len(queries)} statements for {BATCH} workouts "
            f"of {ATHLETES} athletes, {1000 * cpu / BATCH:.2f} ms CPU per workout"
        )
    # Five statements before the first step (athletes locked and bumped, their groups,
    # deletions, workouts the batch may duplicate, what is stored under the ids of
    # submissions others of their athlete follow), then, in one pass (the workouts come
    # in date order), seven: active days, bests, later workouts, insert, keeping the bests
    # (and forgetting all but the latest few), awards; and two per round (each athlete's
    # n-th workout of the batch): rollups and totals. One at a time costs some ten
    # statements for every workout. On PostgreSQL one more: the athletes' board-write
    # locks released (the statement that locks the athletes takes them).
    rounds = -(-BATCH // ATHLETES)
    locks = 1 if store.engine.dialect.name == "postgresql" else 0
    assert len(queries) <= 5 + 7 + 2 * rounds + locks, "\n".join(q.split("\n")[0] for q in queries)
