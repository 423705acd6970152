"""Builds a process from Settings: the adapters of the configured mode, the use cases
bound to them once (`Services`), and the background tasks the process must run. The only
place that chooses.

Nothing outside this module (and config.py, which defines the setting) knows whether
fitboard runs embedded (SQLite, in-process ranking, SQLite queue, and the worker and the
reports consumer inside `fitboard serve`) or in production (PostgreSQL, Redis, RabbitMQ,
each consumer a process of its own). Routers, the CLI and the runners call the services
they are handed, and run the tasks they are given."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

from fitboard.adapters.clock_system import SystemClock
from fitboard.adapters.data_dir_lock import DataDirLock, check_free
from fitboard.adapters.owner_only import restrict_to_owner
from fitboard.adapters.passwords_argon2 import Argon2Passwords
from fitboard.adapters.rate_limiter import LimitsRateLimiter
from fitboard.adapters.redis_client import retry_options
from fitboard.adapters.tokens_jwt import JwtTokens
from fitboard.application.accounts.admins import Admins
from fitboard.application.accounts.athletes import Athletes
from fitboard.application.accounts.deletion import AccountDeletion
from fitboard.application.accounts.export import AccountExport
from fitboard.application.accounts.ports import GenerationChanges, PasswordHasher, TokenService
from fitboard.application.accounts.rate_limits import Budget, Budgets, RateLimiter, RateLimits
from fitboard.application.accounts.sessions import LocalGenerationChanges, Sessions
from fitboard.application.achievements.catalog import load_catalog
from fitboard.application.achievements.judging import Achievements
from fitboard.application.boards.maintenance import BoardMaintenance
from fitboard.application.boards.ports import DisplayNames, NameChanges, RankingIndex
from fitboard.application.boards.projection import Projection
from fitboard.application.boards.reading import Boards, NamesFromRecord
from fitboard.application.groups.challenges import Challenges
from fitboard.application.groups.membership import Groups
from fitboard.application.imports.importing import Imports
from fitboard.application.imports.ports import ActivityFiles, ImportLimits
from fitboard.application.live.challenges import LiveChallenges
from fitboard.application.live.events import LiveUpdates
from fitboard.application.live.ports import LiveNotifier
from fitboard.application.messaging.consuming import LoopShare
from fitboard.application.messaging.partitions import WorkerRoster, partitions_of
from fitboard.application.messaging.ports import RETRY_DELAYS_S, MessageBroker, QueueSpec
from fitboard.application.operations.operating import Operations
from fitboard.application.ports import Clock, QueueUnavailable
from fitboard.application.seeding.seeding import Seeding
from fitboard.application.workouts.change_handlers import ChangeHandlers
from fitboard.application.workouts.changes import WorkoutChanges
from fitboard.application.workouts.corrections import Corrections
from fitboard.application.workouts.handlers import WorkoutHandlers
from fitboard.application.workouts.ingest import Ingest
from fitboard.application.workouts.messages import WORKOUT_PROCESSED, workouts_queue
from fitboard.application.workouts.moderation import Moderation
from fitboard.application.workouts.ports import InFlightWorkouts, QueueAndMark
from fitboard.application.workouts.processing import Processing
from fitboard.application.workouts.queries import WorkoutQueries
from fitboard.config import Mode, Settings
from fitboard.domain.achievements import AnyRule
from fitboard.domain.boards import BoardKey, Period
from fitboard.domain.evaluation import Rules

if TYPE_CHECKING:
    from fitboard.adapters.importers.files_process_pool import (
        InlineActivityFiles,
        ProcessPoolActivityFiles,
    )
    from fitboard.adapters.live_socketio import SocketIOGateway
    from fitboard.adapters.sql import SqlStore

log = logging.getLogger(__name__)

# How long a period board lives in Redis after its last write: the period's own length
# plus the retention window. The record keeps history; an expired board is rebuilt on read.
_PERIOD_DAYS = {Period.DAY: 1, Period.WEEK: 7, Period.MONTH: 31, Period.YEAR: 366}


class Role(StrEnum):
    """What a process is for: it decides the live push, the lock on an embedded data
    directory, and the background tasks."""

    # `fitboard serve`: answers HTTP, holds the live gateway (clients connect here). In
    # embedded mode it also runs the worker and the reports consumer.
    API = "api"
    # `fitboard worker`: consumes submitted workouts, judges closed periods; emits live
    # events through Redis (write-only).
    WORKER = "worker"
    # `fitboard reports`: keeps the monthly reports.
    REPORTS = "reports"
    # A command that does its work and leaves (rebuild, status, ...): nobody to tell.
    MAINTENANCE = "maintenance"


class Task(StrEnum):
    """Something a process runs beside (or instead of) answering requests, until asked
    to stop. Bootstrap says which a process runs; its entry point knows how
    (entrypoints/process.py)."""

    WORKER = "worker"  # consumes workout.submitted
    PLACEMENTS = "placements"  # judges the placements of each closed period
    REPORTS = "reports"  # consumes workout.processed into monthly reports
    FINAL_RANKS = "final ranks"  # ranks each closed month's reports
    METRICS_SAMPLER = "metrics sampler"  # the queue's depth and the boards, for /metrics
    # Embedded: maintenance of the boards in this process's memory, asked for by
    # `fitboard reconcile` through a socket in the data directory.
    MAINTENANCE_SOCKET = "maintenance socket"


@dataclass(frozen=True)
class Services:
    """The use cases, each feature's bound once to the adapters of the configured mode.

    (The monthly reports are bound by the processes that run them, entrypoints/reports:
    nothing on the ingest path or the worker's may import them, bootstrap included.)"""

    tokens: TokenService
    athletes: Athletes
    sessions: Sessions
    account_deletion: AccountDeletion
    account_export: AccountExport
    admins: Admins
    rate_limits: RateLimits
    ingest: Ingest
    workouts: WorkoutQueries
    worker: WorkoutHandlers
    # The worker's handler of changes to stored workouts (decisions, corrections).
    changes: ChangeHandlers
    moderation: Moderation
    corrections: Corrections
    boards: Boards
    maintenance: BoardMaintenance
    achievements: Achievements
    groups: Groups
    challenges: Challenges
    live: LiveUpdates
    operations: Operations
    seeding: Seeding
    # Only API processes read uploaded files.
    imports: Imports | None = None


@dataclass(frozen=True)
class ModeDescription:
    """How to name the configured mode to an operator."""

    name: str
    where: str


@dataclass
class Container:
    """One process: its adapters, its services, and its background tasks."""

    settings: Settings
    role: Role
    store: SqlStore
    ranking: RankingIndex
    broker: MessageBroker
    inflight: InFlightWorkouts
    clock: Clock
    passwords: PasswordHasher
    tokens: TokenService
    rules: Rules
    workouts_queue: QueueSpec
    reports_queue: QueueSpec
    # The names boards show, and how a change to one is told (`build_names`).
    names: DisplayNames
    name_changes: NameChanges
    # How a change of an athlete's token generation is told (`build_generation_changes`).
    generation_changes: GenerationChanges
    # What `fitboard serve`, `fitboard worker` or `fitboard reports` runs beside or
    # instead of answering requests (entrypoints/process.py runs them).
    background: list[Task] = field(default_factory=list)
    # The workers' queue's partitions (FITBOARD_WORKOUT_PARTITIONS; none in embedded mode
    # or for 1), and a worker's roster, by which it owns some of them (a worker only).
    workout_partitions: tuple[QueueSpec, ...] = ()
    roster: WorkerRoster | None = None
    live: LiveNotifier | None = None
    gateway: SocketIOGateway | None = None
    achievement_rules: list[AnyRule] = field(default_factory=list)
    # The one pacing of the consumers that share the event loop with the API (embedded
    # `fitboard serve`: the worker and the reports consumer), None elsewhere
    # (`consumers_loop_share`).
    loop_share: LoopShare | None = None
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Bound by `build` once the adapters are in place.
    services: Services = field(init=False)

    @property
    def embedded(self) -> bool:
        return self.settings.mode is Mode.EMBEDDED

    async def close(self) -> None:
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:
                log.exception("error while closing")


def reports_queue(
    namespace: str, max_attempts: int, retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
) -> QueueSpec:
    """The monthly reports consumer's queue: every `workout.processed`. Named here, in the
    topology, not in the reports feature, so that every process declares it (`topology`)
    without importing the reports consumer."""
    return QueueSpec(f"{namespace}.reports", (WORKOUT_PROCESSED,), max_attempts, retry_delays_s)


def topology(
    namespace: str,
    max_attempts: int,
    retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S,
    partitions: int = 1,
) -> list[QueueSpec]:
    """Every consumer queue on the exchange: the workers' queue, the reports queue, then
    the workers' queue's `partitions` (none for 1). Each process declares them all when
    it starts, whatever its role: a message is kept only by the queues that exist when it
    is published (the worker publishes `workout.processed` with mandatory=False), so the
    reports queue must exist before the first workout is processed, not only once
    `fitboard reports` has run; and an API process must find its partitions bound, or
    its mandatory publishes would be refused. Declaring is idempotent; a new consumer's
    queue goes here."""
    workouts = workouts_queue(namespace, max_attempts, retry_delays_s)
    return [
        workouts,
        reports_queue(namespace, max_attempts, retry_delays_s),
        *partitions_of(workouts, partitions),
    ]


def describe(settings: Settings) -> ModeDescription:
    """The mode's name and where it keeps its data, for an operator to read."""
    if settings.mode is Mode.EMBEDDED:
        return ModeDescription(settings.mode.value, f"data in {settings.data_dir}")
    return ModeDescription(settings.mode.value, "PostgreSQL, Redis and RabbitMQ")


def embedded_jwt_secret(data_dir: Path) -> str:
    """Embedded mode keeps a generated secret beside its data, so tokens survive restarts."""
    path = data_dir / "jwt-secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(secret)
    return secret


def retention_seconds(settings: Settings) -> Callable[[BoardKey], int | None]:
    def ttl(key: BoardKey) -> int | None:
        days = _PERIOD_DAYS.get(key.board.period)
        if days is None:
            return None
        return (days + settings.board_retention_days) * 86400

    return ttl


def build_gateway(settings: Settings) -> SocketIOGateway:
    """The Socket.IO server of an API process. Embedded: python-socketio's in-memory
    manager, one process. Production: its Redis manager, so that events emitted by any
    process reach clients connected to any API process."""
    import socketio

    from fitboard.adapters.live_socketio import (
        BatchingRedisManager,
        FanoutManager,
        RedisBoardsFeed,
        SocketIOGateway,
        boards_channel,
        socketio_channel,
    )

    # The HTTP API's allowed origins; python-socketio's default (None) is same origin only.
    origins = settings.cors_origins or None
    if settings.mode is Mode.EMBEDDED:
        return SocketIOGateway(
            socketio.AsyncServer(
                async_mode="asgi", client_manager=FanoutManager(), cors_allowed_origins=origins
            )
        )
    assert settings.redis_url
    manager = BatchingRedisManager(
        settings.redis_url,
        channel=socketio_channel(settings.namespace),
        # No socket timeout: this connection also listens, and a quiet channel is fine.
        redis_options={"socket_connect_timeout": 2, "health_check_interval": 15, **retry_options()},
    )
    return SocketIOGateway(
        socketio.AsyncServer(
            async_mode="asgi", client_manager=manager, cors_allowed_origins=origins
        ),
        feed=RedisBoardsFeed(settings.redis_url, boards_channel(settings.namespace)),
        manager=manager,
    )


async def build_names(
    settings: Settings, role: Role, store: SqlStore
) -> tuple[DisplayNames, NameChanges, Callable[[], Awaitable[None]] | None]:
    """The display names boards show, how a change to one is told, and what to close.

    API processes read boards on every request and change athletes: they keep names in
    memory, told of changes in process (embedded: the only process) or on the Redis
    channel `<namespace>:names` (production: every API process). Other processes read
    boards rarely (rebuilds, snapshots) and change no athlete: they read the record."""
    from_record = NamesFromRecord(store)
    if role is not Role.API:
        return from_record, from_record, None
    from fitboard.adapters.display_names_cache import CachedDisplayNames

    if settings.mode is Mode.EMBEDDED:
        cached = CachedDisplayNames(from_record)
        return cached, cached, None
    from fitboard.adapters.name_changes_redis import RedisNameChanges, names_channel

    cached = CachedDisplayNames(from_record, hearing=False)
    changes = RedisNameChanges(
        _required(settings.redis_url), names_channel(settings.namespace), cached
    )
    await changes.start()
    return cached, changes, changes.close


async def build_generation_changes(
    settings: Settings, role: Role
) -> tuple[GenerationChanges, Callable[[], Awaitable[None]] | None]:
    """How a revocation reaches the API processes that keep token generations: in process
    (embedded: the only one) or on the Redis channel `<namespace>:generations`, which API
    processes also hear (adapters/generation_changes_redis.py)."""
    if settings.mode is Mode.EMBEDDED:
        return LocalGenerationChanges(), None
    from fitboard.adapters.generation_changes_redis import (
        RedisGenerationChanges,
        generations_channel,
    )

    changes = RedisGenerationChanges(
        _required(settings.redis_url), generations_channel(settings.namespace)
    )
    if role is Role.API:
        await changes.start()
    return changes, changes.close


def build_worker_notifier(settings: Settings) -> LiveNotifier | None:
    """A worker's live push: python-socketio's Redis manager, write-only (it has no clients
    of its own), and the boards-moved channel the API processes listen to. None in
    embedded mode, whose worker runs inside `fitboard serve` and uses its gateway."""
    if settings.mode is Mode.EMBEDDED:
        return None
    from fitboard.adapters.live_socketio import (
        BatchingRedisManager,
        RedisBoardsFeed,
        SocketIONotifier,
        boards_channel,
        socketio_channel,
    )

    assert settings.redis_url
    manager = BatchingRedisManager(
        settings.redis_url,
        channel=socketio_channel(settings.namespace),
        write_only=True,
        redis_options={"socket_timeout": 2, "socket_connect_timeout": 2, **retry_options()},
    )
    feed = RedisBoardsFeed(settings.redis_url, boards_channel(settings.namespace))
    return SocketIONotifier(manager, feed.publish, closers=[manager.aclose, feed.close])


def budgets(settings: Settings) -> Budgets:
    minute, hour, day = 60, 3600, 86400
    return Budgets(
        login_per_username=Budget(
            "login-username", settings.login_attempts_per_minute_per_username, minute
        ),
        login_per_ip=Budget("login-ip", settings.login_attempts_per_minute_per_ip, minute),
        registrations_per_ip=Budget("register-ip", settings.registrations_per_hour_per_ip, hour),
        workouts_per_minute=Budget(
            "workouts-minute", settings.workouts_per_minute_per_athlete, minute
        ),
        workouts_per_day=Budget("workouts-day", settings.workouts_per_day_per_athlete, day),
    )


def build_activity_files(settings: Settings) -> ProcessPoolActivityFiles | InlineActivityFiles:
    from fitboard.adapters.importers.files_process_pool import (
        InlineActivityFiles,
        ProcessPoolActivityFiles,
    )

    if settings.import_processes == 0:
        return InlineActivityFiles()
    return ProcessPoolActivityFiles(settings.import_processes, settings.import_max_waiting)


def _released(lock: DataDirLock) -> Callable[[], Awaitable[None]]:
    async def release() -> None:
        lock.release()

    return release


def _required(value: str | None) -> str:
    assert value, "production settings are validated to have every URL"
    return value


# In an embedded data directory: where `fitboard serve` answers maintenance requests.
MAINTENANCE_SOCKET = "maintenance.sock"


def maintenance_socket(settings: Settings) -> Path | None:
    """Where to ask for maintenance of the boards when they live in the memory of the
    process serving an embedded data directory; None in production, where any process
    reads them in Redis."""
    if settings.mode is Mode.EMBEDDED:
        return settings.data_dir / MAINTENANCE_SOCKET
    return None


def check_can_serve(settings: Settings) -> None:
    """Raise DataDirInUse when another process already serves this embedded data
    directory, so a command can say so before it starts anything. `build` takes the lock
    itself; this only looks."""
    if settings.mode is Mode.EMBEDDED:
        check_free(settings.data_dir)


async def upgrade_database(settings: Settings) -> None:
    """Apply the record's migrations (`fitboard db upgrade`), making the embedded data
    directory first if it does not exist."""
    from fitboard.adapters.sql import upgrade_database as upgrade

    if settings.mode is Mode.EMBEDDED:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(settings.effective_database_url())


@contextlib.asynccontextmanager
async def started(
    settings: Settings, role: Role = Role.MAINTENANCE, *, clock: Clock | None = None
) -> AsyncIterator[Container]:
    """`build`, and close everything on leaving."""
    container = await build(settings, role=role, clock=clock)
    try:
        yield container
    finally:
        await container.close()


# Pauses between attempts to reach the broker at start: growing, then steady.
STARTUP_RETRY_PAUSES_S = (0.5, 1.0, 2.0, 5.0)


async def declare_when_reachable(
    broker: MessageBroker, queues: Sequence[QueueSpec], *, wait_s: float
) -> None:
    """Declare every queue, trying again while the broker is unreachable for up to
    `wait_s` seconds (one log line per failed attempt); then raise its QueueUnavailable."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + wait_s
    for attempt in itertools.count():
        try:
            for spec in queues:
                await broker.declare(spec)
            return
        except QueueUnavailable as exc:
            pause = STARTUP_RETRY_PAUSES_S[min(attempt, len(STARTUP_RETRY_PAUSES_S) - 1)]
            left = give_up_at - loop.time()
            if left <= 0:
                raise
            log.warning(
                "the queue is not reachable yet (%s); trying again in %.1f s, for %.0f s more",
                exc,
                pause,
                left,
            )
            await asyncio.sleep(min(pause, left))


async def build(
    settings: Settings,
    *,
    role: Role = Role.MAINTENANCE,
    clock: Clock | None = None,
    api_busy: Callable[[], bool] | None = None,
) -> Container:
    """Connect every adapter of the configured mode (migrating the embedded database),
    bind the services to them, and list the background tasks of `role`. `api_busy`:
    whether the process's API has requests open (an API process's own), which paces
    embedded mode's consumers (`consumers_loop_share`)."""
    # Rules are validated before anything connects: a bad file fails fast, naming the rule.
    achievement_rules = load_catalog(settings.achievements_file)
    from fitboard.adapters.sql import SqlStore, upgrade_database

    database_url = settings.effective_database_url()
    # Embedded mode has one consumer of its queue: nothing to split it for.
    partitions = 1 if settings.mode is Mode.EMBEDDED else settings.workout_partitions
    queues = topology(
        settings.namespace,
        settings.worker_max_attempts,
        settings.worker_retry_delays_s,
        partitions,
    )
    queue, reports, *queue_partitions = queues
    closers: list[Callable[[], Awaitable[None]]] = []
    if settings.mode is Mode.EMBEDDED:
        from fitboard.adapters.inflight_sqlite import SqliteInFlight
        from fitboard.adapters.queue_sqlite import SqliteBroker
        from fitboard.adapters.ranking_memory import MemoryRanking

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        holds_data = role in (Role.API, Role.WORKER)
        if holds_data:
            # The process that consumes the queue and holds the boards must be the only one.
            lock = DataDirLock.acquire(settings.data_dir)
            closers.append(_released(lock))
        await upgrade_database(database_url)
        jwt_secret = settings.jwt_secret or embedded_jwt_secret(settings.data_dir)
        store = SqlStore(database_url)
        ranking: RankingIndex = MemoryRanking()
        sqlite_broker = SqliteBroker(
            settings.queue_path, visibility_timeout_s=settings.queue_visibility_timeout_s
        )
        if holds_data:
            # Holding the lock, this is the only consumer: leases left by one that died
            # are free now, not after the visibility timeout.
            expired = await sqlite_broker.expire_leases()
            if expired:
                log.info("took back %d messages from a process that stopped", expired)
        broker: MessageBroker = sqlite_broker
        # The markers live in the queue's file and ride its writes: one writer on it.
        inflight: InFlightWorkouts = SqliteInFlight(settings.queue_path, writes_with=sqlite_broker)
    else:
        from fitboard.adapters.inflight_redis import RedisInFlight
        from fitboard.adapters.queue_rabbitmq import RabbitBroker
        from fitboard.adapters.ranking_redis import RedisRanking

        assert settings.redis_url
        assert settings.amqp_url
        assert settings.jwt_secret
        jwt_secret = settings.jwt_secret
        store = SqlStore(database_url)
        ranking = RedisRanking.from_url(
            settings.redis_url,
            retention_s_for=retention_seconds(settings),
            namespace=settings.namespace,
        )
        broker = RabbitBroker(
            settings.amqp_url,
            exchange=settings.namespace,
            confirm_timeout_s=settings.queue_confirm_timeout_s,
            max_items_per_message=settings.queue_items_per_message,
            partitions=partitions,
        )
        inflight = RedisInFlight(settings.redis_url, prefix=f"{settings.namespace}:inflight:")
    closers += [store.close, ranking.close, broker.close, inflight.close]
    # A long-running process started before its broker comes up by itself; a one-shot
    # command answers at once.
    wait_s = 0.0 if role is Role.MAINTENANCE else settings.startup_wait_s
    try:
        await declare_when_reachable(broker, queues, wait_s=wait_s)
    except BaseException:
        for close in reversed(closers):
            with contextlib.suppress(Exception):
                await close()
        raise
    if settings.mode is Mode.EMBEDDED:
        # After the queue's file exists: every file of the data directory is made by now.
        restrict_to_owner(settings.data_dir)
    gateway: SocketIOGateway | None = None
    notifier: LiveNotifier | None = None
    rate_limiter: RateLimiter | None = None
    activity_files: ActivityFiles | None = None
    if role is Role.API:
        activity_files = build_activity_files(settings)
        closers.append(activity_files.close)
        # Only the API answers the requests that budgets bound.
        rate_limiter = (
            LimitsRateLimiter.in_memory()
            if settings.mode is Mode.EMBEDDED
            else LimitsRateLimiter.on_redis(
                _required(settings.redis_url), namespace=settings.namespace
            )
        )
        closers.append(rate_limiter.close)
        gateway = build_gateway(settings)
        notifier = gateway.notifier
        closers.append(gateway.close)
    elif role is Role.WORKER:
        notifier = build_worker_notifier(settings)
        if notifier is not None:
            closers.append(notifier.close)
    roster: WorkerRoster | None = None
    if role is Role.WORKER and queue_partitions:
        from fitboard.adapters.sql.worker_roster import PostgresWorkerRoster

        roster = PostgresWorkerRoster(store.engine, settings.namespace)
        # Before the store's pool closes (closers run last first).
        closers.append(roster.leave)
    names, name_changes, close_names = await build_names(settings, role, store)
    if close_names is not None:
        closers.append(close_names)
    generation_changes, close_generations = await build_generation_changes(settings, role)
    if close_generations is not None:
        closers.append(close_generations)
    clock = clock or SystemClock()
    passwords = Argon2Passwords()
    tokens = JwtTokens(jwt_secret, settings.jwt_ttl_s)
    rules = Rules(settings.zone, settings.default_body_mass_kg)
    container = Container(
        settings=settings,
        role=role,
        store=store,
        ranking=ranking,
        broker=broker,
        inflight=inflight,
        clock=clock,
        passwords=passwords,
        tokens=tokens,
        rules=rules,
        workouts_queue=queue,
        reports_queue=reports,
        workout_partitions=tuple(queue_partitions),
        roster=roster,
        live=notifier,
        gateway=gateway,
        names=names,
        name_changes=name_changes,
        generation_changes=generation_changes,
        achievement_rules=achievement_rules,
        background=background_tasks(settings, role),
        loop_share=consumers_loop_share(settings, api_busy),
        _closers=closers,
    )
    container.services = _services(container, rate_limiter, activity_files)
    return container


def consumers_loop_share(
    settings: Settings, api_busy: Callable[[], bool] | None = None
) -> LoopShare | None:
    """The pacing of the consumers' batches: in embedded mode the worker and the reports
    consumer share the event loop with the API, and one `LoopShare` paces both, to
    `Settings.embedded_worker_loop_share` of the loop together (1 turns pacing off); a
    consumer process of its own has the loop to itself (None). They take batches of up to
    `Settings.embedded_idle_batch_size` (`consumers_batch_size`) and handle them whole
    while `api_busy()` says the API has no request open, else in parts of
    `Settings.worker_batch_size`; a process without an API (`api_busy` None) always
    handles them whole. Made while `build` runs, in the thread of the loop the consumers
    run on, whose processor time it reads."""
    if settings.mode is not Mode.EMBEDDED or settings.embedded_worker_loop_share >= 1:
        return None
    return LoopShare(
        settings.embedded_worker_loop_share,
        part_size=settings.worker_batch_size,
        rest_busy=api_busy if api_busy is not None else _no_api,
    )


def _no_api() -> bool:
    return False


def consumers_batch_size(settings: Settings, share: LoopShare | None) -> int:
    """The most messages the worker and the reports consumer take from the queue at once:
    embedded mode's beside the API, paced by `share`, take bigger batches than they hand
    over while the API is busy (`consumers_loop_share`)."""
    return settings.worker_batch_size if share is None else settings.embedded_idle_batch_size


def import_limits(settings: Settings) -> ImportLimits:
    return ImportLimits(
        max_file_bytes=settings.import_max_bytes,
        max_archive_files=settings.import_max_archive_files,
        max_archive_bytes=settings.import_max_archive_bytes,
        max_read_cpu_s=settings.import_read_cpu_s,
    )


def queue_and_mark(c: Container) -> QueueAndMark | None:
    """Embedded mode: the in-flight table rides the queue's file (`build`), so a
    submission's mark is written in its message's own transaction, one fsync for both.
    Elsewhere the queue (RabbitMQ) and the marks (Redis) are written one after the other."""
    if not c.embedded:
        return None
    from fitboard.adapters.inflight_sqlite import SqliteInFlight

    return c.inflight if isinstance(c.inflight, SqliteInFlight) else None


def _services(
    c: Container, rate_limiter: RateLimiter | None, activity_files: ActivityFiles | None
) -> Services:
    """Every feature's use cases, bound to the container's adapters."""
    from fitboard.adapters.sql.board_instances import SqlRecordedBoards

    settings, store, ranking, broker, inflight, clock = (
        c.settings,
        c.store,
        c.ranking,
        c.broker,
        c.inflight,
        c.clock,
    )
    zone = c.rules.board_zone
    boards = Boards(store, ranking, clock, zone, c.names)
    projection = Projection(store, ranking)
    ingest = Ingest(
        broker, inflight, store, clock, settings.clock_skew_s, together=queue_and_mark(c)
    )
    challenges = Challenges(store, clock)
    live = LiveUpdates(c.live, boards, LiveChallenges(challenges, clock, zone))
    processing = Processing(store, ranking, inflight, clock, c.rules, c.achievement_rules)
    return Services(
        tokens=c.tokens,
        athletes=Athletes(store, c.passwords, projection, clock, c.name_changes),
        sessions=Sessions(store, c.passwords, c.tokens, c.generation_changes),
        account_deletion=AccountDeletion(store, ranking, c.name_changes, c.generation_changes),
        account_export=AccountExport(store),
        admins=Admins(store),
        rate_limits=RateLimits(rate_limiter, budgets(settings)),
        ingest=ingest,
        workouts=WorkoutQueries(store, inflight),
        worker=WorkoutHandlers(processing, broker, live, clock, settings.clock_skew_s),
        changes=ChangeHandlers(
            WorkoutChanges(
                store, ranking, clock, c.rules, c.achievement_rules, settings.clock_skew_s
            ),
            broker,
            live,
        ),
        moderation=Moderation(store, broker, clock),
        corrections=Corrections(store, broker, inflight, clock, settings.clock_skew_s),
        boards=boards,
        maintenance=BoardMaintenance(ranking, clock, zone, SqlRecordedBoards(store.engine)),
        achievements=Achievements(store, c.achievement_rules, clock, zone),
        groups=Groups(store, projection, clock),
        challenges=challenges,
        live=live,
        operations=Operations(
            store,
            ranking,
            broker,
            c.workouts_queue,
            inflight,
            clock,
            partitions=c.workout_partitions,
        ),
        seeding=Seeding(store, ingest, c.passwords, clock),
        imports=None
        if activity_files is None
        else Imports(ingest, activity_files, import_limits(settings), inflight, store),
    )


def background_tasks(settings: Settings, role: Role) -> list[Task]:
    """What a process of `role` runs beside answering requests (or instead)."""
    worker = [Task.WORKER, Task.PLACEMENTS]
    reports = [Task.REPORTS, Task.FINAL_RANKS]
    match role:
        case Role.API:
            tasks = [Task.METRICS_SAMPLER] if settings.expose_metrics else []
            if settings.mode is Mode.EMBEDDED:
                # Embedded mode is one process: the worker and the reports consumer run
                # beside the API, each on its own queue exactly as in production.
                tasks += [*worker, *reports, Task.MAINTENANCE_SOCKET]
            return tasks
        case Role.WORKER:
            return worker
        case Role.REPORTS:
            return reports
        case Role.MAINTENANCE:
            return []
