"""Live push over Socket.IO (python-socketio): the `LiveNotifier` adapter, and the gateway
that every API process runs.

Embedded mode is one process: an `AsyncServer` with its in-memory manager, and board moves
go straight to that process's coalescer.

Production mode: every API process runs an `AsyncServer` whose manager is a
`BatchingRedisManager` (python-socketio's `AsyncRedisManager`, on the channel
`<namespace>:socketio`), and workers emit through a write-only one, so an event emitted
anywhere reaches the athlete's connections on every API process. An emit to one room (an
athlete's) travels on that room's own channel, `<namespace>:socketio#<room>`, which an API
process subscribes to only while one of its clients is in the room: a process receives
and decodes only the events its own clients get, not every event of every athlete (the
common channel carries the rest: broadcasts, disconnects). Board moves (calendar boards, and
challenges' boards, named `challenge:<id>`) travel on a channel of their own,
`<namespace>:boards-moved`, which every API process listens to; each process then
snapshots the boards its own clients watch, at most once per `flush_interval_s` per board,
and emits the snapshot with `ignore_queue=True` (to its local clients only), so snapshots
are neither duplicated across processes nor multiplied by the rate of workouts.

On a Redis Cluster (`redis+cluster://`), all these channels are classic pub/sub, which a
cluster broadcasts: a PUBLISH on any node reaches the subscribers on every node. So each
pub/sub connection is a plain connection to one node of the URL's list (a random one at
first), and a connection that fails is made again to the next node in the list: while a
node is down, its subscribers move to another within a retry (the Socket.IO listener waits
1 s, doubling, the boards-moved listener 0.5 s, doubling, both up to 10 s; the new
connection subscribes every room again), and what was published meanwhile is lost, as on
any reconnect (subscribe snapshots repair clients). The boards-moved publisher is a
cluster client, which sends each PUBLISH to a node that answers.

Why classic pub/sub for the rooms' channels, not sharded pub/sub (SSUBSCRIBE, Redis 7):
sharded channels would keep a room's messages on the shard owning the room's slot instead
of relaying each PUBLISH over the cluster bus to every node, but a process would need a
connection to every shard owning one of its rooms (with thousands of clients, all of
them) and would have to move its subscriptions when slots move (redis-py 8.1's asyncio
`ClusterPubSub` does that by polling each node's connection in turn). Classic pub/sub keeps
one connection per process and works on a single Redis of any version; the relay costs
the cluster's nodes a message each, and no API process decodes a message that none of its
clients gets.

Back-pressure: an emit only appends to each recipient's Engine.IO queue (its writer task
drains it at the client's pace), so a slow or dead client delays nobody else. What it costs
is memory: a client whose backlog passes `max_backlog` packets is dropped, and a dead one
is dropped by the ping timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol
from uuid import UUID

import redis.asyncio as redis_asyncio
import socketio
from engineio import packet as engineio_packet
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from socketio import packet as socketio_packet

from fitboard.adapters.live_metrics import (
    BOARD_MOVES,
    EVENTS_EMITTED,
    EVENTS_RELAYED,
    PUSH_FAILURES,
    ROOM_CHANNELS,
    SEND_BACKLOG_MAX,
    SLOW_CLIENTS_DROPPED,
    SNAPSHOTS,
)
from fitboard.adapters.redis_client import (
    PubSubNodes,
    is_cluster_url,
    redis_client,
    stay_subscribed,
)
from fitboard.adapters.stopping import stop
from fitboard.application.live.events import (
    LEADERBOARD_UPDATE,
    athlete_room,
    board_room,
    challenge_board,
    challenge_id_of,
)
from fitboard.domain.boards import BoardId, BoardKey
from fitboard.domain.errors import InvalidField

__all__ = [
    "BatchingRedisManager",
    "BoardCoalescer",
    "FanoutManager",
    "RedisBoardsFeed",
    "RoomChannels",
    "SnapshotSource",
    "SocketIOGateway",
    "SocketIONotifier",
    "socketio_channel",
]

log = logging.getLogger(__name__)

# (board name, period key): what travels on the boards-moved channel. A challenge's board
# is named `challenge:<id>`, its period key the id.
BoardMove = tuple[str, str]
BoardsMovedSink = Callable[[Sequence[BoardMove]], Awaitable[None]]

# Messages waiting to be published while Redis is slow or down; beyond this the oldest
# are dropped (live push is best effort, and subscribe snapshots repair clients).
_MAX_PENDING_PUBLISHES = 50_000
# The longest joining a room waits for Redis to confirm the room's channel subscription.
SUBSCRIBE_WAIT_S = 2.0


def socketio_channel(namespace: str) -> str:
    return f"{namespace}:socketio"


def boards_channel(namespace: str) -> str:
    return f"{namespace}:boards-moved"


class SnapshotSource(Protocol):
    """What the gateway needs from the application to build `leaderboard:update`."""

    def current_period_key(self, board: BoardId) -> str: ...

    async def snapshot(self, board: BoardId, version: int) -> dict[str, Any]: ...

    async def challenge_snapshot(self, challenge_id: UUID, version: int) -> dict[str, Any]: ...


def board_moves(keys: Iterable[BoardKey]) -> list[BoardMove]:
    return [(k.board.name, k.period_key) for k in dict.fromkeys(keys)]


def challenge_moves(challenge_ids: Iterable[UUID]) -> list[BoardMove]:
    return [(challenge_board(c), str(c)) for c in dict.fromkeys(challenge_ids)]


def room_of(board_name: str) -> str | None:
    """The room of a board's subscribers, or None for a name that names no board (another
    release's board, or junk on the channel)."""
    challenge_id = challenge_id_of(board_name)
    if challenge_id is not None:
        return challenge_board(challenge_id)
    try:
        return board_room(BoardId.parse(board_name))
    except InvalidField:
        return None


# --------------------------------------------------------------------------- managers


class FanoutManager(socketio.AsyncManager):  # type: ignore[misc]
    """python-socketio's in-process manager, emitting to a room without a task per recipient.

    The stock `emit` starts one task per recipient and waits for them all, though each only
    appends the packet to that socket's Engine.IO queue, which is unbounded and never
    waits. Here a plain loop does the same: for 5,000 recipients, 5,000 fewer tasks, and far
    fewer objects living long enough to reach the garbage collector's oldest generation,
    whose full collections paused a 5,000-client fan-out for up to a second
    (docs/benchmarks.md). Emits with an ack callback (one packet id per recipient) keep the
    stock path."""

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is not None:
            await super().emit(
                event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs
            )
            return
        if namespace not in self.rooms:
            return
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        # Listed first: a send may close a socket whose ping timed out, which leaves its
        # rooms, and the room must not change while it is being walked. Most events relayed
        # from workers are for athletes connected to another process, or to none: those
        # end here, before anything is encoded.
        recipients = [e for s, e in self.get_participants(namespace, room) if s not in skip]
        if not recipients:
            return
        # The argument conventions of the stock emit: a tuple is several arguments.
        args = list(data) if isinstance(data, tuple) else [] if data is None else [data]
        encoded = self.server.packet_class(
            socketio_packet.EVENT, namespace=namespace, data=[event, *args]
        ).encode()
        packets = [
            engineio_packet.Packet(engineio_packet.MESSAGE, p)
            for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        for eio_sid in recipients:
            for eio_pkt in packets:
                await self.server._send_eio_packet(eio_sid, eio_pkt)


class RoomChannels:
    """Which rooms' channels a process listens to: pure bookkeeping, no I/O.

    A room is *wanted* while it has a local member. The manager's listener sends what
    `changes()` returns on its pub/sub connection (SUBSCRIBE the wanted rooms not yet asked
    for, UNSUBSCRIBE the asked-for rooms no longer wanted) and reports each confirmation
    the server sends back (`confirmed`). A room is *ready* when it is wanted, asked for,
    and every SUBSCRIBE sent for it has been confirmed: from then on Redis relays its
    messages to this process. Replies come in the order the commands were sent, so
    counting the confirmations still to come is exact even when a room is left and
    entered again while its commands are in flight. `waiter(room)` is resolved when the
    room is ready (or when waiting is pointless: the room is no longer wanted, or the
    connection was lost)."""

    def __init__(self) -> None:
        self._wanted: set[str] = set()
        self._asked: set[str] = set()
        self._unconfirmed: dict[str, int] = {}
        self._waiters: dict[str, list[asyncio.Future[None]]] = {}
        self.connected = False

    @property
    def asked(self) -> int:
        return len(self._asked)

    def want(self, room: str) -> None:
        self._wanted.add(room)

    def drop(self, room: str) -> None:
        self._wanted.discard(room)
        self._wake(room)

    def changes(self) -> tuple[list[str], list[str]]:
        """(rooms to subscribe, rooms to unsubscribe), taken as sent."""
        if not self.connected:
            return [], []
        subscribe = sorted(self._wanted - self._asked)
        unsubscribe = sorted(self._asked - self._wanted)
        self._asked.update(subscribe)
        self._asked.difference_update(unsubscribe)
        for room in subscribe:
            self._unconfirmed[room] = self._unconfirmed.get(room, 0) + 1
        return subscribe, unsubscribe

    def not_sent(self, subscribe: Sequence[str], unsubscribe: Sequence[str]) -> None:
        """`changes()` that could not be sent: asked for again at the next `changes()`."""
        for room in subscribe:
            self._asked.discard(room)
            self._unconfirmed[room] -= 1
            if not self._unconfirmed[room]:
                del self._unconfirmed[room]
        self._asked.update(unsubscribe)

    def confirmed(self, room: str) -> None:
        left = self._unconfirmed.get(room, 0) - 1
        if left > 0:
            self._unconfirmed[room] = left
            return
        self._unconfirmed.pop(room, None)
        self._wake(room)

    def ready(self, room: str) -> bool:
        return room in self._wanted and room in self._asked and room not in self._unconfirmed

    def waiter(self, room: str) -> asyncio.Future[None] | None:
        """A future resolved when `room` is ready, or None if there is nothing to wait for
        (ready already, not wanted, or no connection to wait on)."""
        if not self.connected or room not in self._wanted or self.ready(room):
            return None
        future = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(room, []).append(future)
        return future

    def connect(self) -> None:
        """A new connection, subscribed to nothing yet: every wanted room is asked again."""
        self._asked.clear()
        self._unconfirmed.clear()
        self.connected = True

    def lost(self) -> None:
        """The connection is gone: nobody waits for it."""
        self.connected = False
        self._asked.clear()
        self._unconfirmed.clear()
        for room in list(self._waiters):
            self._wake(room, force=True)

    def _wake(self, room: str, *, force: bool = False) -> None:
        if not (force or room not in self._wanted or self.ready(room)):
            return
        for future in self._waiters.pop(room, []):
            if not future.done():
                future.set_result(None)


class BatchingRedisManager(socketio.AsyncRedisManager, FanoutManager):  # type: ignore[misc]
    """python-socketio's Redis manager, with a channel per room, publishing in batches.

    Per room: an emit to one room (an athlete's `athlete:<id>`, a board's...) is published
    on that room's channel, `<channel>#<room>`, and an API process subscribes to a room's
    channel while one of its own clients is in the room (every room, a client's own sid
    room included), so a process receives only the events some client of its own will
    get; stock python-socketio puts every event on one channel that every process
    receives and decodes. Everything else (broadcasts, emits to a list of rooms,
    disconnects and room changes asked for another process's clients, callbacks) keeps
    the common channel, `<channel>`, which every process still listens to. All of it is
    classic pub/sub on one connection per process, also on a Redis Cluster (see the
    module's docstring): many channels cost Redis a dictionary entry each, and a PUBLISH
    to a channel nobody listens to costs it a lookup.

    Joining a room waits (at most `SUBSCRIBE_WAIT_S`) until Redis has confirmed its
    channel's subscription: the connect handler's join of the athlete's room returns only
    once events for that athlete reach this process, as when every process received
    everything. A room left is unsubscribed soon after, unless it is joined again first.

    In batches: `_publish` is the hook python-socketio leaves to pub/sub backends. Here
    it queues the message and returns; one task publishes everything queued so far in one
    pipeline, in order. One workout causes dozens of events (a `rank:update` per board):
    one round trip instead of dozens keeps a worker's push cheap. Also counts the events
    this process relays from others, for the metrics."""

    connected: bool
    redis: Any
    pubsub: Any
    channel: str
    write_only: bool
    rooms: dict[str, dict[Any, Any]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._nodes = PubSubNodes(self.redis_url)
        self._pending: list[tuple[str, str]] = []
        self._flusher: asyncio.Task[None] | None = None
        # Set at `aclose`: the publishing ends even if its cancellation is lost.
        self._stopping = asyncio.Event()
        self._flushed = asyncio.Event()
        self._flushed.set()
        self._room_channels = RoomChannels()
        self._rooms_changed = asyncio.Event()
        self._listener_connection: tuple[Any, Any] | None = None
        self._applier: asyncio.Task[None] | None = None

    def room_channel(self, room: str) -> str:
        return f"{self.channel}#{room}"

    @property
    def listening(self) -> bool:
        """Whether the listener has a connection on which it subscribes rooms."""
        return self._room_channels.connected

    def _redis_connect(self) -> None:
        """python-socketio's connect, but on a Redis Cluster (whose URL redis-py's `Redis`
        cannot read) a plain client of the next node: the channels are classic pub/sub,
        which every node of a cluster relays."""
        if not is_cluster_url(self.redis_url):
            super()._redis_connect()
            return
        self.redis = redis_asyncio.Redis.from_url(self._nodes.next(), **self.redis_options)
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        self.connected = True

    # ------------------------------------------------------------------ publishing

    def _channel_of(self, data: dict[str, Any]) -> str:
        room = data.get("room")
        if data.get("method") == "emit" and isinstance(room, str):
            return self.room_channel(room)
        return self.channel

    async def _publish(self, data: dict[str, Any]) -> None:
        if len(self._pending) >= _MAX_PENDING_PUBLISHES:
            del self._pending[0]
            PUSH_FAILURES.labels(str(data.get("event", data.get("method")))).inc()
        self._pending.append((self._channel_of(data), self.json.dumps(data)))
        self._flushed.clear()
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="socketio-publish")

    async def _flush(self) -> None:
        # Also told to stop by `_stopping`: a worker's client has a socket timeout, so its
        # cancellation may be lost while a batch is written (adapters/stopping.py), and
        # the publishing would go on as long as events are emitted.
        while self._pending and not self._stopping.is_set():
            batch, self._pending = self._pending, []
            try:
                if not self.connected:
                    self._redis_connect()
                async with self.redis.pipeline(transaction=False) as pipe:
                    for channel, message in batch:
                        pipe.publish(channel, message)
                    await pipe.execute()
            except Exception as exc:
                # Reconnect on the next batch; this one is lost, like any failed push.
                self.connected = False
                PUSH_FAILURES.labels("publish").inc(len(batch))
                log.warning("socket.io publish of %d messages failed: %s", len(batch), exc)
        self._flushed.set()

    async def drain(self, timeout_s: float = 2.0) -> None:
        """Wait (bounded) until everything queued has been published."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._flushed.wait()

    # ------------------------------------------------------------------ rooms

    def basic_enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        # Every way into a room passes here (a connection's own rooms, enter_room).
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if isinstance(room, str) and not self.write_only:
            self._room_channels.want(room)
            self._rooms_changed.set()

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        # Every way out of a room passes here (leave_room, close_room, a disconnect).
        super().basic_leave_room(sid, namespace, room)
        if (
            isinstance(room, str)
            and not self.write_only
            and not any(room in members for members in self.rooms.values())
        ):
            self._room_channels.drop(room)
            self._rooms_changed.set()

    async def enter_room(
        self, sid: str, namespace: str, room: Any, eio_sid: str | None = None
    ) -> None:
        await super().enter_room(sid, namespace, room, eio_sid=eio_sid)
        if isinstance(room, str):
            await self.room_ready(room)

    async def room_ready(self, room: str, timeout_s: float = SUBSCRIBE_WAIT_S) -> bool:
        """Wait (at most `timeout_s`) until this process receives what is published to
        `room`; False if it does not yet (no connection to Redis, or no confirmation in
        time: events meanwhile are lost, as on any reconnect)."""
        waiter = self._room_channels.waiter(room)
        if waiter is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await waiter
        return self._room_channels.ready(room)

    # ------------------------------------------------------------------ listening

    async def _listen(self) -> AsyncIterator[bytes]:
        """What python-socketio's listener task reads: the messages of the common channel
        and of the rooms' channels, on one connection made again (to the next node, on a
        cluster) when it is lost, with every wanted room subscribed again."""
        pause_s = 1.0
        prefix = self.room_channel("")
        while True:
            client = redis_asyncio.Redis.from_url(self._nodes.next(), **self._listen_options())
            pubsub = client.pubsub()
            self._listener_connection = (pubsub, client)
            applier: asyncio.Task[None] | None = None
            try:
                await pubsub.subscribe(self.channel)
                self._room_channels.connect()
                self._rooms_changed.set()
                applier = self._applier = asyncio.create_task(
                    self._apply(pubsub), name="socketio-rooms"
                )
                async for message in pubsub.listen():
                    kind = message["type"]
                    if kind == "message":
                        yield message["data"]
                    elif kind == "subscribe":
                        pause_s = 1.0
                        channel = message["channel"]
                        if isinstance(channel, bytes):
                            channel = channel.decode()
                        if channel.startswith(prefix):
                            self._room_channels.confirmed(channel[len(prefix) :])
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("socket.io channels lost (%s); again in %.1f s", exc, pause_s)
            finally:
                self._room_channels.lost()
                ROOM_CHANNELS.set(0)
                if applier is not None:
                    applier.cancel()
                self._listener_connection = None
                await _close_quietly(pubsub, client)
            await asyncio.sleep(pause_s)
            pause_s = min(pause_s * 2, 10.0)

    def _listen_options(self) -> dict[str, Any]:
        # No retry inside redis-py: a lost connection ends `listen()`, and `_listen` makes
        # a new one and subscribes every wanted room again, which its bookkeeping expects.
        return {**self.redis_options, "retry": Retry(NoBackoff(), 0), "retry_on_error": []}

    async def _apply(self, pubsub: Any) -> None:
        """Send the room subscriptions' changes, all that piled up in one command each."""
        while True:
            await self._rooms_changed.wait()
            self._rooms_changed.clear()
            subscribe, unsubscribe = self._room_channels.changes()
            try:
                if subscribe:
                    await pubsub.subscribe(*map(self.room_channel, subscribe))
                if unsubscribe:
                    await pubsub.unsubscribe(*map(self.room_channel, unsubscribe))
            except Exception as exc:
                # A broken connection also ends the listener, which starts over; else
                # these are sent again after a pause.
                self._room_channels.not_sent(subscribe, unsubscribe)
                log.warning("socket.io room subscriptions not sent (%s)", exc)
                await asyncio.sleep(0.5)
                self._rooms_changed.set()
            ROOM_CHANNELS.set(self._room_channels.asked)

    async def _handle_emit(self, message: dict[str, Any]) -> None:
        # Also called for this process's own emits, which EVENTS_EMITTED already counts.
        if message.get("host_id") != self.host_id:
            EVENTS_RELAYED.labels(str(message.get("event"))).inc()
        await super()._handle_emit(message)

    async def aclose(self) -> None:
        """Stop listening and close the Redis connections (python-socketio has no close)."""
        await self.drain()
        listener = getattr(self, "thread", None)
        await stop(
            [task for task in (listener, self._flusher) if isinstance(task, asyncio.Task)],
            self._stopping,
        )
        if self._applier is not None:
            self._applier.cancel()
        if self._listener_connection is not None:
            # Cancelled between two messages, the listener never reached its clean-up.
            await _close_quietly(*self._listener_connection)
            self._listener_connection = None
        if self.pubsub is not None:
            await self.pubsub.aclose()
        if self.redis is not None:
            await self.redis.aclose()
        self.connected = False


async def _close_quietly(pubsub: Any, client: Any) -> None:
    with contextlib.suppress(Exception):
        await pubsub.aclose()
    with contextlib.suppress(Exception):
        await client.aclose()


# --------------------------------------------------------------------------- board moves


class RedisBoardsFeed:
    """Board moves on a Redis pub/sub channel: workers and API processes publish, every API
    process listens. Pub/sub, not a queue: a process that is down has no clients to tell."""

    def __init__(self, url: str, channel: str) -> None:
        self._nodes = PubSubNodes(url)
        self._channel = channel
        self._publisher = redis_client(url, timeout_s=2.0)
        self._listener: asyncio.Task[None] | None = None

    async def publish(self, moves: Sequence[BoardMove]) -> None:
        rows = [list(move) for move in dict.fromkeys(moves)]
        await self._publisher.publish(self._channel, json.dumps(rows, separators=(",", ":")))

    async def listen(self, on_moves: Callable[[list[BoardMove]], None]) -> None:
        """Subscribe now (so nothing published after this returns is missed), then deliver
        in the background, resubscribing after a lost connection."""
        subscribed = asyncio.get_running_loop().create_future()
        self._listener = asyncio.create_task(
            self._listen(on_moves, subscribed), name="boards-moved-listener"
        )
        await subscribed

    async def _listen(
        self, on_moves: Callable[[list[BoardMove]], None], subscribed: asyncio.Future[None]
    ) -> None:
        # On a cluster, each attempt subscribes on the next node.
        def heard(message: Mapping[str, Any]) -> None:
            kind = message.get("type")
            if kind == "subscribe" and not subscribed.done():
                subscribed.set_result(None)
            elif kind == "message":
                on_moves(_decode_moves(message["data"]))

        def lost(exc: Exception, pause_s: float) -> bool:
            log.warning("boards-moved channel lost (%s); again in %.1f s", exc, pause_s)
            if not subscribed.done():
                subscribed.set_exception(exc)
                return False
            return True

        await stay_subscribed(self._nodes, self._channel, heard, lost)

    async def close(self) -> None:
        if self._listener is not None:
            # Cancelling is enough: the listener's client has no socket timeout, so
            # redis-py sends its commands without `wait_for` (adapters/stopping.py).
            await stop([self._listener])
        await self._publisher.aclose()


def _decode_moves(data: bytes | str) -> list[BoardMove]:
    try:
        rows = json.loads(data)
        return [(str(name), str(period_key)) for name, period_key in rows]
    except (ValueError, TypeError) as exc:
        log.warning("ignoring a malformed boards-moved message: %s", exc)
        return []


class BoardCoalescer:
    """Turns any rate of board moves into at most one snapshot per board per interval.

    `mark` only flags a board as dirty (and only if this process has subscribers to it).
    One task sends a dirty board at once if its last snapshot is older than the interval,
    otherwise when the interval is up, so the first move of a quiet board is shown at once
    and the last move of a burst is never lost. One snapshot per board is in flight at a
    time; a board moved meanwhile stays dirty for the next round."""

    def __init__(
        self,
        *,
        has_subscribers: Callable[[str], bool],
        send: Callable[[str, frozenset[str]], Awaitable[None]],
        interval_s: float = 0.25,
    ) -> None:
        self._has_subscribers = has_subscribers
        self._send = send
        self._interval_s = interval_s
        self._dirty: dict[str, set[str]] = {}
        self._last_sent: dict[str, float] = {}
        self._in_flight: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None

    def mark(self, moves: Iterable[BoardMove]) -> None:
        for name, period_key in moves:
            if not self._has_subscribers(name):
                BOARD_MOVES.labels("unwatched").inc()
                continue
            pending = self._dirty.get(name)
            if pending is None:
                self._dirty[name] = {period_key}
                BOARD_MOVES.labels("scheduled").inc()
            else:
                pending.add(period_key)
                BOARD_MOVES.labels("coalesced").inc()
            self._wake.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._wake.wait()
                self._wake.clear()
                self._flush_due(loop)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            for task in list(self._in_flight.values()):
                task.cancel()
            if self._in_flight:
                await asyncio.wait(list(self._in_flight.values()))

    def _flush_due(self, loop: asyncio.AbstractEventLoop) -> None:
        now = loop.time()
        next_due = math.inf
        for name in list(self._dirty):
            if name in self._in_flight:
                continue  # woken again when it finishes
            due = self._last_sent.get(name, -math.inf) + self._interval_s
            if due <= now:
                period_keys = frozenset(self._dirty.pop(name))
                self._last_sent[name] = now
                task = asyncio.create_task(self._send_one(name, period_keys))
                self._in_flight[name] = task
            else:
                next_due = min(next_due, due)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if next_due < math.inf:
            self._timer = loop.call_at(next_due, self._wake.set)
        # Forget boards that have been quiet for a while, so the map stays small.
        if len(self._last_sent) > 1024:
            stale = now - 10 * self._interval_s
            self._last_sent = {n: t for n, t in self._last_sent.items() if t > stale}

    async def _send_one(self, name: str, period_keys: frozenset[str]) -> None:
        try:
            await self._send(name, period_keys)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("leaderboard snapshot of %s failed", name)
        finally:
            self._in_flight.pop(name, None)
            if name in self._dirty:
                self._wake.set()


# --------------------------------------------------------------------------- notifier


class SocketIONotifier:
    """`LiveNotifier` over anything with python-socketio's `emit(event, data, to=...,
    namespace=...)`: the `AsyncServer` of an API process, or a write-only manager."""

    def __init__(
        self,
        emitter: Any,
        boards_moved: BoardsMovedSink,
        closers: Sequence[Callable[[], Awaitable[None]]] = (),
    ) -> None:
        self._emitter = emitter
        self._boards_moved = boards_moved
        self._closers = list(closers)

    async def to_athlete(self, user_id: UUID, event: str, payload: dict[str, Any]) -> None:
        try:
            await self._emitter.emit(event, payload, to=athlete_room(user_id), namespace="/")
        except Exception:
            PUSH_FAILURES.labels(event).inc()
            raise
        EVENTS_EMITTED.labels(event).inc()

    async def boards_moved(self, keys: Sequence[BoardKey]) -> None:
        await self._boards_moved(board_moves(keys))

    async def challenges_moved(self, challenge_ids: Sequence[UUID]) -> None:
        await self._boards_moved(challenge_moves(challenge_ids))

    async def close(self) -> None:
        for close in reversed(self._closers):
            try:
                await close()
            except Exception:
                log.exception("error while closing the live notifier")


# --------------------------------------------------------------------------- gateway


class SocketIOGateway:
    """The Socket.IO side of an API process: the server and its ASGI app, the snapshot
    coalescer, the board-moves listener (production) and the backlog watchdog.

    The socket event handlers (auth, subscribe) are the API's, in entrypoints/api/live.py;
    this class gives them `server`, `send_snapshot` and the room bookkeeping."""

    def __init__(
        self,
        server: socketio.AsyncServer,
        *,
        feed: RedisBoardsFeed | None = None,
        manager: BatchingRedisManager | None = None,
        flush_interval_s: float = 0.25,
        max_backlog: int = 2000,
        backlog_check_s: float = 1.0,
    ) -> None:
        self.server = server
        # Mounted by the API at /socket.io: every request under it is Engine.IO's.
        self.asgi_app = socketio.ASGIApp(server, socketio_path=None)
        self._feed = feed
        self._manager = manager
        self._max_backlog = max_backlog
        self._backlog_check_s = backlog_check_s
        self._versions: dict[str, int] = {}
        self._source: SnapshotSource | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.coalescer = BoardCoalescer(
            has_subscribers=self.has_subscribers,
            send=self._send_moved,
            interval_s=flush_interval_s,
        )
        self.notifier = SocketIONotifier(server, self._boards_moved)

    # ------------------------------------------------------------------ lifecycle

    async def start(self, source: SnapshotSource) -> None:
        self._source = source
        if self._manager is not None:
            # python-socketio starts the manager's Redis listener on the first connection;
            # start it now, so events published just after a client connects are not missed.
            self.server.manager_initialized = True
            self._manager.initialize()
        if self._feed is not None:
            await self._feed.listen(self.coalescer.mark)
        self._tasks = [
            asyncio.create_task(self.coalescer.run(), name="live-coalescer"),
            asyncio.create_task(self._watch_backlogs(), name="live-backlogs"),
        ]

    async def close(self) -> None:
        # Cancelling is enough: neither loop sends to Redis (the snapshots the coalescer
        # still has in flight when cancelled are one each, not a loop).
        await stop(self._tasks)
        if self._feed is not None:
            await self._feed.close()
        if self._manager is not None:
            await self._manager.aclose()
        await self.server.shutdown()

    # ------------------------------------------------------------------ boards

    def has_subscribers(self, board_name: str) -> bool:
        room = room_of(board_name)
        if room is None:
            return False
        rooms = self.server.manager.rooms.get("/", {})
        return bool(rooms.get(room))

    def next_version(self, board_name: str) -> int:
        """Milliseconds since the epoch, bumped if needed to increase on this process: the
        same rule on every process, so a client that reconnects elsewhere can still drop
        an older snapshot."""
        version = max(time.time_ns() // 1_000_000, self._versions.get(board_name, 0) + 1)
        self._versions[board_name] = version
        return version

    async def _boards_moved(self, moves: Sequence[BoardMove]) -> None:
        if self._feed is not None:
            await self._feed.publish(moves)  # every API process hears it, this one included
        else:
            self.coalescer.mark(moves)

    async def send_snapshot(self, board: BoardId, to: str, reason: str) -> None:
        """Read and send a snapshot to one client (a sid) or a room, local clients only."""
        if self._source is None:
            raise RuntimeError("the live gateway has not been started")
        payload = await self._source.snapshot(board, self.next_version(board.name))
        await self.server.emit(LEADERBOARD_UPDATE, payload, to=to, ignore_queue=True)
        SNAPSHOTS.labels(reason).inc()
        EVENTS_EMITTED.labels(LEADERBOARD_UPDATE).inc()

    async def send_challenge_snapshot(self, challenge_id: UUID, to: str, reason: str) -> None:
        """Read and send a snapshot of a challenge's board to one client (a sid) or a room,
        local clients only."""
        if self._source is None:
            raise RuntimeError("the live gateway has not been started")
        name = challenge_board(challenge_id)
        payload = await self._source.challenge_snapshot(challenge_id, self.next_version(name))
        await self.server.emit(LEADERBOARD_UPDATE, payload, to=to, ignore_queue=True)
        SNAPSHOTS.labels(reason).inc()
        EVENTS_EMITTED.labels(LEADERBOARD_UPDATE).inc()

    async def _send_moved(self, name: str, period_keys: frozenset[str]) -> None:
        if self._source is None or not self.has_subscribers(name):
            return
        challenge_id = challenge_id_of(name)
        if challenge_id is not None:
            # A challenge has one board instance, its whole window.
            await self.send_challenge_snapshot(challenge_id, challenge_board(challenge_id), "moved")
            return
        board = BoardId.parse(name)
        # Subscribers watch the current period; a late workout that moved last week's
        # board changes nothing they see.
        if self._source.current_period_key(board) not in period_keys:
            return
        await self.send_snapshot(board, board_room(board), "moved")

    # ------------------------------------------------------------------ back-pressure

    async def _watch_backlogs(self) -> None:
        while True:
            await asyncio.sleep(self._backlog_check_s)
            worst = 0
            # Engine.IO keeps one outgoing queue per connection; python-engineio is pinned,
            # and this is the only place that looks inside it.
            for socket in list(self.server.eio.sockets.values()):
                backlog = socket.queue.qsize()
                worst = max(worst, backlog)
                if backlog > self._max_backlog and not socket.closed:
                    await self._drop(socket, backlog)
            SEND_BACKLOG_MAX.set(worst)

    async def _drop(self, socket: Any, backlog: int) -> None:
        SLOW_CLIENTS_DROPPED.inc()
        log.warning("dropping live client %s: %d packets unsent", socket.sid, backlog)
        # abort: no goodbye packet, which would queue behind the backlog. Closing fires the
        # disconnect handlers, so the client leaves every room and gets nothing more.
        await socket.close(wait=False, abort=True)
        while True:
            try:
                socket.queue.get_nowait()
                socket.queue.task_done()
            except asyncio.QueueEmpty:
                break
        socket.queue.put_nowait(None)  # its writer exits once the blocked write returns
