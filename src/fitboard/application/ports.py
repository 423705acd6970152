"""The ports: what the use cases need from storage, ranking, the queue, live push and time.

Every port has an embedded adapter and a production adapter; the contract tests in
tests/contract run the same assertions against both.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from types import TracebackType
from typing import Any, Protocol, Self
from uuid import UUID

from fitboard.domain.achievements import Award, Measured, PersonalRecord
from fitboard.domain.activities import Activity
from fitboard.domain.boards import (
    BoardId,
    BoardKey,
    Period,
    RankedEntry,
    ScoreUpdate,
    Standing,
    VersionedStanding,
)
from fitboard.domain.challenges import Challenge
from fitboard.domain.periods import PeriodRange
from fitboard.domain.users import User
from fitboard.domain.workouts import DailyContribution, Totals, Workout

# --------------------------------------------------------------------------- errors


class PortError(Exception):
    """Base of infrastructure failures surfaced through a port."""


class DependencyUnavailable(PortError):
    """A service the caller depends on cannot serve now; the same call can succeed later.

    The retry policy waits out such failures for as long as they last, without counting
    them against a message's attempts (application/retrying.py)."""


class StoreUnavailable(DependencyUnavailable):
    """The system of record cannot be reached; retry later."""


class RankingUnavailable(DependencyUnavailable):
    """The ranking index cannot be reached; retry later."""


class QueueUnavailable(DependencyUnavailable):
    """The queue did not durably accept a message (down, blocked, or no confirm in time)."""


class UsernameTaken(PortError):
    """Raised by `UserRepository.add` when the username exists (case-insensitively)."""


class WorkoutIdTaken(PortError):
    """Raised by `WorkoutRepository.add` when the id exists (the caller checks ownership)."""


# --------------------------------------------------------------------------- clock


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


# --------------------------------------------------------------------------- store


class UserRepository(Protocol):
    async def add(self, user: User) -> None:
        """Insert; raises UsernameTaken if the username (case-insensitive) exists."""
        ...

    async def get(self, user_id: UUID) -> User | None: ...

    async def get_by_username(self, username: str) -> User | None:
        """Case-insensitive lookup."""
        ...

    async def update_profile(self, user: User) -> None:
        """Write every profile field of `user` (not its projection_version)."""
        ...

    async def lock(self, user_id: UUID) -> User | None:
        """Read the user and hold a row lock until the unit of work ends.

        This serialises all processing of one athlete's workouts, so totals read inside
        the transaction are never stale when they are projected."""
        ...

    async def lock_and_bump_version(self, user_id: UUID) -> User | None:
        """`lock` that also increases the user's projection version by one, in one
        statement: hold the user's row lock until the unit of work ends. The user
        comes back with the new version; None, and nothing written, for an unknown user."""
        ...

    async def display_names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        """One query for all of them; unknown ids are left out."""
        ...


@dataclass(frozen=True)
class WorkoutCursor:
    """Position in a newest-first listing: the last item seen."""

    started_at: datetime
    id: UUID


class WorkoutRepository(Protocol):
    async def get(self, workout_id: UUID) -> Workout | None: ...

    async def add(self, workout: Workout) -> None:
        """Insert; raises WorkoutIdTaken if the id exists."""
        ...

    async def add_or_get(self, workout: Workout) -> Workout | None:
        """Insert unless the id exists, and the unit of work stays usable either way: None
        when inserted, else the workout already stored under that id (which may be another
        athlete's). One statement when the id is new."""
        ...

    async def list_for_user(
        self, user_id: UUID, limit: int, after: WorkoutCursor | None = None
    ) -> list[Workout]:
        """The user's workouts, newest `started_at` first (ties by id), after the cursor."""
        ...

    async def started_between(
        self, user_id: UUID, first: datetime, last: datetime
    ) -> list[Workout]:
        """The user's workouts that started in [first, last], oldest first."""
        ...


class RollupRepository(Protocol):
    async def add(
        self, user_id: UUID, day: date, activity: Activity, contribution: DailyContribution
    ) -> None:
        """Add one workout's contribution to the (user, day, activity) row, creating it."""
        ...

    async def totals(self, user_id: UUID, first: date | None, last: date | None) -> Totals:
        """Sums over days in [first, last] (None: unbounded) per activity, plus distinct days.

        Activities come in name order, and each activity's days are summed in day order,
        so float sums are reproducible to the last bit."""
        ...

    async def totals_by_period(
        self, user_id: UUID, ranges: Mapping[Period, PeriodRange]
    ) -> dict[Period, Totals]:
        """`totals` over each range (in the order given) in one round trip, each exactly
        equal to what `totals(user_id, range.first, range.last)` answers."""
        ...

    async def first_day(self) -> date | None:
        """The earliest day with a rollup of anyone; None when there is none."""
        ...

    async def days(self, user_id: UUID) -> list[date]:
        """Every day on which the user has a rollup row, ascending."""
        ...

    async def standings(
        self, board: BoardId, first: date | None, last: date | None
    ) -> list[VersionedStanding]:
        """Every visible user's total on the board over [first, last], with their projection
        version read in the same statement. Users hidden from boards and zero totals are left
        out. Used to rebuild a board and to reconcile it."""
        ...


@dataclass(frozen=True)
class Group:
    id: UUID
    name: str
    invite_code: str
    owner_id: UUID
    created_at: datetime


class GroupRepository(Protocol):
    async def add(self, group: Group) -> None:
        """Insert the group and make its owner a member."""
        ...

    async def get(self, group_id: UUID) -> Group | None: ...

    async def add_member(self, group_id: UUID, user_id: UUID, joined_at: datetime) -> bool:
        """False if the user was already a member."""
        ...

    async def remove_member(self, group_id: UUID, user_id: UUID) -> bool:
        """False if the user was not a member."""
        ...

    async def is_member(self, group_id: UUID, user_id: UUID) -> bool: ...

    async def group_ids_of(self, user_id: UUID) -> list[UUID]: ...


@dataclass(frozen=True)
class HeldAchievement:
    achievement_id: str
    period_key: str
    awarded_at: datetime
    workout_id: UUID | None
    value: float | None


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

    async def for_user(self, user_id: UUID) -> list[HeldAchievement]:
        """Newest first."""
        ...

    async def for_workout(self, workout_id: UUID) -> list[str]:
        """Ids of the achievements that workout earned."""
        ...

    async def active_local_days(self, user_id: UUID, first: date, last: date) -> set[date]:
        """Days (in the athlete's own zone) in [first, last] with a counted workout."""
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

    async def revoke(self, user_id: UUID, achievement_id: str, period_key: str) -> bool:
        """Take an award back; False if it was not held."""
        ...

    async def claim_run(self, job: str, period_key: str, claimed_at: datetime) -> bool:
        """True for exactly one caller per (job, period key), however many workers ask."""
        ...

    async def claimed(self, job: str) -> set[str]:
        """The period keys `claim_run` has given out for `job`: the periods already done."""
        ...


@dataclass(frozen=True)
class StoredReport:
    body: str  # JSON
    final_rank: int | None
    updated_at: datetime


class ReportRepository(Protocol):
    async def save(self, user_id: UUID, month: str, body: str, updated_at: datetime) -> None:
        """Insert or replace the report's body (its final rank is kept)."""
        ...

    async def get(self, user_id: UUID, month: str) -> StoredReport | None: ...

    async def set_final_rank(self, user_id: UUID, month: str, rank: int | None) -> None: ...

    async def users_with_reports(self, month: str) -> list[UUID]: ...

    async def best_workout(self, user_id: UUID, first: date, last: date) -> Workout | None:
        """The counted workout with the most points on board days [first, last]; ties go
        to the earlier one."""
        ...


class ChallengeRepository(Protocol):
    async def add(self, challenge: Challenge) -> None: ...

    async def get(self, challenge_id: UUID) -> Challenge | None: ...

    async def visible_to(self, user_id: UUID, limit: int) -> list[Challenge]:
        """Global and activity challenges, and those of the user's groups, newest first."""
        ...

    async def standings(self, challenge: Challenge) -> list[Standing]:
        """Every visible athlete's score over the challenge's window (workouts that started
        in it); reached_at is the start of their last counted workout in the window."""
        ...


class UnitOfWork(Protocol):
    """One transaction over the record. The entry point owns it; use cases never commit."""

    users: UserRepository
    workouts: WorkoutRepository
    rollups: RollupRepository
    groups: GroupRepository
    achievements: AchievementRepository
    reports: ReportRepository
    challenges: ChallengeRepository

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


class Store(Protocol):
    """The system of record as a whole: units of work, plus lifecycle."""

    def unit_of_work(self, *, read_only: bool = False) -> UnitOfWork:
        """A transaction. Writers are serialised where the engine needs it (SQLite takes its
        write lock at BEGIN, so two writers never meet mid-transaction); `read_only` units
        take no write lock, and refuse writes where the engine can enforce it."""
        ...

    async def ping(self) -> None:
        """Raise StoreUnavailable if the database cannot be reached."""
        ...

    async def size_bytes(self) -> int:
        """How much disk the record takes."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- ranking


@dataclass(frozen=True)
class BoardPage:
    entries: list[RankedEntry]
    total: int


@dataclass(frozen=True)
class Projected:
    """What one `project` write did on one board instance, read in the same atomic step as
    the write, for live rank events: the user's standing just before and just after, and
    up to `behind` entries directly behind them after it (whom they may have just passed).

    Both standings are None, and `behind` empty, where the board is not loaded: a partial
    board (after a restart or a flush, before its first read) would report ranks that are
    too good, and live rank events must not announce those."""

    key: BoardKey
    before: RankedEntry | None
    after: RankedEntry | None
    behind: list[RankedEntry] = field(default_factory=list)


@dataclass(frozen=True)
class RankingStats:
    boards: int
    largest: list[tuple[BoardKey, int]]
    # False for an index in a process's own memory: another process sees none of it.
    shared: bool = True
    # None where the index cannot say (an index in a process's own memory).
    memory_bytes: int | None = None
    memory_limit_bytes: int | None = None
    evicted_keys: int | None = None


class RankingIndex(Protocol):
    """Leaderboards as a projection of the record.

    Scores are integers; among equal scores, the earlier `reached_at` is listed first.
    Ranks are competition ranks (1, 2, 2, 4)."""

    async def project(
        self, user_id: UUID, version: int, updates: Sequence[ScoreUpdate], *, behind: int = 0
    ) -> list[Projected]:
        """Write one user's absolute totals, in one round trip. On each board, an update is
        ignored if that board already holds a version >= `version` for the user, so
        out-of-order writers never leave a stale total. `score=None` removes the user from
        that board. Returns one `Projected` per update, in order; each board's write and
        reads are atomic together (not across boards)."""
        ...

    async def is_loaded(self, key: BoardKey) -> bool:
        """True once the board instance has been fully loaded from the record and not lost."""
        ...

    def rebuild_lock(self, key: BoardKey) -> AbstractAsyncContextManager[None]:
        """A lock that lets one reader rebuild a missing board while others wait; raises
        RankingUnavailable if it cannot be had in bounded time."""
        ...

    async def load(self, key: BoardKey, standings: Sequence[VersionedStanding]) -> None:
        """Fill a board from the record, version-checked like `project`, then mark it loaded.

        Members absent from `standings` are not removed (their version is unknown here):
        `drop` first for a clean rebuild, as `fitboard rebuild` and reconcile's repair do."""
        ...

    async def drop(self, key: BoardKey) -> None:
        """Forget a board instance entirely (it will be rebuilt on the next read)."""
        ...

    async def page(self, key: BoardKey, offset: int, limit: int) -> BoardPage: ...

    async def standing(self, key: BoardKey, user_id: UUID) -> RankedEntry | None: ...

    async def around(self, key: BoardKey, user_id: UUID, radius: int) -> list[RankedEntry]:
        """Up to `radius` entries either side of the user, the user included, in board order;
        empty if the user is not on the board."""
        ...

    async def scores(self, key: BoardKey) -> dict[UUID, int]:
        """Every member's score, for reconciliation."""
        ...

    async def loaded_keys(self) -> list[BoardKey]:
        """Every board instance currently held, for reconciliation."""
        ...

    async def stats(self, largest: int) -> RankingStats:
        """How many boards are held, the `largest` largest, and the memory they take."""
        ...

    async def ping(self) -> None:
        """Raise RankingUnavailable if the index cannot be reached."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- queue


@dataclass(frozen=True)
class Message:
    """A message on the exchange. `message_id` is the workout id for submissions."""

    routing_key: str
    body: bytes
    message_id: str
    headers: Mapping[str, str] = field(default_factory=dict)


# How long a retried message waits before it is delivered again, step by step: the n-th
# retry of a message waits the n-th step, and every retry after the last waits the last.
# Fixed steps, because a broker may keep one permanent delay queue per step (RabbitMQ).
RETRY_DELAYS_S: tuple[float, ...] = (0.5, 2.0, 8.0, 30.0)


@dataclass(frozen=True)
class QueueSpec:
    """A named durable queue and the routing keys bound to it on the topic exchange.

    `max_attempts` bounds the failures that count (a bug, a message that kills its
    consumer); `retry_delays_s` are the waits a retry may ask for."""

    name: str
    bindings: tuple[str, ...]
    max_attempts: int = 5
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        delays = self.retry_delays_s
        if not delays or any(d <= 0 for d in delays) or list(delays) != sorted(set(delays)):
            raise ValueError("retry_delays_s must be positive and strictly increasing")

    def retry_step(self, delay_s: float) -> float:
        """The shortest step that waits at least `delay_s`, or the longest step."""
        return next((d for d in self.retry_delays_s if d >= delay_s), self.retry_delays_s[-1])


@dataclass(frozen=True)
class DeadLetter:
    message: Message
    queue: str
    reason: str
    attempts: int
    failed_at: datetime


@dataclass(frozen=True)
class QueueDepth:
    ready: int  # waiting for a consumer
    retrying: int  # waiting out a retry delay
    dead_letters: int
    # None where the queue cannot tell: RabbitMQ does not count unacked messages for a
    # passive declare, and the SQLite queue does not know its consumers.
    in_flight: int | None
    consumers: int | None


class Delivery(Protocol):
    """One delivery of a message to a consumer. Exactly one of ack/retry/dead_letter is called."""

    @property
    def message(self) -> Message: ...

    @property
    def attempt(self) -> int:
        """1 on the first delivery; each counted retry and each redelivery after a crash
        adds one. A retry that does not count leaves it as it was."""
        ...

    @property
    def retries(self) -> int:
        """How many times this message was sent back with `retry`, counted or not."""
        ...

    async def ack(self) -> None: ...

    async def retry(self, reason: str, delay_s: float, *, counted: bool = True) -> None:
        """Deliver again after `delay_s` seconds, rounded to the spec's step at or above it
        (`QueueSpec.retry_step`). `counted` retries use up one of the message's attempts;
        the others (waiting for a dependency to return) do not. Never drops the message:
        if it cannot be put back now, it stays with the broker to be delivered again."""
        ...

    async def dead_letter(self, reason: str) -> None:
        """Move the message to the queue's dead letters with the reason."""
        ...


class MessageBroker(Protocol):
    async def declare(self, spec: QueueSpec) -> None:
        """Create the queue, its bindings and its dead-letter queue, if absent."""
        ...

    async def publish(self, message: Message, *, mandatory: bool = True) -> None:
        """Return only once the message is durably stored in every bound queue.

        Raises QueueUnavailable if the broker is down, blocked, or does not confirm within
        its bounded time, and — when `mandatory` — if no queue is bound to the routing key
        (a submission is never dropped silently). Events such as `workout.processed` are
        published with `mandatory=False`: having no subscriber yet is normal for them."""
        ...

    def consume(self, spec: QueueSpec, prefetch: int) -> AsyncIterator[Delivery]:
        """Deliveries of the queue, at most `prefetch` unacknowledged at a time.

        Messages not acked when the consumer dies are delivered again."""
        ...

    async def dead_letters(self, spec: QueueSpec, limit: int = 100) -> list[DeadLetter]: ...

    async def replay_dead_letters(
        self, spec: QueueSpec, message_ids: Sequence[str] | None = None
    ) -> int:
        """Put dead letters (all, or those ids) back on the queue with a fresh attempt count;
        returns how many."""
        ...

    async def depth(self, spec: QueueSpec) -> QueueDepth:
        """What the queue holds now, without taking or touching any message."""
        ...

    async def ping(self) -> None:
        """Raise QueueUnavailable if the broker cannot be reached."""
        ...

    async def close(self) -> None: ...


class InFlightWorkouts(Protocol):
    """Remembers accepted workouts that are not yet in the record, so their owner can poll
    them (202 queued) and nobody else can learn they exist."""

    async def mark(self, workout_id: UUID, user_id: UUID) -> None: ...

    async def owner(self, workout_id: UUID) -> UUID | None: ...

    async def clear(self, workout_id: UUID) -> None: ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- live push


class LiveNotifier(Protocol):
    """Pushes events to connected clients (Socket.IO), wherever they are connected.

    Best effort by design: the record and the boards are already right when it is called,
    and a client that missed an event catches up with the snapshot it gets on (re)subscribe.
    """

    async def to_athlete(self, user_id: UUID, event: str, payload: dict[str, Any]) -> None:
        """Send `event` to every connection of the athlete, on any API process."""
        ...

    async def boards_moved(self, keys: Sequence[BoardKey]) -> None:
        """Tell every API process that these board instances changed; each one sends its own
        subscribers a coalesced `leaderboard:update` snapshot."""
        ...

    async def close(self) -> None: ...


# --------------------------------------------------------------------------- auth


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...

    def verify(self, password_hash: str, password: str) -> bool: ...

    def needs_rehash(self, password_hash: str) -> bool: ...


@dataclass(frozen=True)
class AccessToken:
    """What a verified access token vouches for: who, and until when (Unix seconds)."""

    user_id: UUID
    expires_at: float


class TokenService(Protocol):
    def issue(self, user_id: UUID) -> tuple[str, int]:
        """A signed access token and its lifetime in seconds."""
        ...

    def verify(self, token: str) -> AccessToken:
        """The token's athlete and expiry, or AuthenticationFailed for a missing, expired
        or forged token."""
        ...
