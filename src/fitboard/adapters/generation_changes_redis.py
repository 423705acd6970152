"""Token generation changes on a Redis pub/sub channel, `<namespace>:generations`, so that
every API process forgets an athlete's generation as soon as it changes (signing out, a
new password, the account deleted), and refuses the revoked tokens at once.

The process that committed the change forgets at once and publishes the athlete's id;
every API process subscribes and forgets it when the message arrives
(entrypoints/api/athletes.py keeps the generations). Pub/sub, not a queue: a message is
lost to a process that is not subscribed, so a process trusts what it read for long only
while it is proven to hear the channel, and otherwise for REVOCATION_DELAY_S, as it would
with no channel at all:

- until the first subscription is confirmed, and whenever the connection is lost for
  good, it hears nothing (`deaf`);
- at every confirmation (the first, and each one redis-py's reconnection brings) it
  forgets everything kept (`resume`): messages may have been missed meanwhile;
- a connection can die without a word (a peer gone, a partition): so every process
  publishes a heartbeat, an empty message, every `heartbeat_s`; each message heard, any
  process's heartbeat included, proves the subscription alive for `silence_s` more
  (`heard`). Past that without one, the process stops trusting what it read for long,
  and forgets everything when it hears again. A revocation is thus refused by every API
  process within REVOCATION_DELAY_S whatever happens to Redis, and at once when it works.

On a Redis Cluster a process subscribes on one node (classic pub/sub reaches subscribers
on every node), the next one after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError

from fitboard.adapters.redis_client import PubSubNodes, redis_client, stay_subscribed
from fitboard.adapters.stopping import pause, stop
from fitboard.application.accounts.ports import KeptGenerations

__all__ = ["RedisGenerationChanges", "generations_channel"]

log = logging.getLogger(__name__)

# How long `start` waits for the first subscription before letting the process go on
# (trusting what it reads for REVOCATION_DELAY_S until it is subscribed).
FIRST_SUBSCRIPTION_WAIT_S = 2.0
# Every process publishes a heartbeat this often; with a handful of API processes, a few
# small messages a second each.
HEARTBEAT_S = 1.0
# How long a message heard proves the subscription alive: a few heartbeats, so that one
# late or lost does not make every process read every athlete again.
SILENCE_S = 3.0


def generations_channel(namespace: str) -> str:
    return f"{namespace}:generations"


class RedisGenerationChanges:
    """`GenerationChanges` for production: tells the local listeners at once and every
    other process through the channel; once `start`ed, hears the others' changes."""

    def __init__(
        self,
        url: str,
        channel: str,
        *,
        heartbeat_s: float = HEARTBEAT_S,
        silence_s: float = SILENCE_S,
    ) -> None:
        self._nodes = PubSubNodes(url)
        self._channel = channel
        self._heartbeat_s = heartbeat_s
        self._silence_s = silence_s
        self._publisher = redis_client(url, timeout_s=2.0)
        self._kept: list[KeptGenerations] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def listen(self, kept: KeptGenerations) -> None:
        # Deaf until the next message heard proves the subscription (within a heartbeat).
        kept.deaf()
        self._kept.append(kept)

    async def changed(self, user_id: UUID) -> None:
        for kept in self._kept:
            kept.forget(user_id)
        try:
            await self._publisher.publish(self._channel, str(user_id))
        except RedisError as exc:
            # The change is committed: failing the request would not undo it. A process
            # whose subscription works on a Redis this one cannot reach rechecks the
            # athlete within its safety recheck (SAFETY_RECHECK_S); one that cannot reach
            # it either is deaf, and rechecks within REVOCATION_DELAY_S.
            log.error(
                "the other API processes could not be told that athlete %s's tokens were "
                "revoked (%s): they refuse them at their next recheck",
                user_id,
                exc,
            )

    async def start(self, wait_s: float = FIRST_SUBSCRIPTION_WAIT_S) -> None:
        """Listen and send heartbeats in the background; return once subscribed, or after
        `wait_s` (the listener goes on trying)."""
        subscribed = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(subscribed), name="generation-changes-listener"),
            asyncio.create_task(self._beat(), name="generation-changes-heartbeat"),
        ]
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await subscribed.wait()

    async def _listen(self, subscribed: asyncio.Event) -> None:
        def heard(message: Mapping[str, Any]) -> None:
            kind = message.get("type")
            if kind == "subscribe":
                for kept in self._kept:
                    kept.resume(self._silence_s)
                subscribed.set()
            elif kind == "message":
                self._handle(message["data"])

        def lost(exc: Exception, pause_s: float) -> bool:
            self._deaf()
            log.warning(
                "token revocations not heard (%s): generations are read again every few "
                "seconds until subscribed again, in %.1f s",
                exc,
                pause_s,
            )
            return True

        try:
            await stay_subscribed(self._nodes, self._channel, heard, lost)
        finally:
            self._deaf()

    def _handle(self, data: bytes | str) -> None:
        text = data.decode() if isinstance(data, bytes) else data
        if text:
            try:
                user_id = UUID(text)
            except ValueError:
                log.warning("a token revocation that cannot be read: forgetting every one")
                for kept in self._kept:
                    kept.resume(self._silence_s)
                return
            for kept in self._kept:
                kept.forget(user_id)
        # Every message, a heartbeat (empty) or a change, proves the subscription alive.
        for kept in self._kept:
            kept.heard(self._silence_s)

    async def _beat(self) -> None:
        # Ends at `close` by `_stopping` too: its cancellation may be lost while a
        # heartbeat is sent (adapters/stopping.py). The listener needs no such cue: its
        # client has no socket timeout, so redis-py sends its commands without `wait_for`.
        while True:
            try:
                await self._publisher.publish(self._channel, "")
            except RedisError as exc:
                # Unheard heartbeats make every process deaf, which is what they are for.
                log.debug("generation-changes heartbeat not sent: %s", exc)
            if await pause(self._heartbeat_s, self._stopping):
                return

    def _deaf(self) -> None:
        for kept in self._kept:
            kept.deaf()

    async def close(self) -> None:
        try:
            await stop(self._tasks, self._stopping)
        finally:
            await self._publisher.aclose()
