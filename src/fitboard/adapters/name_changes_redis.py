"""Name changes on a Redis pub/sub channel, `<namespace>:names`, so that every API
process forgets a display name it kept once the name changes.

The process that committed the change forgets the name at once and publishes the
athletes' ids; every API process subscribes and forgets them when the message arrives
(adapters/display_names_cache.py). Pub/sub, not a queue: a message is lost to a process
that is not subscribed, so a process keeps names only while subscribed. Until its first
subscription is confirmed it keeps none; when the subscription breaks and redis-py
cannot restore it, it keeps none until subscribed again; and at every confirmation (the
first, and each one redis-py's reconnection brings) it forgets every name kept, since
messages may have been missed meanwhile. Between a broken connection and redis-py
restoring it, names kept before may be served stale: they are forgotten at the
confirmation that ends it. On a Redis Cluster a process subscribes on one node (classic
pub/sub reaches subscribers on every node), the next one after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

from redis.exceptions import RedisError

from fitboard.adapters.display_names_cache import CachedDisplayNames
from fitboard.adapters.redis_client import PubSubNodes, redis_client, stay_subscribed
from fitboard.adapters.stopping import stop
from fitboard.application.ports import RankingUnavailable

__all__ = ["RedisNameChanges", "names_channel"]

log = logging.getLogger(__name__)

# How long `start` waits for the first subscription before letting the process go on
# (reading every name from the record until it is subscribed).
FIRST_SUBSCRIPTION_WAIT_S = 2.0


def names_channel(namespace: str) -> str:
    return f"{namespace}:names"


def encode_ids(user_ids: Sequence[UUID]) -> str:
    return ",".join(str(user_id) for user_id in dict.fromkeys(user_ids))


def decode_ids(data: bytes | str) -> list[UUID] | None:
    """The ids of a message; None for a message that cannot be read."""
    text = data.decode() if isinstance(data, bytes) else data
    try:
        return [UUID(part) for part in text.split(",") if part]
    except ValueError:
        return None


class RedisNameChanges:
    """`NameChanges` for production: tells `kept` at once and every other process through
    the channel, and, when `kept` is given, listens for the others' changes."""

    def __init__(self, url: str, channel: str, kept: CachedDisplayNames | None) -> None:
        self._nodes = PubSubNodes(url)
        self._channel = channel
        self._kept = kept
        self._publisher = redis_client(url, timeout_s=2.0)
        self._listener: asyncio.Task[None] | None = None

    async def changed(self, user_ids: Sequence[UUID]) -> None:
        if self._kept is not None:
            self._kept.forget(user_ids)
        try:
            await self._publisher.publish(self._channel, encode_ids(user_ids))
        except RedisError as exc:
            raise RankingUnavailable(
                f"the other API processes could not be told of a changed display name: {exc}"
            ) from exc

    async def start(self, wait_s: float = FIRST_SUBSCRIPTION_WAIT_S) -> None:
        """Listen in the background; return once subscribed, or after `wait_s` (the
        listener goes on trying, and names are read from the record until it succeeds)."""
        kept = self._kept
        if kept is None:
            return
        kept.suspend()
        subscribed = asyncio.Event()
        self._listener = asyncio.create_task(
            self._listen(kept, subscribed), name="name-changes-listener"
        )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait_s):
                await subscribed.wait()

    async def _listen(self, kept: CachedDisplayNames, subscribed: asyncio.Event) -> None:
        # Subscribe confirmations are read, not ignored: names may be kept only once the
        # server has the subscription. On a cluster, each attempt goes to the next node.
        def heard(message: Mapping[str, Any]) -> None:
            self._handle(kept, message)
            if kept.hearing:
                subscribed.set()

        def lost(exc: Exception, pause_s: float) -> bool:
            kept.suspend()
            log.warning(
                "display-name changes not heard (%s): every name is read from the record "
                "until subscribed again, in %.1f s",
                exc,
                pause_s,
            )
            return True

        try:
            await stay_subscribed(self._nodes, self._channel, heard, lost)
        finally:
            kept.suspend()

    def _handle(self, kept: CachedDisplayNames, message: Mapping[str, Any]) -> None:
        kind = message.get("type")
        if kind == "subscribe":
            kept.resume()
        elif kind == "message":
            user_ids = decode_ids(message["data"])
            if user_ids is None:
                log.warning("a display-name change that cannot be read: forgetting every name")
                kept.resume()
            else:
                kept.forget(user_ids)

    async def close(self) -> None:
        if self._listener is not None:
            # Cancelling is enough: the listener's client has no socket timeout, so
            # redis-py sends its commands without `wait_for` (adapters/stopping.py).
            await stop([self._listener])
        await self._publisher.aclose()
