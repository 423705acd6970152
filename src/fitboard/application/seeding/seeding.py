"""Seeding a synthetic community (`fitboard seed`): athletes and groups written to the
record directly, their workouts submitted through the same durable queue as the API's.

Athletes are written in bulk, in transactions of ATHLETES_PER_TRANSACTION, not
registered one by one: registration hashes each password with Argon2 (slow on purpose,
tens of milliseconds), which would take minutes for ten thousand. They all share one
password, hashed once, that the caller chooses or is told.

Workouts take the API's own path (`Ingest.submit_workouts`): the same checks, the same
message, the same in-flight marks, handed to the queue WORKOUTS_PER_WRITE at a time in
one durable write each. The workers process them as any submitted workout; nothing is
projected to the boards here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from fitboard.application.accounts.ports import AccountsUnit, PasswordHasher, UsernameTaken
from fitboard.application.groups.ports import GroupsUnit
from fitboard.application.ports import Clock, QueueUnavailable, Store
from fitboard.application.workouts.ingest import Ingest, SubmitWorkout
from fitboard.domain import synthetic
from fitboard.domain.groups import Group
from fitboard.domain.passwords import check_password
from fitboard.domain.users import User

log = logging.getLogger(__name__)

ATHLETES_PER_TRANSACTION = 1000
WORKOUTS_PER_WRITE = 1000

_T = TypeVar("_T")


class SeedingUnit(AccountsUnit, GroupsUnit, Protocol):
    """Writing athletes and their groups."""


@dataclass(frozen=True)
class SeedPlan:
    athletes: int
    workouts: int
    days: int
    seed: int

    def __post_init__(self) -> None:
        if self.athletes < 1:
            raise ValueError("athletes must be at least 1")
        if self.workouts < 0:
            raise ValueError("workouts must not be negative")
        if self.days < 1:
            raise ValueError("days must be at least 1")


@dataclass(frozen=True)
class Seeded:
    athletes: int
    groups: int
    memberships: int
    workouts_queued: int
    # Refused by ingest's checks: none, unless the generator and the checks disagree.
    workouts_refused: int
    first_username: str


class SeedingRefused(Exception):
    """The seed cannot run as asked (its athletes are in the record already)."""


class Seeding:
    def __init__(
        self, store: Store[SeedingUnit], ingest: Ingest, hasher: PasswordHasher, clock: Clock
    ) -> None:
        self._store = store
        self._ingest = ingest
        self._hasher = hasher
        self._clock = clock

    async def seed(
        self,
        plan: SeedPlan,
        password: str,
        *,
        athletes_written: Callable[[int], None] = lambda _n: None,
        workouts_queued: Callable[[int], None] = lambda _n: None,
    ) -> Seeded:
        """Write the plan's athletes and groups, then queue their workouts; the callbacks
        hear how many were written or queued at each step. Raises, before anything is
        written, SeedingRefused when the seed's first athlete exists already and
        InvalidField for a password sign-in would refuse; SeedingRefused also when another
        of its usernames is taken (the transactions before stay written); QueueUnavailable
        when the queue did not store a write (what was queued before stays queued)."""
        now = self._clock.now()
        people = synthetic.athletes(plan.seed, plan.athletes, now=now)
        await self._check(people[0].username, password)
        password_hash = await asyncio.to_thread(self._hasher.hash, password)
        for chunk in _chunks(people, ATHLETES_PER_TRANSACTION):
            await self._add_athletes(chunk, password_hash)
            athletes_written(len(chunk))
        clubs = synthetic.groups(plan.seed, people)
        memberships = await self._add_groups(clubs)
        queued = refused = 0
        sessions = synthetic.workouts(plan.seed, people, plan.workouts, days=plan.days, now=now)
        for batch in _chunks(sessions, WORKOUTS_PER_WRITE):
            outcomes = await self._ingest.submit_workouts([_command(w) for w in batch])
            unavailable = next((o for o in outcomes if isinstance(o, QueueUnavailable)), None)
            if unavailable is not None:
                raise unavailable
            accepted = sum(1 for o in outcomes if not isinstance(o, Exception))
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    log.warning("a synthetic workout was refused: %s", outcome)
            queued += accepted
            refused += len(outcomes) - accepted
            workouts_queued(len(outcomes))
        return Seeded(
            athletes=len(people),
            groups=len(clubs),
            memberships=memberships,
            workouts_queued=queued,
            workouts_refused=refused,
            first_username=people[0].username,
        )

    async def check(self, plan: SeedPlan, password: str) -> None:
        """Raise what `seed` would raise before writing anything (SeedingRefused,
        InvalidField), so a caller can say so before it shows any progress."""
        (first,) = synthetic.athletes(plan.seed, 1, now=self._clock.now())
        await self._check(first.username, password)

    async def _check(self, username: str, password: str) -> None:
        check_password(password, username)
        async with self._store.unit_of_work(read_only=True) as uow:
            taken = await uow.users.get_by_username(username) is not None
        if taken:
            raise SeedingRefused(
                f"the athletes of this seed are in the record already ({username!r} "
                "exists); seed with another --seed to add more"
            )

    async def _add_athletes(
        self, people: Sequence[synthetic.SyntheticAthlete], password_hash: str
    ) -> None:
        now = self._clock.now()
        async with self._store.unit_of_work() as uow:
            for athlete in people:
                user = User(
                    id=athlete.id,
                    username=athlete.username,
                    display_name=athlete.display_name,
                    password_hash=password_hash,
                    created_at=now,
                    timezone=athlete.timezone,
                    weight_kg=athlete.weight_kg,
                    birth_year=athlete.birth_year,
                    sex=athlete.sex,
                )
                try:
                    await uow.users.add(user)
                except UsernameTaken:
                    raise SeedingRefused(
                        f"the username {athlete.username!r} is taken; seed with another --seed"
                    ) from None
            await uow.commit()

    async def _add_groups(self, clubs: Sequence[synthetic.SyntheticGroup]) -> int:
        """The groups and their members (before any workout: the worker puts each workout
        on its athlete's group boards as it processes it); how many joined."""
        now = self._clock.now()
        joined = 0
        async with self._store.unit_of_work() as uow:
            for club in clubs:
                group = Group(club.id, club.name, secrets.token_urlsafe(9), club.owner_id, now)
                await uow.groups.add(group)
                for member in club.member_ids:
                    joined += await uow.groups.add_member(club.id, member, now)
            await uow.commit()
        return joined


def _command(workout: synthetic.SyntheticWorkout) -> SubmitWorkout:
    return SubmitWorkout(
        user_id=workout.user_id,
        activity=workout.activity,
        started_at=workout.started_at,
        duration_s=workout.duration_s,
        distance_m=workout.distance_m,
        elevation_gain_m=workout.elevation_gain_m,
        avg_heart_rate=workout.avg_heart_rate,
        indoor=workout.indoor,
    )


def _chunks(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
