"""Two workers on one athlete: the later commit's totals are what a loaded board holds,
however late the earlier one's board write comes. A loaded board keeps no versions
(adapters/ranking_redis.py), so this rests on the athlete's board-write lock alone
(adapters/sql/board_write_locks.py): the later worker cannot commit before the earlier
one's board writes are done. On PostgreSQL, with every ranking adapter."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from uuid import uuid4

import pytest

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.sql import SqlStore
from fitboard.application.boards.ports import AthleteProjection, Projected, RankingIndex
from fitboard.application.workouts.processing import Processing
from fitboard.domain.activities import Activity
from fitboard.domain.boards import BoardKey, VersionedStanding
from fitboard.domain.periods import period_range

# The fixtures are imported for pytest, which finds them by their names.
from .ranking_adapters import ranking_fixture  # noqa: F401
from .store_adapters import migrated_postgres_url_fixture  # noqa: F401
from .test_processing_batches import submission
from .test_records_order import CATALOG, RULES, FixedClock
from .test_store_contract import add_users, make_user

pytestmark = pytest.mark.production


class LateBoardWrites:
    """A ranking index whose `project_many` says it was called (the worker has committed),
    then waits to be let go before writing: a worker slow to reach the boards."""

    def __init__(self, ranking: RankingIndex) -> None:
        self._ranking = ranking
        self.called = asyncio.Event()
        self.go = asyncio.Event()

    async def project_many(
        self,
        projections: Sequence[AthleteProjection],
        *,
        behind: int = 0,
        only_moves: bool = False,
    ) -> list[list[Projected]]:
        self.called.set()
        await self.go.wait()
        return await self._ranking.project_many(projections, behind=behind, only_moves=only_moves)


async def _record(store: SqlStore, key: BoardKey) -> list[VersionedStanding]:
    """The board's standings in the record."""
    rng = period_range(key.board.period, key.period_key)
    async with store.unit_of_work(read_only=True) as uow:
        return await uow.rollups.standings(key.board, rng.first, rng.last)


async def test_a_late_board_write_of_an_earlier_commit_does_not_overwrite_a_later_one(
    migrated_postgres_url: str, ranking: RankingIndex, tmp_path: Path
) -> None:
    store = SqlStore(migrated_postgres_url)
    inflight = SqliteInFlight(tmp_path / "inflight.db")
    try:
        ada = make_user(f"ada{uuid4().hex[:12]}")
        await add_users(store, ada)
        steady = Processing(store, ranking, inflight, FixedClock(), RULES, CATALOG)
        [first] = await steady.process_batch([submission(ada.id, 1, (0, 30, 5000.0, Activity.RUN))])
        # The boards the athlete is on, loaded from the record: they keep no versions now.
        keys = sorted({update.key for update in first.updates})
        for key in keys:
            await ranking.drop(key)
            await ranking.load(key, await _record(store, key))

        late = LateBoardWrites(ranking)
        slow = Processing(store, late, inflight, FixedClock(), RULES, CATALOG)  # type: ignore[arg-type]
        earlier = asyncio.create_task(
            slow.process_batch([submission(ada.id, 2, (0, 40, 8000.0, Activity.RUN))])
        )
        await late.called.wait()  # committed, its board writes still to come
        later = asyncio.create_task(
            steady.process_batch([submission(ada.id, 3, (0, 50, 10000.0, Activity.RUN))])
        )
        # Long enough for the later worker to commit and write, were it not held back.
        await asyncio.sleep(0.5)
        late.go.set()
        async with asyncio.timeout(30):
            await earlier
            await later
        for key in keys:
            assert await ranking.is_loaded(key)
            recorded = {v.standing.user_id: v.standing.score for v in await _record(store, key)}
            assert (await ranking.scores(key)).get(ada.id) == recorded[ada.id], key
    finally:
        await inflight.close()
        await store.close()
