"""What judging achievements needs: the awards held, and the record it judges them on."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from fitboard.application.accounts.ports import UserRepository
from fitboard.application.boards.ports import RollupRepository
from fitboard.application.ports import ScheduledRuns, Transaction
from fitboard.domain.achievements import Award, HeldAchievement, Measured, PersonalRecord


class AchievementRepository(Protocol):
    async def award(
        self,
        user_id: UUID,
        award: Award,
        awarded_at: datetime,
        workout_id: UUID | None,
    ) -> bool:
        """Record an award; False (and nothing written) if the athlete already holds that
        achievement for that period key. The database's uniqueness is what guarantees
        exactly-once under redelivery and concurrent workers."""
        ...

    async def award_all(
        self,
        user_id: UUID,
        earned: Sequence[Award],
        awarded_at: datetime,
        workout_id: UUID | None,
    ) -> list[Award]:
        """`award` each of `earned`, in one round trip: returns those recorded now, in the
        order given, exactly as one `award` after another would."""
        ...

    async def award_many(
        self, earned: Sequence[tuple[UUID, Award, datetime, UUID | None]]
    ) -> list[bool]:
        """`award` each (user, award, awarded at, workout id), several athletes' at once,
        in one round trip: whether each was recorded now, in the order given, exactly as
        one `award` after another would answer."""
        ...

    async def for_user(self, user_id: UUID) -> list[HeldAchievement]:
        """Newest first."""
        ...

    async def for_workout(self, workout_id: UUID) -> list[str]:
        """Ids of the achievements that workout earned."""
        ...

    async def active_local_days(self, user_id: UUID, first: date, last: date) -> set[date]:
        """Days (in the athlete's own zone) in [first, last] with a counted workout."""
        ...

    async def active_local_days_many(
        self, requests: Sequence[tuple[UUID, date, date]]
    ) -> list[set[date]]:
        """`active_local_days` of each (user, first, last), in order, in one round trip."""
        ...

    async def best_before(
        self, user_id: UUID, rule: PersonalRecord, before: datetime, exclude: UUID
    ) -> float | None:
        """The athlete's best value for a record rule among counted workouts before the
        workout (`before`: its start, `exclude`: its id) in date order, which is (start,
        id): records are judged in the order workouts happened, whatever order they arrive
        in, and of two that start together exactly one comes first."""
        ...

    async def bests_before(
        self,
        user_id: UUID,
        rules: Sequence[PersonalRecord],
        before: datetime,
        exclude: UUID,
    ) -> dict[str, float | None]:
        """`best_before` of every rule, by rule id, in one round trip (none without rules)."""
        ...

    async def bests_before_many(
        self,
        rules: Sequence[PersonalRecord],
        requests: Sequence[tuple[UUID, datetime, UUID]],
    ) -> list[dict[str, float | None]]:
        """`bests_before(user, rules, before, exclude)` of each (user, before, exclude),
        in order, in one round trip (an empty dict each without rules). What `keep_bests`
        kept spares reading the workouts before its place."""
        ...

    async def keep_bests(
        self,
        rules: Sequence[PersonalRecord],
        requests: Sequence[tuple[UUID, datetime, UUID]],
        bests: Sequence[dict[str, float | None]],
    ) -> None:
        """Keep what `bests_before_many(rules, requests)` just answered (`bests`, in this
        transaction), in a round trip or two for all, so that the athlete's next judging
        reads only their workouts from that place on (the store keeps each athlete's
        latest place of these, beside a few earlier ones). A shortcut, never a source of
        truth: the store forgets it whenever a workout before its place appears, changes
        or goes."""
        ...

    async def counted_after_many(
        self, requests: Sequence[tuple[UUID, datetime, UUID]]
    ) -> list[list[Measured]]:
        """`counted_after` of each (user, started at, workout id), in order, in one round
        trip."""
        ...

    async def counted_after(
        self, user_id: UUID, started_at: datetime, workout_id: UUID
    ) -> list[Measured]:
        """The athlete's counted workouts after this one in date order (start, then id),
        in that order: the ones whose records a late workout may change."""
        ...

    async def held(
        self, user_id: UUID, achievement_ids: Sequence[str], period_keys: Sequence[str]
    ) -> set[tuple[str, str]]:
        """Which (achievement, period key) pairs among these the athlete holds."""
        ...

    async def held_many(
        self,
        achievement_ids: Sequence[str],
        requests: Sequence[tuple[UUID, Sequence[str]]],
    ) -> list[set[tuple[str, str]]]:
        """`held(user, achievement_ids, period_keys)` of each (user, period keys), in
        order, in one round trip (the worker asks it for every athlete of a batch turn
        whose later workouts' records it judges again)."""
        ...

    async def revoke(self, user_id: UUID, achievement_id: str, period_key: str) -> bool:
        """Take an award back; False if it was not held."""
        ...

    async def held_for_workout(self, workout_id: UUID) -> list[tuple[str, str]]:
        """(achievement id, period key) of every award held for that workout."""
        ...


class JudgingUnit(Transaction, Protocol):
    """Judging a workout's achievements, inside the transaction that stores it."""

    @property
    def users(self) -> UserRepository: ...

    @property
    def rollups(self) -> RollupRepository: ...

    @property
    def achievements(self) -> AchievementRepository: ...


class PlacementsUnit(JudgingUnit, Protocol):
    """Judging a closed period's placements once: the claim commits with the awards."""

    @property
    def runs(self) -> ScheduledRuns: ...
