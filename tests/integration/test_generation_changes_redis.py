"""Token revocations on Redis pub/sub (adapters/generation_changes_redis.py), on the
session's private Redis: a revocation told by one process makes another forget at once;
heartbeats keep a subscriber hearing; a subscription broken and restored forgets
everything kept (a revocation told meanwhile was missed); one never established hears
nothing, so its generations are trusted only for REVOCATION_DELAY_S; closing ends the
heartbeats even when their cancellation is lost."""

from __future__ import annotations

import asyncio
import socket
import uuid
from typing import cast
from uuid import UUID, uuid4

import pytest
from redis.asyncio import Redis

from fitboard.adapters.generation_changes_redis import RedisGenerationChanges
from fitboard.application.accounts.ports import AccessToken
from fitboard.application.accounts.sessions import Sessions
from fitboard.domain.errors import AuthenticationFailed
from fitboard.entrypoints.api.athletes import REVOCATION_DELAY_S, KnownAthletes
from tests.lost_cancellation import WrittenCommands, ends
from tests.services.running import eventually
from tests.services.session import SERVICES

pytestmark = pytest.mark.production

ADA = uuid4()


class Record:
    def __init__(self) -> None:
        self.generations = {ADA: 0}

    async def generation(self, user_id: UUID) -> int:
        return self.generations[user_id]


class Clock:
    """Stands still unless moved: nothing is read again for its age."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def token(generation: int = 0) -> AccessToken:
    return AccessToken(user_id=ADA, expires_at=1e12, generation=generation)


def channel() -> str:
    return f"test-{uuid.uuid4().hex[:8]}:generations"


async def test_a_revocation_told_by_one_process_is_refused_by_another_at_once() -> None:
    name = channel()
    record = Record()
    sessions = cast(Sessions, record)
    # Its clock stands still: only the message can make it read the generation again.
    known = KnownAthletes(clock=Clock())
    listener = RedisGenerationChanges(SERVICES.redis_url, name)
    teller = RedisGenerationChanges(SERVICES.redis_url, name)
    try:
        await listener.start()
        listener.listen(known)
        await eventually(lambda: known.hearing, within_s=5, every_s=0.01)
        await known.require(token(), sessions)
        assert len(known) == 1

        record.generations[ADA] = 1
        await teller.changed(ADA)
        await eventually(lambda: len(known) == 0, within_s=5, every_s=0.01)
        with pytest.raises(AuthenticationFailed, match="revoked"):
            await known.require(token(), sessions)
    finally:
        await listener.close()
        await teller.close()


async def test_a_broken_subscription_forgets_everything_once_restored() -> None:
    record = Record()
    known = KnownAthletes()
    listener = RedisGenerationChanges(SERVICES.redis_url, channel())
    node = Redis.from_url(SERVICES.redis_url)
    try:
        await listener.start()
        listener.listen(known)
        await eventually(lambda: known.hearing, within_s=5, every_s=0.01)
        await known.require(token(), cast(Sessions, record))
        assert len(known) == 1

        await node.client_kill_filter(_type="pubsub")
        # Forgotten at the confirmation of the new subscription; heard again after.
        await eventually(lambda: len(known) == 0, within_s=10, every_s=0.01)
        await eventually(lambda: known.hearing, within_s=10, every_s=0.01)
    finally:
        await listener.close()
        await node.aclose()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_with_no_subscription_a_generation_is_trusted_only_for_the_delay() -> None:
    record = Record()
    sessions = cast(Sessions, record)
    clock = Clock()
    known = KnownAthletes(clock=clock)
    # Nothing listens there: the subscription is never made, and heartbeats fail.
    listener = RedisGenerationChanges(f"redis://127.0.0.1:{_closed_port()}/0", channel())
    try:
        await listener.start(wait_s=0.5)
        listener.listen(known)
        assert not known.hearing
        await known.require(token(), sessions)
        record.generations[ADA] = 1  # revoked by a process this one cannot hear
        clock.now += REVOCATION_DELAY_S
        with pytest.raises(AuthenticationFailed, match="revoked"):
            await known.require(token(), sessions)
    finally:
        await listener.close()


async def test_closed_while_a_heartbeat_is_sent_the_heartbeats_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The heartbeats' cancellation can be lost: redis-py sends a command through
    `asyncio.wait_for` when the client has a socket timeout, as the publisher has, and
    Python 3.11's `wait_for` returns the write's result instead of raising when its task is
    cancelled after the write is done but before it resumed (CPython gh-86296, fixed in
    3.12). Closing at that moment must still end them, not wait for heartbeats that go on
    for ever (an API process's shutdown would hang). Deterministic: `close` is called in
    the turn of the event loop in which a heartbeat's write completes."""
    changes = RedisGenerationChanges(SERVICES.redis_url, channel(), heartbeat_s=0.05)
    # Only the publisher's commands are seen (the subscriber's client has no socket
    # timeout), and it publishes nothing but heartbeats.
    writes = WrittenCommands(monkeypatch)

    async def close_while_a_heartbeat_is_sent() -> None:
        await writes.written(b"PUBLISH")
        await changes.close()

    await changes.start()
    closing = asyncio.create_task(close_while_a_heartbeat_is_sent())
    assert await ends(closing), "no heartbeat sent, or closing waits for ones that go on for ever"
    closing.result()
