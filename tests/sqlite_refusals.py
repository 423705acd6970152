"""Make an embedded-mode SQLite file refuse some inserts, as a full disk or an I/O error
would refuse them: a trigger in the file itself, so the code under test runs unchanged."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def refuse_inserts(path: Path, table: str, when: str) -> None:
    """Fail every statement that inserts into `table` a row for which the SQL condition
    `when` (over NEW) holds, with the error 'refused by the test'."""
    with closing(sqlite3.connect(path, timeout=30)) as db:
        db.execute(
            f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {when} "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        )
        db.commit()


def refuse_messages_holding(path: Path, word: str) -> None:
    """Fail every insert of a queue message whose body holds `word`."""
    refuse_inserts(path, "messages", f"instr(NEW.body, '{word}') > 0")
