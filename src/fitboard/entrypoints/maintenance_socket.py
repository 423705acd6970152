"""Maintenance of the boards held in the memory of `fitboard serve`, asked for through a
unix socket in the embedded data directory.

In embedded mode the boards live in the process that serves the data directory, so
`fitboard reconcile`, a process of its own, cannot read them. The serving process listens
on `maintenance.sock` in the directory (0600, in a 0700 directory: its owner alone may
ask, and nothing is added to the HTTP interface); the command sends one request and the
server answers with progress lines, then the report, one JSON object per line:

    -> {"command": "reconcile", "repair": false, "warm": false}
    <- {"checked": 120, "total": 3456}      (any number of these)
    <- {"report": {...}}                    (or {"error": "..."})
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

from fitboard.application.boards.maintenance import Difference, ReconcileReport
from fitboard.bootstrap import Container, maintenance_socket
from fitboard.domain.boards import BoardId, BoardKey

log = logging.getLogger(__name__)

# A unix socket's path is at most 107 bytes on Linux; a longer one is reached through the
# directory's descriptor (/proc/self/fd/<n>/...), which is short.
_MAX_SOCKET_PATH = 100
# Progress lines are sent at most this often.
_PROGRESS_EVERY_S = 0.1
# A request line is small; anything longer is not one.
_MAX_REQUEST = 4096


class MaintenanceUnreachable(Exception):
    """No process answers on the data directory's maintenance socket."""


@contextlib.contextmanager
def _short_path(path: Path) -> Iterator[str]:
    text = str(path)
    if len(os.fsencode(text)) <= _MAX_SOCKET_PATH:
        yield text
        return
    directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{directory}/{path.name}"
    finally:
        os.close(directory)


async def serve_maintenance(container: Container, stop: asyncio.Event) -> None:
    """Answer maintenance requests on the data directory's socket until `stop` is set."""
    path = maintenance_socket(container.settings)
    if path is None:
        return
    # This process holds the data directory's lock: a socket file left here is from a
    # process that died.
    path.unlink(missing_ok=True)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await _answer(container, reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            log.info("a maintenance request's client went away")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    previous = os.umask(0o177)
    try:
        with _short_path(path) as where:
            server = await asyncio.start_unix_server(handle, path=where, limit=_MAX_REQUEST)
    finally:
        os.umask(previous)
    path.chmod(stat.S_IRUSR | stat.S_IWUSR)
    try:
        async with server:
            await stop.wait()
    finally:
        path.unlink(missing_ok=True)


async def _answer(
    container: Container, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    try:
        request = json.loads(await reader.readline())
        if request.get("command") != "reconcile":
            raise ValueError(f"unknown command {request.get('command')!r}")
        repair, warm = bool(request.get("repair")), bool(request.get("warm"))
    except (ValueError, AttributeError) as exc:
        await _send(writer, {"error": f"not a maintenance request: {exc}"})
        return
    loop = asyncio.get_running_loop()
    last = 0.0

    def note(checked: int, total: int) -> None:
        nonlocal last
        if loop.time() - last >= _PROGRESS_EVERY_S or checked == total:
            last = loop.time()
            # Buffered, and sent while the reconcile awaits its reads.
            writer.write(json.dumps({"checked": checked, "total": total}).encode() + b"\n")

    report = await container.services.maintenance.reconcile(repair=repair, warm=warm, progress=note)
    await _send(writer, {"report": encode_report(report)})


async def _send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message).encode() + b"\n")
    await writer.drain()


async def reconcile_served(
    path: Path, *, repair: bool, warm: bool, progress: Callable[[int, int], None]
) -> ReconcileReport:
    """Ask the process serving the data directory to reconcile the boards it holds."""
    try:
        with _short_path(path) as where:
            reader, writer = await asyncio.open_unix_connection(where, limit=2**24)
    except (FileNotFoundError, ConnectionRefusedError) as exc:
        raise MaintenanceUnreachable(
            f"nothing answers on {path} ({exc.strerror}): the process serving the data "
            "directory is not `fitboard serve`, or is still starting"
        ) from None
    try:
        await _send(writer, {"command": "reconcile", "repair": repair, "warm": warm})
        while line := await reader.readline():
            message = json.loads(line)
            if "checked" in message:
                progress(int(message["checked"]), int(message["total"]))
            elif "report" in message:
                return decode_report(message["report"])
            else:
                raise MaintenanceUnreachable(f"the server refused: {message.get('error')}")
        raise MaintenanceUnreachable(
            f"the server at {path} closed the connection before its report"
        )
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def encode_report(report: ReconcileReport) -> dict[str, Any]:
    return {
        "boards_checked": report.boards_checked,
        "implied": report.implied,
        "cold": report.cold,
        "partly_held": report.partly_held,
        "not_implied": report.not_implied,
        "entries_compared": report.entries_compared,
        "record_entries": report.record_entries,
        "difference_count": report.difference_count,
        "differences": [
            [d.key.name, str(d.user_id), d.in_index, d.in_record] for d in report.differences
        ],
        "differing": [key.name for key in report.differing],
        "repaired": [key.name for key in report.repaired],
        "warmed": report.warmed,
        "dropped": report.dropped,
    }


def _key(name: str) -> BoardKey:
    board, _, period_key = name.rpartition("/")
    return BoardKey(BoardId.parse(board), period_key)


def decode_report(data: dict[str, Any]) -> ReconcileReport:
    return ReconcileReport(
        boards_checked=data["boards_checked"],
        implied=data["implied"],
        cold=data["cold"],
        partly_held=data["partly_held"],
        not_implied=data["not_implied"],
        entries_compared=data["entries_compared"],
        record_entries=data["record_entries"],
        difference_count=data["difference_count"],
        differences=[
            Difference(_key(key), UUID(user), in_index, in_record)
            for key, user, in_index, in_record in data["differences"]
        ],
        differing=[_key(name) for name in data["differing"]],
        repaired=[_key(name) for name in data["repaired"]],
        warmed=data["warmed"],
        dropped=data["dropped"],
    )
