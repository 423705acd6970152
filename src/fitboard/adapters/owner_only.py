"""Embedded mode's data directory is its owner's alone: it holds every athlete's record,
the queue and the secret that signs their tokens."""

from __future__ import annotations

import stat
from pathlib import Path


def restrict_to_owner(data_dir: Path) -> None:
    """The directory 0700 and each file in it 0600. SQLite gives the journal files it
    makes later the permissions of their database, so they follow."""
    data_dir.chmod(stat.S_IRWXU)
    for path in data_dir.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(stat.S_IRUSR | stat.S_IWUSR)
