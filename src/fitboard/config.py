"""Settings, read from the environment (prefix FITBOARD_) by pydantic-settings."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fitboard.application.messaging.ports import RETRY_DELAYS_S

# A secret anybody can read in this file must never sign production tokens.
_KNOWN_WEAK_SECRETS = {"", "changeme", "change-me", "secret", "fitboard", "dev"}
MIN_JWT_SECRET_LENGTH = 32
# 32 random URL-safe characters have about 25 different ones; fewer than 10 is a pattern.
MIN_JWT_SECRET_DISTINCT = 10


class Mode(StrEnum):
    EMBEDDED = "embedded"
    PRODUCTION = "production"


def _default_data_dir() -> Path:
    return Path.home() / ".local" / "share" / "fitboard"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FITBOARD_", extra="ignore")

    # `embedded` (SQLite, in-process queue and ranking, one process) or `production`.
    mode: Mode = Mode.EMBEDDED
    # Embedded mode's files: the record, the queue, the generated token secret.
    data_dir: Path = Field(default_factory=_default_data_dir)

    # Production's services: PostgreSQL (postgresql+asyncpg://...), Redis (redis://...; a
    # Redis Cluster: redis+cluster://host:port,host:port,..., every node a startup node)
    # and RabbitMQ (amqp://..., the path is the vhost; for a cluster, every node's URL
    # separated by commas: a process connects to the first node that answers and moves to
    # the next when its node is lost). Required in production mode.
    database_url: str | None = None
    redis_url: str | None = None
    amqp_url: str | None = None

    # Names the RabbitMQ exchange and queues, the Redis keys and the Socket.IO channels, so
    # deployments sharing a broker or a Redis database stay apart.
    namespace: str = Field(default="fitboard", pattern=r"^[a-z][a-z0-9_-]{0,39}$")

    # What signs access tokens, and how long one lasts. Production needs a random secret
    # of 32 or more characters; embedded mode generates one and keeps it in DATA_DIR.
    jwt_secret: str | None = None
    jwt_ttl_s: int = Field(default=3600, ge=60, le=30 * 24 * 3600)

    # The IANA time zone where the boards' days, weeks, months and years are cut.
    board_timezone: str = "UTC"
    # The body mass calories are computed with for an athlete whose profile has none.
    default_body_mass_kg: float = Field(default=70.0, gt=20, lt=400)
    # The achievement rules (YAML); the shipped defaults when unset.
    achievements_file: Path | None = None
    # Weekly and monthly placements and monthly final ranks are judged this long after the
    # period closes, so a workout done before the close and synced after it still counts.
    period_close_grace_s: int = Field(default=24 * 3600, ge=0, le=31 * 24 * 3600)
    # Boards of a closed period stay in the ranking index this long after it ends; the
    # record keeps the history and rebuilds them on demand.
    board_retention_days: int = Field(default=35, ge=1)

    # The longest the API waits for the queue's confirm before answering 503.
    queue_confirm_timeout_s: float = Field(default=5.0, gt=0)
    # RabbitMQ: messages published together (one process's group commit) that go the same
    # way travel up to this many to one AMQP message, which the broker stores, confirms
    # and delivers once; consumers hand out each on its own. 1: one AMQP message each.
    queue_items_per_message: int = Field(default=100, ge=1, le=1000)
    # How long `serve`, `worker` and `reports` wait at start for RabbitMQ to be reachable
    # (retrying with a growing pause, one log line each), so a process started before its
    # broker, or during its restart, comes up by itself; then it exits with one line. The
    # one-shot commands (`status`, `reconcile`, ...) never wait. 0: fail at once.
    startup_wait_s: float = Field(default=120.0, ge=0)
    # Messages a worker processes as one unit (one transaction, one Redis round trip, one
    # ack); it holds FITBOARD_WORKER_BATCHES_IN_FLIGHT batches at a time and one more from
    # the queue (as many of the broker's messages, which on RabbitMQ may each pack
    # several). The reports consumer takes batches of the same size (one transaction, one
    # ack each), two at a time, and holds one more. In embedded mode, the size of the
    # parts in which the consumers handle their batches while the API has requests open
    # (FITBOARD_EMBEDDED_IDLE_BATCH_SIZE).
    worker_batch_size: int = Field(default=100, ge=1, le=500)
    # Batches one worker holds at once, of which it processes one at a time (records it
    # and writes its boards): the next batch is taken as soon as the one before is
    # processed, with all that arrived meanwhile, while that one is told live, its
    # `workout.processed` published and its messages acked. Two overlap those last
    # steps with the next batch's processing; one waits for them before it takes the
    # next batch (at 300 workouts/s on one machine two cut the p99 from a submission's
    # 202 to its rank:update by about half: docs/benchmarks.md, "Session 22"). More than
    # two can help only while those steps take longer than a batch's processing.
    worker_batches_in_flight: int = Field(default=2, ge=1, le=16)
    # Production: the partitions the workers' queue is split in, each athlete's workouts
    # and changes going to one of them (by the athlete's id) and each partition consumed
    # by one worker at a time, dealt round the live workers (a PostgreSQL advisory lock
    # each); so two workers' units of work hold different athletes instead of taking
    # turns on the same ones. The same number for every API process and worker of a
    # deployment, at least the number of workers (a worker beyond it gets no partition).
    # 1: one queue that every worker consumes. docs/deploy.md, "Partitions".
    workout_partitions: int = Field(default=1, ge=1, le=64)  # partitions.MOST_PARTITIONS
    # Embedded mode: the in-process consumers' share (the worker's and the monthly reports
    # consumer's, together) of the one event loop while the rest of the process (the API)
    # wants it too. Before each batch a consumer waits until the rest has had
    # (1 - share) / share seconds of loop time for each second of the consumers', unless
    # the rest leaves the loop idle: then the consumers have all of it. 1 never waits (a
    # consumer takes the loop whenever a batch is ready).
    embedded_worker_loop_share: float = Field(default=0.5, gt=0, le=1)
    # Embedded mode: the most messages the in-process worker and reports consumer take from
    # the queue at once (at least FITBOARD_WORKER_BATCH_SIZE). They handle them as one
    # batch while the API has no request open, else in parts of FITBOARD_WORKER_BATCH_SIZE
    # with the API's turn on the event loop before each: a batch of 500 costs less a
    # workout than five of 100, but handled whole while the API is busy it doubled the
    # API's p99 (docs/benchmarks.md, "Session 27"). 500 against 100: a backlog processed
    # 10-22% faster, the API's rates about unchanged and its p99 under load 2-5 ms higher
    # ("Session 28"). Unused when
    # FITBOARD_EMBEDDED_WORKER_LOOP_SHARE is 1 (batches of FITBOARD_WORKER_BATCH_SIZE).
    embedded_idle_batch_size: int = Field(default=500, ge=1, le=2000)
    # Failed attempts before a message is dead-lettered (waiting out an outage does not
    # count).
    worker_max_attempts: int = Field(default=5, ge=1, le=100)
    # The waits before a failed message is delivered again, in seconds, step by step: the
    # n-th retry waits the n-th step, every later one the last (the cap), e.g.
    # [0.5, 2, 8, 30] (JSON in the environment). On RabbitMQ each step is a queue of its own.
    worker_retry_delays_s: tuple[float, ...] = RETRY_DELAYS_S
    # The SQLite queue redelivers a message whose consumer has held it this long.
    queue_visibility_timeout_s: float = Field(default=60.0, gt=0)
    # How far in the future a workout may start, to allow for clocks that run fast.
    clock_skew_s: int = Field(default=300, ge=0)

    # The largest request body the API reads; a larger one is answered 413 before it is
    # read. A full batch (100 workouts with 2000-character notes) takes about 250 kB.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Activity file uploads (POST /v1/workouts/import) have their own limit, for the whole
    # request body and for any one file: a one-hour FIT file is about 100 kB, a GPX of a
    # day's hike a few MB, and a service's export archive can be far larger (split it).
    import_max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)
    # The most files, and bytes once unpacked, one uploaded archive may hold (zip bombs).
    import_max_archive_files: int = Field(default=500, ge=1)
    import_max_archive_bytes: int = Field(default=256 * 1024 * 1024, ge=1024)
    # Processes that parse uploaded files, off the API's event loop (docs/import.md). 0
    # parses in the event loop itself, which only the benchmark's comparison should use.
    import_processes: int = Field(default=1, ge=0, le=64)
    # The most processor time reading one upload (a file, or a whole archive) may take:
    # past it the reader is stopped and the upload refused with 422. A reader that has not
    # spent it after ten times as long in wall time is stopped too, answered 503: the
    # server is overloaded, not the file at fault (docs/import.md).
    import_read_cpu_s: float = Field(default=60.0, gt=0)
    # Uploads one API process holds waiting for a free reader; past it, 503 with
    # Retry-After. Each holds its bytes, up to FITBOARD_IMPORT_MAX_BYTES.
    import_max_waiting: int = Field(default=8, ge=0)

    # Rate limits (429 with Retry-After past them; 0 turns one off). Sign-in attempts per
    # username bound password guessing on one account, per client address a sweep over
    # many; sign-ups per address bound account farming; workouts per athlete bound what
    # one account can push through the queue (a batch counts each of its items).
    login_attempts_per_minute_per_username: int = Field(default=10, ge=0)
    login_attempts_per_minute_per_ip: int = Field(default=100, ge=0)
    registrations_per_hour_per_ip: int = Field(default=200, ge=0)
    workouts_per_minute_per_athlete: int = Field(default=600, ge=0)
    workouts_per_day_per_athlete: int = Field(default=20_000, ge=0)

    # Browser origins allowed to call the HTTP API and open live connections, e.g.
    # ["https://app.example.com"] (JSON in the environment). Empty: same origin only.
    cors_origins: list[str] = Field(default_factory=list)
    # Whether /docs, /redoc and /openapi.json are served, and /metrics.
    expose_docs: bool = True
    expose_metrics: bool = True

    # `fitboard worker` serves its Prometheus metrics at http://HOST:METRICS_PORT/metrics
    # (0: not served); the API serves its own at /metrics.
    metrics_port: int = Field(default=0, ge=0, le=65535)

    # Where `fitboard serve` listens (and a worker's metrics), and how much it logs
    # (debug, info, warning, error).
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: str = "info"
    # Log lines as JSON (for a log collector) or text (for a person); `auto` is text when
    # standard error is a terminal and JSON otherwise. Each carries its request id.
    log_format: Literal["auto", "text", "json"] = "auto"
    # Allocations between two young garbage collections in every long-running process
    # (serve, worker, reports). Thousands of live connections are a large long-lived heap;
    # CPython's default (700) promotes the short-lived objects of each fan-out into the old
    # generation, whose full collections then paused every client for most of a second; a
    # worker's batches did the same to its heap (docs/benchmarks.md).
    gc_gen0_threshold: int = Field(default=50_000, ge=700)

    @field_validator("board_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown IANA time zone {value!r}") from None
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_cluster_url(cls, value: str | None) -> str | None:
        # A Redis Cluster's URL is fitboard's own form: checked here, so a bad one is a
        # configuration error at start, not a traceback from the first client built.
        from fitboard.adapters.redis_client import is_cluster_url, parse_cluster_url

        if value is not None and is_cluster_url(value):
            parse_cluster_url(value)
        return value

    @field_validator("amqp_url")
    @classmethod
    def _amqp_node_urls(cls, value: str | None) -> str | None:
        # Checked here too, so a malformed list of nodes is a configuration error at start.
        from fitboard.adapters.amqp_nodes import parse_amqp_urls

        if value is not None:
            parse_amqp_urls(value)
        return value

    @field_validator("worker_retry_delays_s")
    @classmethod
    def _increasing_delays(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if not value or any(d <= 0 for d in value) or list(value) != sorted(set(value)):
            raise ValueError("give one or more positive delays in increasing order")
        return value

    @model_validator(mode="after")
    def _batches_taken_hold_a_part(self) -> Settings:
        if self.embedded_idle_batch_size < self.worker_batch_size:
            raise ValueError(
                f"FITBOARD_EMBEDDED_IDLE_BATCH_SIZE ({self.embedded_idle_batch_size}) must be at"
                f" least FITBOARD_WORKER_BATCH_SIZE ({self.worker_batch_size}): the consumers"
                " take batches of the one and hand them over in parts of the other"
            )
        return self

    @model_validator(mode="after")
    def _production_needs_its_services(self) -> Settings:
        if self.mode is Mode.PRODUCTION:
            missing = [
                f"FITBOARD_{name.upper()}"
                for name in ("database_url", "redis_url", "amqp_url")
                if not getattr(self, name)
            ]
            if missing:
                raise ValueError(f"production mode needs {', '.join(missing)}")
            if not (self.database_url or "").startswith("postgresql"):
                # Its processes share the boards in Redis, and each athlete's board writes
                # keep their order across processes by PostgreSQL's advisory locks
                # (adapters/sql/board_write_locks.py); SQLite has none to offer.
                raise ValueError(
                    "production mode needs PostgreSQL: FITBOARD_DATABASE_URL="
                    "postgresql+asyncpg://user:password@host/database"
                )
            secret = self.jwt_secret or ""
            if (
                secret.lower() in _KNOWN_WEAK_SECRETS
                or len(secret) < MIN_JWT_SECRET_LENGTH
                # Long but not random: "aaaa...", "abababab...".
                or len(set(secret)) < MIN_JWT_SECRET_DISTINCT
            ):
                raise ValueError(
                    "production mode refuses to run without FITBOARD_JWT_SECRET of at least "
                    f"{MIN_JWT_SECRET_LENGTH} random characters "
                    '(e.g. python -c "import secrets; print(secrets.token_urlsafe(48))")'
                )
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.board_timezone)

    @property
    def record_path(self) -> Path:
        return self.data_dir / "fitboard.db"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.record_path}"
