"""Prometheus metrics of requests and of message handling, per process.

The API serves them at `GET /metrics`; `fitboard worker` and `fitboard reports` on a port
of their own (FITBOARD_METRICS_PORT). Defined once at import, in the default registry, as
live_metrics.py does. Names follow Prometheus' conventions: base units in the name,
`_total` for counters. What an operator asks for and where it is:

- ingest accepted, refused by reason, 503s: `fitboard_http_requests_total` with
  `route="/v1/workouts"` and `status` 202, 422, 413, 429, 401, 503;
- latency: `fitboard_http_request_duration_seconds` by route template;
- retries and dead letters: `fitboard_messages_settled_total` by queue and outcome;
- processing latency: `fitboard_message_handling_duration_seconds`;
- end-to-end freshness (accepted → processed): `fitboard_workout_freshness_seconds`;
- the partitions of the workers' queue a worker consumes: `fitboard_worker_partitions`;
- the backlog, retries waiting and dead letters: `fitboard_queue_messages` by state, and
  consumers, and the age of the oldest unprocessed workout:
  `fitboard_oldest_unprocessed_workout_age_seconds` (every 15 s); Redis memory, its limit
  and evictions, boards held and the largest (every 5 minutes): sampled from the broker,
  the in-flight marks and Redis by every API process (entrypoints/api/operations_sampler.py);
- publish-confirm latency and the size of shared writes:
  `fitboard_group_commit_write_duration_seconds` and `fitboard_group_commit_write_items`
  by commit (adapters/group_commit.py);
- database pool use: `fitboard_database_pool_connections` by state and
  `fitboard_database_pool_max_connections`, read at scrape time (adapters/sql/pool_metrics.py).
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter, Gauge, Histogram, start_http_server

__all__ = [
    "ACHIEVEMENTS_AWARDED",
    "BATCH_MESSAGES",
    "BOARDS",
    "FAILURES",
    "FRESHNESS",
    "GROUP_COMMIT_DURATION",
    "GROUP_COMMIT_ITEMS",
    "HANDLING_DURATION",
    "HTTP_DURATION",
    "HTTP_REQUESTS",
    "LARGEST_BOARD",
    "OLDEST_UNPROCESSED",
    "QUEUE_CONSUMERS",
    "QUEUE_MESSAGES",
    "REDIS_EVICTED",
    "REDIS_MEMORY_LIMIT",
    "REDIS_MEMORY_USED",
    "SETTLED",
    "WORKER_PARTITIONS",
    "batch_observer",
    "serve_metrics",
    "settled_observer",
]

HTTP_REQUESTS = Counter(
    "fitboard_http_requests_total",
    "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_DURATION = Histogram(
    "fitboard_http_request_duration_seconds",
    "Time from a request's arrival to the end of its answer, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SETTLED = Counter(
    "fitboard_messages_settled_total",
    "Messages a consumer settled, by queue and outcome: acked, retried (a counted failure), "
    "waiting (for a dependency; not counted), dead_lettered, unsettled (the broker will "
    "deliver it again).",
    ["queue", "outcome"],
)
HANDLING_DURATION = Histogram(
    "fitboard_message_handling_duration_seconds",
    "Time to handle and settle one message, by queue.",
    ["queue"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
ACHIEVEMENTS_AWARDED = Counter(
    "fitboard_achievements_awarded_total",
    "Achievements awarded by the workers, by achievement id (one per award: a record "
    "beaten again counts again; a redelivered workout awards nothing).",
    ["achievement"],
)
FAILURES = Counter(
    "fitboard_message_failures_total",
    "Messages whose handling failed, by queue, what was done (retried, waiting, "
    "dead_lettered, unsettled) and cause: the error's class, e.g. PermanentFailure (a "
    "message that can never be processed), StoreUnavailable, RankingUnavailable, "
    "QueueUnavailable (a dependency), or the class of an unexpected error.",
    ["queue", "outcome", "cause"],
)
BATCH_MESSAGES = Histogram(
    "fitboard_consumer_batch_messages",
    "Messages in one batch a consumer took from a queue (what the broker had ready, up to "
    "FITBOARD_WORKER_BATCH_SIZE), by queue.",
    ["queue"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
WORKER_PARTITIONS = Gauge(
    "fitboard_worker_partitions",
    "Partitions of the workers' queue this worker consumes now (FITBOARD_WORKOUT_PARTITIONS: "
    "those dealt to it, and any left by a larger setting); summed over the workers, the "
    "partitions' number, or more for the moment of a change.",
)
FRESHNESS = Histogram(
    "fitboard_workout_freshness_seconds",
    "From the 202 (the workout's submitted_at) to its processing, for first deliveries and "
    "redeliveries alike; duplicates of an already processed workout are not counted.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)


GROUP_COMMIT_DURATION = Histogram(
    "fitboard_group_commit_write_duration_seconds",
    "Time of one shared durable write, by group commit: `rabbitmq publish` (publish to "
    "broker confirm), `sqlite queue publish` (to commit), `redis in-flight mark`, `sqlite "
    "in-flight mark`. Failed writes included.",
    ["commit"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
GROUP_COMMIT_ITEMS = Histogram(
    "fitboard_group_commit_write_items",
    "Items (messages, marks) in one shared durable write, by group commit.",
    ["commit"],
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)


QUEUE_MESSAGES = Gauge(
    "fitboard_queue_messages",
    "Messages on a queue by state: ready (waiting for a worker), retrying (waiting out a "
    "retry delay), dead_letters; the broker's messages, of which one may carry several "
    "workouts on RabbitMQ (FITBOARD_QUEUE_ITEMS_PER_MESSAGE). Sampled by every API process.",
    ["queue", "state"],
)
OLDEST_UNPROCESSED = Gauge(
    "fitboard_oldest_unprocessed_workout_age_seconds",
    "Seconds since the longest-waiting accepted workout not yet processed got its 202; 0 "
    "when none waits. From the in-flight marks (Redis, or the embedded queue's file), "
    "sampled by every API process.",
)
QUEUE_CONSUMERS = Gauge(
    "fitboard_queue_consumers", "Consumers on a queue (RabbitMQ only).", ["queue"]
)
REDIS_MEMORY_USED = Gauge("fitboard_redis_memory_used_bytes", "Redis used_memory.")
REDIS_MEMORY_LIMIT = Gauge(
    "fitboard_redis_memory_limit_bytes", "Redis maxmemory; 0 when Redis has no limit."
)
REDIS_EVICTED = Gauge(
    "fitboard_redis_evicted_keys",
    "Keys Redis has evicted since it started (its own counter, read; a rise is an eviction).",
)
BOARDS = Gauge("fitboard_boards", "Board instances the ranking index holds.")
LARGEST_BOARD = Gauge("fitboard_largest_board_entries", "Entries of the largest board.")


def settled_observer(queue: str) -> Callable[[str, float, str | None], None]:
    """What a consumer of `queue` calls for each settled delivery (consuming.OnSettled):
    the settled count and handling time, and, for a failed delivery, its failure.

    A worker settles every workout, so each labelled series is looked up once, when it is
    first observed (as `labels` makes it), and kept: `labels` validates and locks on every
    call, which was half of the 7.8 us an observation cost."""
    settled: dict[str, Counter] = {}
    handling: dict[str, Histogram] = {}

    def observe(outcome: str, seconds: float, cause: str | None) -> None:
        counter = settled.get(outcome)
        if counter is None:
            counter = settled[outcome] = SETTLED.labels(queue, outcome)
        counter.inc()
        duration = handling.get(queue)
        if duration is None:
            duration = handling[queue] = HANDLING_DURATION.labels(queue)
        duration.observe(seconds)
        if cause is not None:
            FAILURES.labels(queue, outcome, cause).inc()

    return observe


def batch_observer(queue: str) -> Callable[[int], None]:
    """What a consumer of `queue` calls with the size of each batch (consuming.OnBatch)."""
    return BATCH_MESSAGES.labels(queue).observe


def serve_metrics(port: int, host: str) -> None:
    """This process's metrics at http://host:port/metrics, from a thread of its own (the
    API serves them through its own routes instead)."""
    start_http_server(port, addr=host)
