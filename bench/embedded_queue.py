"""What embedded `fitboard serve` still holds in its SQLite queue (queue.db in its data dir),
read from outside the process: the messages of each queue that no consumer has acked yet
(ready, waiting out a retry, or leased to a consumer) and each queue's dead letters.

No public interface tells this: /metrics and `fitboard status` give the workouts queue's
depth alone, /metrics every 15 s. The file is opened read-only (SQLite's `mode=ro` URI),
so nothing of the server's is written; a reader of a WAL database waits for no writer.

An acked message is deleted from the file (fitboard.adapters.queue_sqlite), so a queue
with no row left has nothing for its consumer to do."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

QUEUE_FILE = "queue.db"  # fitboard's Settings.queue_path, in the data dir


@dataclass(frozen=True)
class Held:
    """Per queue name: the messages not yet acked, and the dead letters."""

    messages: dict[str, int]
    dead_letters: dict[str, int]

    @property
    def empty(self) -> bool:
        """No queue holds a message that a consumer has yet to handle."""
        return not any(self.messages.values())


def held(data_dir: Path) -> Held:
    """The queue file's messages and dead letters by queue, as one snapshot (one read
    transaction)."""
    uri = f"{(data_dir / QUEUE_FILE).resolve().as_uri()}?mode=ro"
    # isolation_level=None: the transaction is the explicit BEGIN below, nothing implicit.
    with closing(sqlite3.connect(uri, uri=True, timeout=10, isolation_level=None)) as db:
        db.execute("BEGIN")
        try:
            messages = db.execute("SELECT queue, count(*) FROM messages GROUP BY queue")
            counts = {str(name): int(n) for name, n in messages.fetchall()}
            dead = db.execute("SELECT queue, count(*) FROM dead_letters GROUP BY queue")
            dead_letters = {str(name): int(n) for name, n in dead.fetchall()}
        finally:
            db.execute("ROLLBACK")
    return Held(counts, dead_letters)
