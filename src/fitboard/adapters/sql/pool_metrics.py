"""The database connection pools of this process, read when Prometheus scrapes: how many
connections are lent out to units of work, how many wait idle, and how many the pools may
open at most. Every process with a store (`serve`, `worker`, `reports`) exports them.

Read at scrape time rather than counted: the pool itself knows, and a collector cannot
drift from it. A store is watched from its creation to its `close`."""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool

__all__ = ["unwatch_pool", "watch_pool"]

_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def watch_pool(engine: Engine) -> None:
    _engines.add(engine)


def unwatch_pool(engine: Engine) -> None:
    _engines.discard(engine)


class _PoolCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        connections = GaugeMetricFamily(
            "fitboard_database_pool_connections",
            "Connections of this process's database pools, by state: in_use (lent to a "
            "unit of work), idle (open, waiting in the pool).",
            labels=["state"],
        )
        limit = GaugeMetricFamily(
            "fitboard_database_pool_max_connections",
            "The most connections this process's database pools may open (pool size plus "
            "overflow); in_use reaching it means units of work wait for a connection.",
        )
        in_use = idle = most = 0
        for engine in list(_engines):
            pool = engine.pool
            if not isinstance(pool, QueuePool):
                continue
            in_use += pool.checkedout()
            idle += pool.checkedin()
            most += pool.size() + max(pool._max_overflow, 0)
        connections.add_metric(["in_use"], in_use)
        connections.add_metric(["idle"], idle)
        limit.add_metric([], most)
        yield connections
        yield limit


REGISTRY.register(_PoolCollector())
