"""Every writer of an athlete's boards writes them while it holds the athlete's board-write
lock: after its commit, before its unit of work ends. That keeps each athlete's board
writes in commit order, which a loaded Redis board relies on (it keeps no versions:
adapters/ranking_redis.py). On PostgreSQL, whose advisory locks are the board-write locks
of processes that share one Redis."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from uuid import UUID, uuid4

import pytest

from fitboard.adapters.inflight_sqlite import SqliteInFlight
from fitboard.adapters.ranking_memory import MemoryRanking
from fitboard.adapters.sql import SqlStore
from fitboard.application.accounts.deletion import AccountDeletion
from fitboard.application.accounts.sessions import LocalGenerationChanges
from fitboard.application.boards.ports import AthleteProjection, Projected
from fitboard.application.boards.projection import Projection
from fitboard.application.workouts.changes import WorkoutChanges
from fitboard.application.workouts.processing import Processing
from fitboard.domain.activities import Activity
from fitboard.domain.boards import ScoreUpdate
from fitboard.domain.changes import ChangeKind, WorkoutChange

# The fixtures are imported for pytest, which finds them by their names.
from .store_adapters import migrated_postgres_url_fixture  # noqa: F401
from .test_board_write_locks import board_write_locks_held
from .test_processing_batches import submission
from .test_records_order import CATALOG, NOW, RULES, FixedClock
from .test_store_contract import add_users, make_user

pytestmark = pytest.mark.production


@dataclass
class WitnessedRanking(MemoryRanking):
    """The in-memory index, noting at each write of an athlete's boards whether the
    athlete's board-write lock was held then (read from another session's view)."""

    store: SqlStore | None = None
    seen: list[tuple[UUID, bool]] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    async def _note(self, user_id: UUID) -> None:
        assert self.store is not None
        self.seen.append((user_id, await board_write_locks_held(self.store, [user_id]) == 1))

    async def project(
        self, user_id: UUID, version: int, updates: Sequence[ScoreUpdate], *, behind: int = 0
    ) -> list[Projected]:
        await self._note(user_id)
        return await super().project(user_id, version, updates, behind=behind)

    async def project_many(
        self,
        projections: Sequence[AthleteProjection],
        *,
        behind: int = 0,
        only_moves: bool = False,
    ) -> list[list[Projected]]:
        for user_id, _, _ in projections:
            await self._note(user_id)
        return await super().project_many(projections, behind=behind, only_moves=only_moves)

    async def remove_athlete(self, user_id: UUID, version: int) -> int:
        await self._note(user_id)
        return await super().remove_athlete(user_id, version)


class NamesToldNowhere:
    """Name changes, told to no other process (there is none)."""

    async def changed(self, user_ids: Sequence[UUID]) -> None:
        return None


async def test_every_writer_writes_the_boards_under_the_athletes_lock(
    migrated_postgres_url: str, tmp_path: Path
) -> None:
    store = SqlStore(migrated_postgres_url)
    inflight = SqliteInFlight(tmp_path / "inflight.db")
    ranking = WitnessedRanking(store=store)
    try:
        ada, grace = make_user(f"ada{uuid4().hex[:12]}"), make_user(f"grace{uuid4().hex[:12]}")
        await add_users(store, ada, grace)
        processing = Processing(
            store, ranking, inflight, FixedClock(), RULES, achievement_rules=CATALOG
        )
        run = submission(ada.id, 1, (0, 30, 5000.0, Activity.RUN))
        await processing.process_batch([run, submission(grace.id, 2, (0, 20, 0.0, Activity.YOGA))])
        changes = WorkoutChanges(store, ranking, FixedClock(), RULES, CATALOG, clock_skew_s=300)
        await changes.apply(
            WorkoutChange(uuid4(), ChangeKind.DELETE, run.id, ada.id, ada.id, NOW, "by mistake")
        )
        await Projection(store, ranking).reproject_user(grace.id)
        deletion = AccountDeletion(store, ranking, NamesToldNowhere(), LocalGenerationChanges())
        await deletion.delete_account(grace.id)
    finally:
        await inflight.close()
        await store.close()
    # Processing (both athletes), the change (Ada), re-projection and deletion (Grace).
    assert ranking.seen == [
        (ada.id, True),
        (grace.id, True),
        (ada.id, True),
        (grace.id, True),
        (grace.id, True),
    ]
