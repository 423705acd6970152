"""Builds the adapters for a mode from Settings. The only place that chooses.

Nothing outside this module knows whether fitboard runs embedded (SQLite, in-process
ranking, SQLite queue) or in production (PostgreSQL, Redis, RabbitMQ)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
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
from fitboard.application.accounts.ports import PasswordHasher, TokenService
from fitboard.application.accounts.rate_limits import Budget, Budgets, RateLimiter
from fitboard.application.achievements.catalog import load_catalog
from fitboard.application.boards.ports import RankingIndex
from fitboard.application.imports.ports import ActivityFiles
from fitboard.application.live.ports import LiveNotifier
from fitboard.application.messaging.ports import MessageBroker, QueueSpec
from fitboard.application.ports import Clock
from fitboard.application.workouts.handlers import WorkerDeps
from fitboard.application.workouts.messages import workouts_queue
from fitboard.application.workouts.ports import InFlightWorkouts
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


class LiveRole(StrEnum):
    """What a process does for live push."""

    NONE = "none"  # maintenance commands: nobody to tell
    GATEWAY = "gateway"  # `fitboard serve`: clients connect here; it emits and relays
    WORKER = "worker"  # `fitboard worker`: emits only, through Redis (write-only)


@dataclass
class Container:
    settings: Settings
    store: SqlStore
    ranking: RankingIndex
    broker: MessageBroker
    inflight: InFlightWorkouts
    clock: Clock
    passwords: PasswordHasher
    tokens: TokenService
    rules: Rules
    workouts_queue: QueueSpec
    # Reads uploaded activity files; only in processes that serve the API.
    activity_files: ActivityFiles | None = None
    rate_limiter: RateLimiter | None = None
    budgets: Budgets | None = None
    live: LiveNotifier | None = None
    gateway: SocketIOGateway | None = None
    achievement_rules: list[AnyRule] = field(default_factory=list)
    _closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        return self.settings.mode is Mode.EMBEDDED

    def worker_deps(self) -> WorkerDeps:
        return WorkerDeps(
            store=self.store,
            ranking=self.ranking,
            broker=self.broker,
            inflight=self.inflight,
            clock=self.clock,
            rules=self.rules,
            clock_skew_s=self.settings.clock_skew_s,
            live=self.live,
            achievement_rules=self.achievement_rules,
        )

    async def close(self) -> None:
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:
                log.exception("error while closing")


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
    return ProcessPoolActivityFiles(settings.import_processes)


def _released(lock: DataDirLock) -> Callable[[], Awaitable[None]]:
    async def release() -> None:
        lock.release()

    return release


def _required(value: str | None) -> str:
    assert value, "production settings are validated to have every URL"
    return value


def check_can_serve(settings: Settings) -> None:
    """Raise DataDirInUse when another process already serves this embedded data
    directory, so a command can say so before it starts anything. `build` takes the lock
    itself; this only looks."""
    if settings.mode is Mode.EMBEDDED:
        check_free(settings.data_dir)


async def build(
    settings: Settings, *, clock: Clock | None = None, live: LiveRole = LiveRole.NONE
) -> Container:
    """Connect every adapter of the configured mode; migrate the embedded database.

    `live` says what the process does for live push: the API's gateway, a worker's
    write-only notifier, or nothing."""
    # Rules are validated before anything connects: a bad file fails fast, naming the rule.
    achievement_rules = load_catalog(settings.achievements_file)
    from fitboard.adapters.sql import SqlStore, upgrade_database

    database_url = settings.effective_database_url()
    queue = workouts_queue(settings.namespace, settings.worker_max_attempts)
    closers: list[Callable[[], Awaitable[None]]] = []
    if settings.mode is Mode.EMBEDDED:
        from fitboard.adapters.inflight_sqlite import SqliteInFlight
        from fitboard.adapters.queue_sqlite import SqliteBroker
        from fitboard.adapters.ranking_memory import MemoryRanking

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        if live is not LiveRole.NONE:
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
        if live is not LiveRole.NONE:
            # Holding the lock, this is the only consumer: leases left by one that died
            # are free now, not after the visibility timeout.
            expired = await sqlite_broker.expire_leases()
            if expired:
                log.info("took back %d messages from a process that stopped", expired)
        broker: MessageBroker = sqlite_broker
        inflight: InFlightWorkouts = SqliteInFlight(settings.queue_path)
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
        )
        inflight = RedisInFlight(settings.redis_url, prefix=f"{settings.namespace}:inflight:")
    closers += [store.close, ranking.close, broker.close, inflight.close]
    await broker.declare(queue)
    if settings.mode is Mode.EMBEDDED:
        # After the queue's file exists: every file of the data directory is made by now.
        restrict_to_owner(settings.data_dir)
    gateway: SocketIOGateway | None = None
    notifier: LiveNotifier | None = None
    rate_limiter: RateLimiter | None = None
    activity_files: ActivityFiles | None = None
    if live is LiveRole.GATEWAY:
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
    elif live is LiveRole.WORKER:
        notifier = build_worker_notifier(settings)
        if notifier is not None:
            closers.append(notifier.close)
    return Container(
        settings=settings,
        store=store,
        ranking=ranking,
        broker=broker,
        inflight=inflight,
        clock=clock or SystemClock(),
        passwords=Argon2Passwords(),
        tokens=JwtTokens(jwt_secret, settings.jwt_ttl_s),
        rules=Rules(settings.zone, settings.default_body_mass_kg),
        workouts_queue=queue,
        activity_files=activity_files,
        rate_limiter=rate_limiter,
        budgets=budgets(settings),
        live=notifier,
        gateway=gateway,
        achievement_rules=achievement_rules,
        _closers=closers,
    )
