"""The embedded mode's durable queue: the `MessageBroker` port on a SQLite file of its own.

It keeps the broker's semantics so the embedded mode behaves like production:
topic routing with `*` and `#`, one row per bound queue written in one transaction
(`synchronous=FULL`, so a returned `publish` survives power loss), leases instead of
acks in flight (a message whose consumer dies or hangs is delivered again when its
lease expires), retries with a delay, and dead letters with their reason.

One connection on a thread of its own: each transaction is one call on that thread, so
it costs one hand-over from the event loop and back, not one a statement (with aiosqlite
each statement waited for a turn of an event loop the API and the worker keep busy, and
the file's only writer waited with it).

Group commit: publishes made together in one process (within `group_commit.LINGER_S` of
the first, or while the previous write is in progress) are written in one transaction, one fsync
for all of them (`adapters.group_commit`); each `publish` returns only after the commit
that holds its message, and raises if that transaction failed. `publish_many` is one
such transaction; `publish_many_then` also writes a row with each message stored (an
accepted workout's in-flight mark: one fsync where a second write would have followed).
Other writes to the same file ride those transactions too (`write_beside`: the in-flight
markers, and this queue's own acks), so the process has one writer on the file: no
second connection waiting out SQLite's busy handler for the write lock, and one fsync
where there were several.

A publish in this process wakes waiting consumers at once; consumers in other
processes find new rows by polling every `poll_interval_s`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
import time
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from fitboard.adapters.deliveries import one_by_one
from fitboard.adapters.group_commit import GroupCommit, publish_through
from fitboard.adapters.sqlite_durable import commits_unsynced, open_durable
from fitboard.application.ids import new_hex
from fitboard.application.messaging.ports import (
    DeadLetter,
    Delivery,
    Message,
    QueueDepth,
    QueueSpec,
)
from fitboard.application.ports import QueueUnavailable

__all__ = ["Beside", "SqliteBroker", "topic_matches"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    max_attempts INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bindings (
    queue TEXT NOT NULL REFERENCES queues(name),
    pattern TEXT NOT NULL,
    PRIMARY KEY (queue, pattern)
);
-- A row is deliverable when available_at <= now. Leasing a row pushes available_at to
-- the lease deadline and sets lease_token, so an expired lease is simply a row that is
-- available again while still holding a token: no sweeper process is needed.
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    retries INTEGER NOT NULL DEFAULT 0,
    lease_expiries INTEGER NOT NULL DEFAULT 0,
    available_at REAL NOT NULL,
    lease_token TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, available_at, seq);
-- A lease takes the first ready messages in seq order: walked in that order, it stops
-- after `limit` of them, where messages_by_queue made it sort the whole ready backlog.
CREATE INDEX IF NOT EXISTS messages_in_order ON messages (queue, seq);
-- The leased messages alone, so that looking for expired leases before every lease does
-- not read the whole backlog of ready ones.
CREATE INDEX IF NOT EXISTS messages_leased ON messages (queue, available_at)
    WHERE lease_token IS NOT NULL;
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    routing_key TEXT NOT NULL,
    body BLOB NOT NULL,
    headers TEXT NOT NULL,
    reason TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_queue ON dead_letters (queue, id);
"""

# Columns added since the first release, for queue files made before them.
_ADDED_COLUMNS = {"messages": {"retries": "INTEGER NOT NULL DEFAULT 0"}}

_EXPIRED = "lease_token IS NOT NULL AND available_at <= :now"

# Expired leases of messages out of attempts go to the dead letters instead of being
# leased again; both statements share one transaction with the lease that follows.
_BURY_EXPIRED = f"""
INSERT INTO dead_letters
    (queue, message_id, routing_key, body, headers, reason, attempts, failed_at)
SELECT queue, message_id, routing_key, body, headers,
       'lease expired ' || (lease_expiries + 1) || ' times (consumer crashed or hung)',
       attempts, :now
FROM messages
WHERE queue = :queue AND {_EXPIRED} AND attempts >= :max_attempts
ORDER BY seq
"""
_DELETE_EXPIRED = f"""
DELETE FROM messages WHERE queue = :queue AND {_EXPIRED} AND attempts >= :max_attempts
"""
# The first `limit` messages ready, leased together (RETURNING does not promise an order:
# the caller sorts by seq).
_LEASE = """
UPDATE messages
SET attempts = attempts + 1,
    lease_expiries = lease_expiries + (lease_token IS NOT NULL),
    lease_token = :token,
    available_at = :deadline
WHERE seq IN (
    SELECT seq FROM messages INDEXED BY messages_in_order
    WHERE queue = :queue AND available_at <= :now
    ORDER BY seq
    LIMIT :limit
)
RETURNING seq, message_id, routing_key, body, headers, attempts, retries
"""
_MOVE_TO_DEAD_LETTERS = """
INSERT INTO dead_letters
    (queue, message_id, routing_key, body, headers, reason, attempts, failed_at)
SELECT queue, message_id, routing_key, body, headers, :reason, attempts, :now
FROM messages WHERE seq = :seq AND lease_token = :token
"""


@dataclass(frozen=True, eq=False)
class Beside:
    """A statement for the queue's file, run once per row of `rows` (executemany) in the
    transaction of a publish write, after its publishes: a write of another adapter on
    the same file (the in-flight markers), or an ack. `on_rows`, if given, is told how
    many rows the statement changed once the transaction has committed."""

    statement: str
    rows: Sequence[Sequence[Any]]
    on_rows: Callable[[int], None] | None = None


class _Publish(NamedTuple):
    """A message to publish; whether it must reach a queue; and `then`, a statement and
    its one row written in the same transaction if and only if the message is stored."""

    message: Message
    mandatory: bool
    then: tuple[str, Sequence[Any]] | None = None


# What a publish write carries: publishes, and statements beside them.
_Write = _Publish | Beside


@lru_cache(maxsize=1024)
def topic_matches(pattern: str, routing_key: str) -> bool:
    """AMQP topic matching: words split on '.', `*` is exactly one word, `#` zero or more."""
    return _match(tuple(pattern.split(".")), tuple(routing_key.split(".")))


def _match(pattern: tuple[str, ...], words: tuple[str, ...]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        # `#` may swallow any number of words, including none.
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


def _unsynced_transaction(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
    """`_in_transaction`, its commit not synced to disk by itself (`commits_unsynced`)."""
    with commits_unsynced(db):
        return _in_transaction(db, work)


def _in_transaction(db: sqlite3.Connection, work: Callable[[sqlite3.Connection], _T]) -> _T:
    """`work` between BEGIN IMMEDIATE and COMMIT, rolled back if anything fails: the
    connection is never left inside a transaction (the next BEGIN would fail)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        result = work(db)
        db.execute("COMMIT")
    except BaseException:
        # If the COMMIT went through, there is nothing to roll back.
        with contextlib.suppress(sqlite3.Error):
            db.execute("ROLLBACK")
        raise
    return result


def _write_thens(
    db: sqlite3.Connection, publishes: Sequence[_Publish], routed: Sequence[Sequence[str]]
) -> None:
    """The rows to write with their publishes, for the publishes stored (routed to a
    queue), one statement at a time, each in a savepoint: one that fails is logged and
    rolled back alone, the publishes stay (only what the rows record is missing, as when
    writing them after the publish failed)."""
    statements: dict[str, list[Sequence[Any]]] = {}
    for publish, queues in zip(publishes, routed, strict=True):
        if publish.then is not None and queues:
            statement, row = publish.then
            statements.setdefault(statement, []).append(row)
    for statement, rows in statements.items():
        db.execute("SAVEPOINT with_publishes")
        try:
            db.executemany(statement, rows)
        except sqlite3.Error:
            db.execute("ROLLBACK TO with_publishes")
            log.warning("could not write %d rows with their publishes", len(rows), exc_info=True)
        db.execute("RELEASE with_publishes")


def _add_missing_columns(db: sqlite3.Connection) -> None:
    for table, columns in _ADDED_COLUMNS.items():
        cursor = db.execute(f"PRAGMA table_info({table})")
        present = {row[1] for row in cursor.fetchall()}
        for name, definition in columns.items():
            if name not in present:
                try:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {definition}")
                except sqlite3.OperationalError as exc:
                    # Another process opening the same old file added it first.
                    if "duplicate column" not in str(exc):
                        raise


def _encode_headers(headers: Mapping[str, str]) -> str:
    return json.dumps(dict(headers), sort_keys=True)


def _decode_headers(text: str) -> dict[str, str]:
    loaded: dict[str, str] = json.loads(text)
    return loaded


def _unavailable(text: str, cause: BaseException) -> QueueUnavailable:
    error = QueueUnavailable(text)
    error.__cause__ = cause
    return error


class _SqliteDelivery:
    """A leased message. The lease token makes a late ack of an expired lease harmless."""

    def __init__(
        self,
        broker: SqliteBroker,
        spec: QueueSpec,
        seq: int,
        token: str,
        message: Message,
        attempt: int,
        retries: int,
        on_settled: Callable[[_SqliteDelivery], None],
    ) -> None:
        self._broker = broker
        self._spec = spec
        self._seq = seq
        self._token = token
        self._message = message
        self._attempt = attempt
        self._retries = retries
        self._on_settled = on_settled
        self._settled = False

    @property
    def message(self) -> Message:
        return self._message

    @property
    def attempt(self) -> int:
        return self._attempt

    @property
    def retries(self) -> int:
        return self._retries

    @property
    def settled(self) -> bool:
        return self._settled

    def _settle(self) -> None:
        if self._settled:
            raise RuntimeError(f"delivery of {self._message.message_id} was already settled")
        self._settled = True
        self._on_settled(self)

    async def ack(self) -> None:
        self._settle()
        await self._broker._ack((self._seq, self._token))

    async def retry(self, reason: str, delay_s: float, *, counted: bool = True) -> None:
        self._settle()
        await self._broker._release(
            self._spec, self._seq, self._token, reason, delay_s, counted=counted
        )

    async def dead_letter(self, reason: str) -> None:
        self._settle()
        await self._broker._bury(self._spec, self._seq, self._token, reason)

    async def _abandon(self) -> None:
        """The consumer went away without settling: expire the lease now, as a crash would
        after the visibility timeout, so the redelivery counts this attempt. The token is
        kept, so a late ack still removes the message if nobody has leased it since."""
        if not self._settled:
            await self._broker._expire(self._spec, self._seq, self._token)


def _own_delivery(delivery: Delivery) -> _SqliteDelivery:
    if not isinstance(delivery, _SqliteDelivery):
        raise TypeError(f"not a delivery of this queue: {delivery!r}")
    return delivery


class SqliteBroker:
    """`MessageBroker` on a SQLite file (WAL, synchronous=FULL), for the embedded mode."""

    def __init__(
        self,
        path: Path,
        *,
        visibility_timeout_s: float = 60.0,
        poll_interval_s: float = 0.2,
        max_publishes_per_write: int = 512,
    ) -> None:
        self._path = path
        self._visibility_timeout_s = visibility_timeout_s
        self._poll_interval_s = poll_interval_s
        self._db: sqlite3.Connection | None = None
        # One connection, used only on one thread of its own: its transactions run one
        # after the other, whole, in the order they were asked for, so they never
        # interleave and need no lock.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-queue")
        self._open_lock = asyncio.Lock()
        # One event per waiting consumer, so a publish wakes all of them, not just the
        # first that happens to clear a shared event.
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._closed = False
        # Publishes made together share one transaction (and one fsync), and so do the
        # writes beside them.
        self._publishes: GroupCommit[_Write] = GroupCommit(
            self._write_publishes, max_items=max_publishes_per_write, name="sqlite queue publish"
        )

    # ------------------------------------------------------------------ plumbing

    async def _run(self, call: Callable[[], _T]) -> _T:
        """`call` on the queue's own thread, the one that holds its connection."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, call)
        except RuntimeError as exc:
            if self._closed:
                # The thread was shut down by `close` between the caller's check and here.
                raise QueueUnavailable("the queue is closed") from exc
            raise

    async def _connection(self) -> sqlite3.Connection:
        if self._closed:
            raise QueueUnavailable("the queue is closed")
        if self._db is not None:
            return self._db
        async with self._open_lock:
            if self._db is None:
                # Durable: a confirmed publish survives power loss.
                self._db = await self._run(self._open)
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = open_durable(self._path, _SCHEMA)
        try:
            _add_missing_columns(db)
        except BaseException:
            db.close()
            raise
        return db

    async def _transaction(
        self, work: Callable[[sqlite3.Connection], _T], *, synced: bool = True
    ) -> _T:
        """Run `work` in one write transaction on the queue's thread, mapping database
        failures to QueueUnavailable. The whole transaction is one hand-over to the thread
        and back: statement by statement, each would wait for a turn of the event loop,
        which the API and the worker keep busy, and the file's one writer with it.

        BEGIN IMMEDIATE takes the write lock up front, so two processes leasing at once
        serialise instead of failing with SQLITE_BUSY half-way through.

        `synced=False`: the commit is not synced to disk by itself (`commits_unsynced`),
        for a write whose loss in a power failure is harmless."""
        run = _in_transaction if synced else _unsynced_transaction
        try:
            db = await self._connection()
            return await self._run(functools.partial(run, db, work))
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"queue database failed: {exc}") from exc

    def _wake(self, queues: Sequence[str]) -> None:
        for queue in queues:
            for event in self._waiters.get(queue, ()):
                event.set()

    # ------------------------------------------------------------------ the port

    async def declare(self, spec: QueueSpec) -> None:
        if spec.parent is not None:
            # Messages are routed by their routing key alone here (`partition_key` is not
            # read): a partition would never receive one.
            raise ValueError(
                f"{spec.name}: the embedded queue is not split in partitions "
                "(FITBOARD_WORKOUT_PARTITIONS is for production mode)"
            )

        def work(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT INTO queues (name, max_attempts) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET max_attempts = excluded.max_attempts",
                (spec.name, spec.max_attempts),
            )
            db.executemany(
                "INSERT OR IGNORE INTO bindings (queue, pattern) VALUES (?, ?)",
                [(spec.name, pattern) for pattern in spec.bindings],
            )

        await self._transaction(work)

    async def publish(self, message: Message, *, mandatory: bool = True) -> None:
        (outcome,) = await self.publish_many([message], mandatory=mandatory)
        if outcome is not None:
            raise outcome

    async def publish_many(
        self, messages: Sequence[Message], *, mandatory: bool = True
    ) -> list[QueueUnavailable | None]:
        return await publish_through(
            self._publishes,
            [_Publish(m, mandatory) for m in messages],
            closed="the queue is closed",
        )

    async def publish_many_then(
        self, items: Sequence[tuple[Message, str, Sequence[Any]]]
    ) -> list[QueueUnavailable | None]:
        """`publish_many` (mandatory) of each item's message, and with each message its
        row of its statement (message, statement, row), in the same transaction: written
        if and only if its message is stored, so one durable write (one fsync) holds both
        where two would follow each other. What each caller is told is its message's
        outcome: a row that fails is logged, its message stays stored."""
        return await publish_through(
            self._publishes,
            [_Publish(message, True, (statement, row)) for message, statement, row in items],
            closed="the queue is closed",
        )

    async def write_beside(self, writes: Sequence[Beside]) -> None:
        """Run `writes` in the transaction of the next publish write (with the publishes
        waiting, if any); return once it has committed, or raise QueueUnavailable."""
        outcomes = await publish_through(self._publishes, writes, closed="the queue is closed")
        failed = next((outcome for outcome in outcomes if outcome is not None), None)
        if failed is not None:
            raise failed

    async def _write_publishes(self, writes: list[_Write]) -> list[QueueUnavailable | None]:
        """One transaction (one sync to disk) for every publish of a group and the
        statements beside them: the group's publishes are stored together or not at all,
        each statement beside them on its own."""
        now = time.time()
        publishes = [write for write in writes if not isinstance(write, Beside)]
        besides = [write for write in writes if isinstance(write, Beside)]

        # Each part of a write in a savepoint of its own when the write holds more than
        # one part: one that fails fails its callers alone. The publishes are one part
        # (one statement; a group's publishes are stored together or not at all); each
        # statement beside them is another, so a mark or an ack never fails because
        # another request's publish did (a 202'd workout would poll as unknown).
        # The rows written with their publishes (`publish_many_then`) are parts too, so
        # that one failing never fails the publishes before it.
        alone = len(besides) + (1 if publishes else 0) == 1 and not any(
            publish.then for publish in publishes
        )

        def work(
            db: sqlite3.Connection,
        ) -> tuple[list[list[str]], sqlite3.Error | None, list[int | sqlite3.Error]]:
            routed: list[list[str]] = []
            published: sqlite3.Error | None = None
            if publishes:
                cursor = db.execute("SELECT queue, pattern FROM bindings")
                bindings = cursor.fetchall()
                rows: list[tuple[str, str, str, bytes, str, float]] = []
                for message, _, _ in publishes:
                    queues = sorted(
                        {q for q, p in bindings if topic_matches(p, message.routing_key)}
                    )
                    routed.append(queues)
                    headers = _encode_headers(message.headers)
                    rows.extend(
                        (queue, message.message_id, message.routing_key, message.body, headers, now)
                        for queue in queues
                    )
                insert = (
                    "INSERT INTO messages (queue, message_id, routing_key, body, headers, "
                    "available_at) VALUES (?, ?, ?, ?, ?, ?)"
                )
                if alone:
                    db.executemany(insert, rows)
                else:
                    db.execute("SAVEPOINT publishes")
                    try:
                        db.executemany(insert, rows)
                    except sqlite3.Error as exc:
                        db.execute("ROLLBACK TO publishes")
                        published = exc
                    db.execute("RELEASE publishes")
            if published is None:
                _write_thens(db, publishes, routed)
            changed: list[int | sqlite3.Error] = []
            for beside in besides:
                if alone:
                    cursor = db.executemany(beside.statement, beside.rows)
                    changed.append(cursor.rowcount)
                    continue
                db.execute("SAVEPOINT beside")
                try:
                    cursor = db.executemany(beside.statement, beside.rows)
                except sqlite3.Error as exc:
                    db.execute("ROLLBACK TO beside")
                    changed.append(exc)
                else:
                    changed.append(cursor.rowcount)
                db.execute("RELEASE beside")
            return routed, published, changed

        try:
            routed, published, changed = await self._transaction(work)
        except QueueUnavailable as exc:
            return [_unavailable(str(exc), exc) for _ in writes]
        if published is not None:
            routed = []
        results = iter(changed)
        routes = iter(routed)
        outcomes: list[QueueUnavailable | None] = []
        for write in writes:
            if isinstance(write, Beside):
                result = next(results)
                if isinstance(result, sqlite3.Error):
                    outcomes.append(_unavailable(f"queue database failed: {result}", result))
                    continue
                if write.on_rows is not None:
                    write.on_rows(result)
                outcomes.append(None)
                continue
            if published is not None:
                # One error per caller: each raises its own.
                outcomes.append(_unavailable(f"queue database failed: {published}", published))
                continue
            message, mandatory, _ = write
            queues = next(routes)
            outcomes.append(
                QueueUnavailable(f"no queue is bound to routing key {message.routing_key!r}")
                if not queues and mandatory
                else None
            )
        self._wake(sorted({queue for queues in routed for queue in queues}))
        return outcomes

    def consume(self, spec: QueueSpec, prefetch: int) -> AsyncGenerator[_SqliteDelivery, None]:
        return one_by_one(self.consume_batches(spec, prefetch, 1))

    async def consume_batches(
        self, spec: QueueSpec, prefetch: int, max_batch: int
    ) -> AsyncGenerator[list[_SqliteDelivery], None]:
        """Leases what is ready in one transaction; it never lingers, the ready messages
        being all there is to take."""
        if prefetch < 1 or max_batch < 1:
            raise ValueError("prefetch and max_batch must be at least 1")
        unsettled: set[_SqliteDelivery] = set()
        wakeup = asyncio.Event()
        self._waiters.setdefault(spec.name, set()).add(wakeup)

        def settled(delivery: _SqliteDelivery) -> None:
            unsettled.discard(delivery)
            wakeup.set()

        try:
            while not self._closed:
                # Cleared before looking, so a publish that lands after the look still
                # wakes us; a spurious wakeup only costs one empty lease query.
                wakeup.clear()
                room = min(max_batch, prefetch - len(unsettled))
                if room > 0:
                    batch = await self._lease(spec, settled, room)
                    if batch:
                        unsettled.update(batch)
                        yield batch
                        continue
                try:
                    async with asyncio.timeout(self._poll_interval_s):
                        await wakeup.wait()
                except TimeoutError:
                    pass
        finally:
            self._waiters.get(spec.name, set()).discard(wakeup)
            for delivery in list(unsettled):
                try:
                    await delivery._abandon()
                except QueueUnavailable:
                    # The lease will expire by itself; nothing is lost.
                    log.warning("could not release %s; its lease will expire", delivery)

    async def ack_many(self, deliveries: Sequence[Delivery]) -> None:
        mine = [_own_delivery(delivery) for delivery in deliveries]
        for delivery in mine:
            delivery._settle()
        if mine:
            await self._ack(*((delivery._seq, delivery._token) for delivery in mine))

    async def dead_letters(self, spec: QueueSpec, limit: int = 100) -> list[DeadLetter]:
        def work(db: sqlite3.Connection) -> list[DeadLetter]:
            cursor = db.execute(
                "SELECT message_id, routing_key, body, headers, reason, attempts, failed_at "
                "FROM dead_letters WHERE queue = ? ORDER BY id LIMIT ?",
                (spec.name, limit),
            )
            rows = cursor.fetchall()
            return [
                DeadLetter(
                    message=Message(
                        routing_key=row[1],
                        body=bytes(row[2]),
                        message_id=row[0],
                        headers=_decode_headers(row[3]),
                    ),
                    queue=spec.name,
                    reason=row[4],
                    attempts=row[5],
                    failed_at=datetime.fromtimestamp(row[6], UTC),
                )
                for row in rows
            ]

        return await self._transaction(work)

    async def replay_dead_letters(
        self, spec: QueueSpec, message_ids: Sequence[str] | None = None
    ) -> int:
        now = time.time()
        where = "queue = ?"
        params: list[Any] = [spec.name]
        if message_ids is not None:
            if not message_ids:
                return 0
            where += f" AND message_id IN ({', '.join('?' for _ in message_ids)})"
            params.extend(message_ids)

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "INSERT INTO messages (queue, message_id, routing_key, body, headers, "
                f"available_at) SELECT queue, message_id, routing_key, body, headers, ? "
                f"FROM dead_letters WHERE {where} ORDER BY id",
                [now, *params],
            )
            moved = cursor.rowcount
            db.execute(f"DELETE FROM dead_letters WHERE {where}", params)
            return moved

        moved = await self._transaction(work)
        if moved:
            self._wake([spec.name])
        return moved

    async def exists(self, spec: QueueSpec) -> bool:
        def work(db: sqlite3.Connection) -> bool:
            found = db.execute("SELECT 1 FROM queues WHERE name = ?", (spec.name,)).fetchone()
            return found is not None

        return await self._transaction(work)

    async def depth(self, spec: QueueSpec) -> QueueDepth:
        now = time.time()

        def work(db: sqlite3.Connection) -> QueueDepth:
            cursor = db.execute(
                "SELECT"
                " coalesce(sum(available_at <= :now), 0),"
                " coalesce(sum(lease_token IS NULL AND available_at > :now), 0),"
                " coalesce(sum(lease_token IS NOT NULL AND available_at > :now), 0)"
                " FROM messages WHERE queue = :queue",
                {"now": now, "queue": spec.name},
            )
            ready, retrying, in_flight = cursor.fetchone() or (0, 0, 0)
            cursor = db.execute("SELECT count(*) FROM dead_letters WHERE queue = ?", (spec.name,))
            (dead,) = cursor.fetchone() or (0,)
            return QueueDepth(
                ready=int(ready),
                retrying=int(retrying),
                dead_letters=int(dead),
                in_flight=int(in_flight),
                consumers=None,
            )

        return await self._transaction(work)

    async def expire_leases(self) -> int:
        """Make every leased message deliverable now, as if its lease had run out; returns
        how many. Only for a process that knows every other consumer of this file is dead
        (embedded mode's `serve`, which holds the data directory's lock): a crash then
        costs no wait for the visibility timeout. Each still counts as an expired lease,
        so a message that keeps killing its consumer is dead-lettered as before."""
        now = time.time()

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "UPDATE messages SET available_at = ? "
                "WHERE lease_token IS NOT NULL AND available_at > ?",
                (now, now),
            )
            return cursor.rowcount

        return await self._transaction(work)

    async def ping(self) -> None:
        try:
            db = await self._connection()
            await self._run(lambda: db.execute("SELECT 1").fetchone())
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"queue database failed: {exc}") from exc

    async def close(self) -> None:
        # Publishes already made are written (or fail) before the connection goes.
        await self._publishes.close()
        self._closed = True
        self._wake(list(self._waiters))
        db, self._db = self._db, None
        if db is not None:
            # On its thread, after every transaction already asked for.
            await asyncio.get_running_loop().run_in_executor(self._thread, db.close)
        self._thread.shutdown(wait=False)

    # ------------------------------------------------------------------ deliveries

    async def _lease(
        self, spec: QueueSpec, on_settled: Callable[[_SqliteDelivery], None], limit: int
    ) -> list[_SqliteDelivery]:
        token = new_hex()
        now = time.time()
        params = {
            "queue": spec.name,
            "now": now,
            "max_attempts": spec.max_attempts,
            "token": token,
            "deadline": now + self._visibility_timeout_s,
            "limit": limit,
        }

        def work(db: sqlite3.Connection) -> list[tuple[Any, ...]]:
            db.execute(_BURY_EXPIRED, params)
            db.execute(_DELETE_EXPIRED, params)
            cursor = db.execute(_LEASE, params)
            rows = cursor.fetchall()
            return sorted(tuple(row) for row in rows)

        # Not synced by itself (an fsync saved on every lease, which the reports consumer
        # takes for every message): a power failure can lose only leases (and buries) made
        # since the last durable commit, and so only by killing their consumer too. The
        # messages are then ready as before the lease, or still leased by the dead
        # process, whose leases the next `serve` expires at start (`expire_leases`) and the
        # lease query buries as before once out of attempts: delivered again, which
        # processing survives; at most an attempt goes uncounted. Publishes and acks stay
        # durable, and syncing them syncs every lease before them.
        rows = await self._transaction(work, synced=False)
        return [
            _SqliteDelivery(
                self,
                spec,
                seq,
                token,
                Message(routing_key, bytes(body), message_id, _decode_headers(headers)),
                attempts,
                retries,
                on_settled,
            )
            for seq, message_id, routing_key, body, headers, attempts, retries in rows
        ]

    async def _ack(self, *leases: tuple[int, str]) -> None:
        """Delete the leased messages (seq, lease token), all in one transaction: the next
        publish write's (`write_beside`)."""
        deleted = 0

        def count(rows: int) -> None:
            nonlocal deleted
            deleted = rows

        await self.write_beside(
            [Beside("DELETE FROM messages WHERE seq = ? AND lease_token = ?", leases, count)]
        )
        if deleted < len(leases):
            # A lease expired and the message went to another consumer (or the dead
            # letters); processing is idempotent, so the other copy settles it.
            log.warning("%d acks came after their lease expired", len(leases) - deleted)

    async def _release(
        self, spec: QueueSpec, seq: int, token: str, reason: str, delay_s: float, *, counted: bool
    ) -> None:
        available_at = time.time() + spec.retry_step(delay_s)
        # The lease counted this attempt; a retry that does not count gives it back.
        refund = 0 if counted else 1

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "UPDATE messages SET lease_token = NULL, available_at = ?, last_error = ?, "
                "attempts = attempts - ?, retries = retries + 1 "
                "WHERE seq = ? AND lease_token = ?",
                (available_at, reason, refund, seq, token),
            )
            return cursor.rowcount

        await self._transaction(work)

    async def _bury(self, spec: QueueSpec, seq: int, token: str, reason: str) -> None:
        params = {"seq": seq, "token": token, "reason": reason, "now": time.time()}

        def work(db: sqlite3.Connection) -> None:
            db.execute(_MOVE_TO_DEAD_LETTERS, params)
            db.execute("DELETE FROM messages WHERE seq = :seq AND lease_token = :token", params)

        await self._transaction(work)

    async def _expire(self, spec: QueueSpec, seq: int, token: str) -> None:
        now = time.time()

        def work(db: sqlite3.Connection) -> int:
            cursor = db.execute(
                "UPDATE messages SET available_at = ? WHERE seq = ? AND lease_token = ?",
                (now, seq, token),
            )
            return cursor.rowcount

        if await self._transaction(work):
            self._wake([spec.name])
