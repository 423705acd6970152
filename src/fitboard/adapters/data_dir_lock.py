"""One process per embedded data directory: the one that consumes its queue and ranks.

Embedded mode keeps its boards in the memory of the process that processes workouts. A
second `fitboard serve` (or `fitboard worker`) on the same directory would take half the
queue and rank its half in its own memory: each process would show different boards
until both restarted. So the first one holds an exclusive lock on `serve.lock` in the
directory, and any other refuses to start, naming the holder.

The lock is `flock(2)` on an open file: the kernel drops it when the holder exits, however
it exits, so a crash never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

LOCK_FILE = "serve.lock"


class DataDirInUse(Exception):
    """Another process already serves this embedded data directory."""


class DataDirLock:
    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    @classmethod
    def acquire(cls, data_dir: Path) -> DataDirLock:
        data_dir.mkdir(parents=True, exist_ok=True)
        path = data_dir / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DataDirInUse(
                f"another fitboard process (pid {holder}) is already serving the data "
                f"directory {data_dir}: stop it first, or give this one a directory of its "
                "own with FITBOARD_DATA_DIR"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the lock


def check_free(data_dir: Path) -> None:
    """Raise DataDirInUse if another process holds the directory now; hold nothing."""
    DataDirLock.acquire(data_dir).release()
