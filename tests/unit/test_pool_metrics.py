"""The database pool's gauges follow the connections units of work hold, read at scrape
time, and a closed store leaves them."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import REGISTRY
from sqlalchemy.pool import QueuePool

from fitboard.adapters.sql import SqlStore, upgrade_database


def gauge(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    assert value is not None, name
    return value


async def test_connections_in_use_idle_and_the_limit_follow_the_pool(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'record.db'}"
    await upgrade_database(url)
    in_use = "fitboard_database_pool_connections"
    before_limit = gauge("fitboard_database_pool_max_connections")
    before = gauge(in_use, state="in_use")
    store = SqlStore(url)
    try:
        pool = store.engine.sync_engine.pool
        assert isinstance(pool, QueuePool)
        # SQLAlchemy's default for a file: 5 connections and 10 of overflow.
        assert gauge("fitboard_database_pool_max_connections") == before_limit + 15
        async with store.unit_of_work(read_only=True), store.unit_of_work(read_only=True):
            assert gauge(in_use, state="in_use") == before + 2
        assert gauge(in_use, state="in_use") == before
        assert gauge(in_use, state="idle") >= pool.checkedin() == 2
    finally:
        await store.close()
    assert gauge("fitboard_database_pool_max_connections") == before_limit
