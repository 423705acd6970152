"""Per-room channels on a real Redis: an API process receives the events of the rooms its
own clients are in, and nothing of the others; it stops receiving a room once its last
client there leaves, and a room joined again, or after the connection to Redis was lost,
is delivered again. Each "API process" is python-socketio's server on fitboard's manager,
its clients joined by the manager itself and what it sends recorded; the emits come from
a write-only manager, as a worker's do."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import redis.asyncio as redis
import socketio

from fitboard.adapters.live_socketio import BatchingRedisManager
from tests.contract.queue_adapters import bounded
from tests.services.session import SERVICES

pytestmark = pytest.mark.production


@dataclass
class ApiProcess:
    """A server on fitboard's Redis manager; what reaches its sockets, and every emit its
    listener decoded (for its clients or not)."""

    server: socketio.AsyncServer
    manager: BatchingRedisManager
    sent: list[tuple[str, str]] = field(default_factory=list)
    decoded: list[str] = field(default_factory=list)

    async def join(self, eio_sid: str, room: str) -> str:
        sid: str = await self.manager.connect(eio_sid, "/")
        await self.manager.enter_room(sid, "/", room)
        return sid

    def heard(self, eio_sid: str) -> list[str]:
        return [p for to, p in self.sent if to == eio_sid and not p.startswith('42["marker-')]


async def api_process(url: str, channel: str) -> ApiProcess:
    manager = BatchingRedisManager(url, channel=channel, redis_options={"client_name": channel})
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    process = ApiProcess(server, manager)

    async def record(eio_sid: str, pkt: Any) -> None:
        process.sent.append((eio_sid, pkt.encode()))

    server._send_eio_packet = record
    handle = manager._handle_emit

    async def decode(message: dict[str, Any]) -> None:
        process.decoded.append(str(message.get("event")))
        await handle(message)

    manager._handle_emit = decode  # type: ignore[method-assign]
    server.manager_initialized = True
    manager.initialize()
    await until(lambda: manager.listening)
    return process


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 10) -> None:
    async with asyncio.timeout(timeout_s):
        while True:
            met = condition()
            if met if isinstance(met, bool) else await met:
                return
            await asyncio.sleep(0.01)


@pytest.fixture
def channel() -> str:
    return f"test:{uuid.uuid4().hex}:socketio"


async def settle(worker: BatchingRedisManager, *processes: ApiProcess) -> None:
    """Broadcast a marker and wait until every process decoded it: a subscriber gets a
    publisher's messages in order, so everything emitted before has arrived by then."""
    marker = f"marker-{uuid.uuid4().hex}"
    await worker.emit(marker, None, namespace="/")
    await worker.drain()
    await until(lambda: all(marker in p.decoded for p in processes))
    for p in processes:
        p.decoded.remove(marker)


async def close(*managers: BatchingRedisManager) -> None:
    for manager in managers:
        await manager.aclose()


@bounded(60)
async def test_a_process_decodes_only_the_events_of_its_own_clients_rooms(channel: str) -> None:
    url = SERVICES.redis_url
    a, b = await api_process(url, channel), await api_process(url, channel)
    worker = BatchingRedisManager(url, channel=channel, write_only=True)
    try:
        await a.join("eio-1", "athlete:1")
        await b.join("eio-2", "athlete:2")
        await worker.emit("rank:update", {"n": 1}, to="athlete:1", namespace="/")
        await worker.emit("rank:update", {"n": 2}, to="athlete:2", namespace="/")
        await worker.emit("rank:update", {"n": 3}, to="athlete:nobody", namespace="/")
        await settle(worker, a, b)
        assert a.heard("eio-1") == ['42["rank:update",{"n":1}]']
        assert b.heard("eio-2") == ['42["rank:update",{"n":2}]']
        # Each process decoded its own client's event and nothing else.
        assert a.decoded == ["rank:update"]
        assert b.decoded == ["rank:update"]
        # A broadcast still reaches every client of every process.
        await worker.emit("hello", 1, namespace="/")
        await settle(worker, a, b)
        assert a.heard("eio-1")[-1] == '42["hello",1]'
        assert b.heard("eio-2")[-1] == '42["hello",1]'
    finally:
        await close(worker, a.manager, b.manager)


@bounded(60)
async def test_a_room_left_is_no_longer_received_and_joined_again_is(channel: str) -> None:
    url = SERVICES.redis_url
    a = await api_process(url, channel)
    worker = BatchingRedisManager(url, channel=channel, write_only=True)
    probe = redis.Redis.from_url(url)
    try:
        sid = await a.join("eio-1", "athlete:1")
        room_channel = a.manager.room_channel("athlete:1")
        assert await probe.pubsub_numsub(room_channel) == [(room_channel.encode(), 1)]
        await a.server.leave_room(sid, "athlete:1")

        async def unsubscribed() -> bool:
            return await probe.pubsub_numsub(room_channel) == [(room_channel.encode(), 0)]

        await until(unsubscribed)
        await worker.emit("rank:update", {"n": 1}, to="athlete:1", namespace="/")
        await settle(worker, a)
        assert a.decoded == []
        # Left and joined again at once: ready when the join returns.
        await a.server.leave_room(sid, "athlete:1")
        await a.server.enter_room(sid, "athlete:1")
        await a.server.leave_room(sid, "athlete:1")
        await a.server.enter_room(sid, "athlete:1")
        await worker.emit("rank:update", {"n": 2}, to="athlete:1", namespace="/")
        await settle(worker, a)
        assert a.heard("eio-1") == ['42["rank:update",{"n":2}]']
    finally:
        await probe.aclose()
        await close(worker, a.manager)


@bounded(60)
async def test_rooms_are_subscribed_again_after_the_connection_is_lost(channel: str) -> None:
    url = SERVICES.redis_url
    a = await api_process(url, channel)
    worker = BatchingRedisManager(url, channel=channel, write_only=True)
    admin = redis.Redis.from_url(url)
    try:
        await a.join("eio-1", "athlete:1")
        # The listener's connection is the one subscribed to the room's channel.
        killed = 0
        for client in await admin.client_list(_type="pubsub"):
            if client["name"] == channel:
                killed += await admin.client_kill_filter(_id=client["id"])
        assert killed == 1
        await until(lambda: not a.manager.listening)

        async def ready_again() -> bool:
            return a.manager.listening and await a.manager.room_ready("athlete:1")

        await until(ready_again, timeout_s=15)
        await worker.emit("rank:update", {"n": 1}, to="athlete:1", namespace="/")
        await settle(worker, a)
        assert a.heard("eio-1") == ['42["rank:update",{"n":1}]']
    finally:
        await admin.aclose()
        await close(worker, a.manager)
