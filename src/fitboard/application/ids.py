"""New random ids (version 4 UUIDs) without a system call each.

`uuid.uuid4()` reads 16 bytes with `os.urandom`, whose `getrandom` call releases the GIL;
getting it back waits for whichever other thread holds it, up to the interpreter's switch
interval (5 ms). In one process with busy threads (embedded mode: SQLite's connection
threads and the queue's) an id on the event loop then cost 155 µs instead of 1.2 µs
(measured with one spinning thread beside it), and a request needs two (its request id
and its workout's). These ids come from the same source, the kernel's CSPRNG, read
`_IDS_A_READ` ids at a time: unpredictable as `uuid4`'s (a client may choose a workout's
id, so a guessable one would let another athlete take it first), one system call for
many. A forked child starts with a buffer of its own, never its parent's.
"""

from __future__ import annotations

import os
import threading
import uuid

__all__ = ["new_hex", "new_id"]

# Ids read from the kernel at once: 4 KiB, one page.
_IDS_A_READ = 256
_ID_BYTES = 16


class _RandomBytes:
    """16-byte slices of one read of `os.urandom`, handed out once each."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0

    def take(self) -> bytes:
        with self._lock:
            if self._at >= len(self._buffer):
                self._buffer = os.urandom(_IDS_A_READ * _ID_BYTES)
                self._at = 0
            at = self._at
            self._at = at + _ID_BYTES
            return self._buffer[at : at + _ID_BYTES]

    def forget(self) -> None:
        """Drop what is left (in a forked child, whose parent hands the same bytes out)."""
        self._lock = threading.Lock()
        self._buffer = b""
        self._at = 0


_RANDOM = _RandomBytes()
os.register_at_fork(after_in_child=_RANDOM.forget)


def new_id() -> uuid.UUID:
    """A new random id, as `uuid.uuid4()` makes one."""
    return uuid.UUID(bytes=_RANDOM.take(), version=4)


def new_hex() -> str:
    """`new_id()` as 32 hex digits, as `uuid.uuid4().hex`."""
    return new_id().hex
