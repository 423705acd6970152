"""Name changes on Redis pub/sub (adapters/name_changes_redis.py), on the session's private
Redis and its Redis Cluster: a change told by one process is heard by another, and a
process whose subscription broke forgets every name it kept once subscribed again (a
change told meanwhile was missed)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis

from fitboard.adapters.display_names_cache import CachedDisplayNames
from fitboard.adapters.name_changes_redis import RedisNameChanges
from fitboard.adapters.redis_client import node_urls
from tests.services.running import eventually
from tests.services.session import SERVICES

pytestmark = pytest.mark.production

ADA = uuid4()


class Record:
    def __init__(self) -> None:
        self.rows = {ADA: "Ada"}

    async def names(self, user_ids: Sequence[UUID]) -> dict[UUID, str]:
        return {u: self.rows[u] for u in user_ids if u in self.rows}


@pytest.mark.parametrize("kind", ["redis", "redis-cluster"])
async def test_a_change_is_heard_and_a_broken_subscription_forgets_everything(kind: str) -> None:
    redis_url = SERVICES.redis_url if kind == "redis" else SERVICES.redis_cluster_url
    channel = f"test-{uuid.uuid4().hex[:8]}:names"
    record = Record()
    kept = CachedDisplayNames(record, hearing=False)
    listener = RedisNameChanges(redis_url, channel, kept)
    teller = RedisNameChanges(redis_url, channel, None)
    nodes = [Redis.from_url(url) for url in node_urls(redis_url)]
    try:
        await listener.start()
        assert kept.hearing
        assert await kept.names([ADA]) == {ADA: "Ada"}
        assert len(kept) == 1

        record.rows[ADA] = "Ada L."
        await teller.changed([ADA])
        await eventually(lambda: len(kept) == 0, within_s=5, every_s=0.01)
        assert await kept.names([ADA]) == {ADA: "Ada L."}

        # A change told while the subscription is down is lost to it; what it kept
        # is forgotten once it is subscribed again.
        for node in nodes:  # the one the subscription went to among them
            await node.client_kill_filter(_type="pubsub")
        record.rows[ADA] = "Ada Lovelace"
        await eventually(lambda: len(kept) == 0, within_s=10, every_s=0.01)
        await eventually(lambda: kept.hearing, within_s=10, every_s=0.01)
        assert await kept.names([ADA]) == {ADA: "Ada Lovelace"}
    finally:
        await listener.close()
        await teller.close()
        for node in nodes:
            await node.aclose()
