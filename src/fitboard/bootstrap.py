"""Builds the adapters for a mode from Settings. The only place that chooses.

Nothing outside this module knows whether fitboard runs embedded (SQLite, in-process
ranking, SQLite queue) or in production (PostgreSQL, Redis, RabbitMQ)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from fitboard.adapters.clock_system import SystemClock
from fitboard.adapters.passwords_argon2 import Argon2Passwords
from fitboard.adapters.tokens_jwt import JwtTokens
from fitboard.application.handlers import WorkerDeps
from fitboard.application.messages import workouts_queue
from fitboard.application.ports import (
    Clock,
    InFlightWorkouts,
    MessageBroker,
    PasswordHasher,
    QueueSpec,
    RankingIndex,
    Store,
    TokenService,
)
from fitboard.config import Mode, Settings
from fitboard.domain.boards import BoardKey, Period
from fitboard.domain.evaluation import Rules

log = logging.getLogger(__name__)

# How long a period board lives in Redis after its last write: the period's own length
# plus the retention window. The record keeps history; an expired board is rebuilt on read.
_PERIOD_DAYS = {Period.DAY: 1, Period.WEEK: 7, Period.MONTH: 31, Period.YEAR: 366}


@dataclass
class Container:
    settings: Settings
    store: Store
    ranking: RankingIndex
    broker: MessageBroker
    inflight: InFlightWorkouts
    clock: Clock
    passwords: PasswordHasher
    tokens: TokenService
    rules: Rules
    workouts_queue: QueueSpec
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


async def build(settings: Settings, *, clock: Clock | None = None) -> Container:
    """Connect every adapter of the configured mode; migrate the embedded database."""
    from fitboard.adapters.sql import SqlStore, upgrade_database

    database_url = settings.effective_database_url()
    queue = workouts_queue(settings.namespace, settings.worker_max_attempts)
    closers: list[Callable[[], Awaitable[None]]] = []
    if settings.mode is Mode.EMBEDDED:
        from fitboard.adapters.inflight_sqlite import SqliteInFlight
        from fitboard.adapters.queue_sqlite import SqliteBroker
        from fitboard.adapters.ranking_memory import MemoryRanking

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await upgrade_database(database_url)
        jwt_secret = settings.jwt_secret or embedded_jwt_secret(settings.data_dir)
        store: Store = SqlStore(database_url)
        ranking: RankingIndex = MemoryRanking()
        broker: MessageBroker = SqliteBroker(
            settings.queue_path, visibility_timeout_s=settings.queue_visibility_timeout_s
        )
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
            settings.redis_url, retention_s_for=retention_seconds(settings)
        )
        broker = RabbitBroker(
            settings.amqp_url,
            exchange=settings.namespace,
            confirm_timeout_s=settings.queue_confirm_timeout_s,
        )
        inflight = RedisInFlight(settings.redis_url)
    closers += [store.close, ranking.close, broker.close]
    if hasattr(inflight, "close"):
        closers.append(inflight.close)
    await broker.declare(queue)
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
        _closers=closers,
    )
