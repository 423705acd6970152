"""Live push on a Redis Cluster: the channels are classic pub/sub, which a cluster relays
from the node a message is published on to subscribers on every node. fitboard's
subscribers and Socket.IO publishers connect to one node of the `redis+cluster://` URL
each (adapters/redis_client.py `PubSubNodes`); board moves are published through the
cluster client. A room's channel is classic pub/sub too. Runs on the session's 3-node
cluster."""

from __future__ import annotations

import asyncio
import uuid

import pytest
import redis.asyncio as redis

from fitboard.adapters.live_socketio import BatchingRedisManager, RedisBoardsFeed
from fitboard.adapters.redis_client import node_urls
from tests.live.test_room_channels import api_process, settle
from tests.services.session import SERVICES

from .queue_adapters import bounded

pytestmark = pytest.mark.production


@bounded(30)
async def test_board_moves_published_anywhere_reach_a_listener() -> None:
    url = SERVICES.redis_cluster_url
    channel = f"test:{uuid.uuid4().hex}:boards-moved"
    heard: asyncio.Queue[list[tuple[str, str]]] = asyncio.Queue()
    listener, publisher = RedisBoardsFeed(url, channel), RedisBoardsFeed(url, channel)
    try:
        await listener.listen(heard.put_nowait)
        await publisher.publish([("calories:week:global", "2026-W47")])
        assert await heard.get() == [("calories:week:global", "2026-W47")]
    finally:
        await publisher.close()
        await listener.close()


@bounded(30)
async def test_socketio_events_reach_subscribers_on_every_node() -> None:
    url = SERVICES.redis_cluster_url
    channel = f"test:{uuid.uuid4().hex}:socketio"
    # A subscriber on each node: whichever node the manager publishes on, all hear it.
    subscribers = [redis.Redis.from_url(node) for node in node_urls(url)]
    pubsubs = [client.pubsub(ignore_subscribe_messages=True) for client in subscribers]
    manager = BatchingRedisManager(url, channel=channel, write_only=True)
    try:
        for pubsub in pubsubs:
            await pubsub.subscribe(channel)
        await manager._publish({"method": "emit", "event": "rank:update", "data": 1})
        await manager.drain()
        # The manager's connection is a plain one to one node of the list.
        assert isinstance(manager.redis, redis.Redis)
        assert f"{manager.redis.connection_pool.connection_kwargs['port']}" in url
        for pubsub in pubsubs:
            async with asyncio.timeout(10):
                while (message := await pubsub.get_message(timeout=1.0)) is None:
                    pass
            assert b"rank:update" in message["data"]
    finally:
        await manager.aclose()
        for pubsub, client in zip(pubsubs, subscribers, strict=True):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()


@bounded(60)
async def test_a_rooms_events_reach_its_clients_on_processes_on_any_node() -> None:
    url = SERVICES.redis_cluster_url
    channel = f"test:{uuid.uuid4().hex}:socketio"
    # Each process listens on a node of its own choosing, the worker publishes on another.
    processes = [await api_process(url, channel) for _ in range(4)]
    worker = BatchingRedisManager(url, channel=channel, write_only=True)
    try:
        for n, process in enumerate(processes[:3]):
            await process.join(f"eio-{n}", "athlete:1")
        await worker.emit("rank:update", {"n": 1}, to="athlete:1", namespace="/")
        await settle(worker, *processes)
        for n, process in enumerate(processes[:3]):
            assert process.heard(f"eio-{n}") == ['42["rank:update",{"n":1}]']
            assert process.decoded == ["rank:update"]
        # The process without a client in the room decoded nothing of it.
        assert processes[3].decoded == []
    finally:
        await worker.aclose()
        for process in processes:
            await process.manager.aclose()
