"""The fan-out manager sends exactly what python-socketio's own manager sends, to the same
sockets, without a task per recipient; and the API process's garbage-collector tuning."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from typing import Any

import pytest
import socketio

from fitboard.adapters.live_socketio import FanoutManager

Sent = list[tuple[str, str]]


async def _emit_with(
    manager: Any, **emit: Any
) -> tuple[Sent, list[asyncio.Task[Any] | None], dict[str, str]]:
    """A server on `manager` with members a, b, c in room r (and d elsewhere); what `emit`
    sends, as (Engine.IO sid, encoded packet), and the task each send ran in."""
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    sent: Sent = []
    senders: list[asyncio.Task[Any] | None] = []

    async def record(eio_sid: str, pkt: Any) -> None:
        sent.append((eio_sid, pkt.encode()))
        senders.append(asyncio.current_task())

    server._send_eio_packet = record
    sids = {}
    for name in "abcd":
        sid = await server.manager.connect(f"eio-{name}", "/")
        sids[name] = sid
        await server.manager.enter_room(sid, "/", "r" if name != "d" else "elsewhere")
    skip = emit.pop("skip", None)
    if skip is not None:
        emit["skip_sid"] = [sids[n] for n in skip]
    await server.manager.emit(namespace="/", **emit)
    return sent, senders, sids


@pytest.mark.parametrize(
    "emit",
    [
        {"event": "leaderboard:update", "data": {"board": "x", "n": 1}, "room": "r"},
        {"event": "e", "data": ("several", 2), "to": "r"},
        {"event": "e", "data": None, "room": "r", "skip": "b"},
        {"event": "e", "data": [1, 2], "room": None},
        {"event": "e", "data": "x", "room": "nobody-here"},
    ],
)
async def test_the_same_packets_reach_the_same_sockets_as_with_python_socketio(
    emit: dict[str, Any],
) -> None:
    ours, _, _ = await _emit_with(FanoutManager(), **dict(emit))
    stock, _, _ = await _emit_with(socketio.AsyncManager(), **dict(emit))
    assert sorted(ours) == sorted(stock)
    if emit.get("room") == "nobody-here":
        assert ours == []
    else:
        assert ours


async def test_a_room_is_sent_member_by_member_in_the_emitting_task() -> None:
    # python-socketio's own manager sends each packet from a task of its own; this one
    # sends from the task that emits, one member after another.
    sent, senders, _ = await _emit_with(
        FanoutManager(), event="e", data={"k": 1}, room="r", skip="c"
    )
    assert sent == [("eio-a", '42["e",{"k":1}]'), ("eio-b", '42["e",{"k":1}]')]
    assert senders == [asyncio.current_task()] * 2


def test_serve_freezes_start_up_objects_and_collects_the_young_generation_less_often() -> None:
    code = (
        "import gc; from fitboard.entrypoints.process import tune_garbage_collector;"
        "tune_garbage_collector(12345); print(gc.get_threshold(), gc.get_freeze_count() > 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["(12345,", "20,", "100)", "True"]
