"""The API's Socket.IO events (path /socket.io, default namespace), as in API.md "Live
updates": authentication on connect with the HTTP API's JWT, and board subscriptions.

Each connection joins its athlete's room (`athlete:<user id>`) on connect, and a board's
room on subscribe, after the same access check as an HTTP read of that board: a calendar
board's (`{board: "<metric>/<period>/<scope>"}`, room `board:<name>`) or a challenge's
(`{challenge: "<id>"}`, room `challenge:<id>`, the rule of
`GET /v1/challenges/{id}/leaderboard`). A subscribe is answered with a snapshot of the
board and then the ack, so a client that reconnects after a gap is never left showing a
stale board. The server closes a connection when the token it was opened with expires; the
client connects again with a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any
from uuid import UUID

from socketio.exceptions import ConnectionRefusedError as Refused

from fitboard.adapters.live_metrics import (
    CONNECTIONS,
    CONNECTS,
    EXPIRED_DISCONNECTS,
    SUBSCRIPTIONS,
)
from fitboard.adapters.live_socketio import SocketIOGateway
from fitboard.application.live.events import athlete_room, board_room, challenge_board
from fitboard.application.ports import PortError
from fitboard.bootstrap import Services
from fitboard.domain.boards import BoardId
from fitboard.domain.errors import AuthenticationFailed, DomainError, InvalidField
from fitboard.entrypoints.api.athletes import KnownAthletes

log = logging.getLogger(__name__)

Ack = dict[str, Any]


def _board_named_in(data: Any) -> BoardId:
    name = data.get("board") if isinstance(data, dict) else None
    if not isinstance(name, str):
        raise InvalidField("board", 'send {board: "<metric>/<period>/<scope>"}')
    return BoardId.parse(name)


def _subscription_in(data: Any) -> BoardId | UUID:
    """What a subscribe or unsubscribe names: a calendar board, or a challenge (its id)."""
    if isinstance(data, dict) and "challenge" in data:
        try:
            return UUID(data["challenge"])
        except (TypeError, ValueError, AttributeError):
            raise InvalidField("challenge", 'send {challenge: "<challenge id>"}') from None
    return _board_named_in(data)


def _room(subscription: BoardId | UUID) -> str:
    if isinstance(subscription, UUID):
        return challenge_board(subscription)
    return board_room(subscription)


async def disconnect_athlete(gateway: SocketIOGateway | None, user_id: UUID) -> int:
    """Close the athlete's connections that this process holds, after their tokens were
    revoked (signed out, password changed, account deleted); how many. Connections held by
    other API processes close when the token they were opened with expires."""
    if gateway is None:
        return 0
    server = gateway.server
    sids = [sid for sid, _ in server.manager.get_participants("/", athlete_room(user_id))]
    for sid in sids:
        await server.disconnect(sid)
    return len(sids)


def install(gateway: SocketIOGateway, services: Services, athletes: KnownAthletes) -> None:
    """Register the event handlers on the gateway's server."""
    server = gateway.server

    async def user_of(sid: str) -> UUID:
        session = await server.get_session(sid)
        return UUID(session["user_id"])

    # A connection lives no longer than the token it was opened with: at its expiry the
    # server disconnects it, and the client must connect again with a fresh token.
    expiries: dict[str, asyncio.TimerHandle] = {}
    closing: set[asyncio.Task[None]] = set()

    def expire(sid: str) -> None:
        expiries.pop(sid, None)
        EXPIRED_DISCONNECTS.inc()
        task = asyncio.create_task(server.disconnect(sid))
        closing.add(task)
        task.add_done_callback(closing.discard)

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        try:
            if not isinstance(token, str) or not token:
                raise AuthenticationFailed("connect with auth: {token: <access token>}")
            access = services.tokens.verify(token)
            await athletes.require(access, services.sessions)
        except AuthenticationFailed as exc:
            CONNECTS.labels("refused").inc()
            # Sent to the client as the connect_error's message.
            raise Refused(str(exc)) from None
        await server.save_session(sid, {"user_id": str(access.user_id)})
        await server.enter_room(sid, athlete_room(access.user_id))
        loop = asyncio.get_running_loop()
        # call_at runs on the loop's monotonic clock; the token's expiry is wall time.
        delay_s = max(0.0, access.expires_at - time.time())
        expiries[sid] = loop.call_at(loop.time() + delay_s, expire, sid)
        CONNECTS.labels("accepted").inc()
        CONNECTIONS.inc()

    async def disconnect(sid: str, reason: Any = None) -> None:
        timer = expiries.pop(sid, None)
        if timer is not None:
            timer.cancel()
        boards = [
            r
            for r in server.rooms(sid)
            if isinstance(r, str) and r.startswith(("board:", "challenge:"))
        ]
        SUBSCRIPTIONS.dec(len(boards))
        CONNECTIONS.dec()

    async def subscribe(sid: str, data: Any = None) -> Ack:
        try:
            subscription = _subscription_in(data)
            viewer = await user_of(sid)
            if isinstance(subscription, UUID):
                await services.challenges.check_access(subscription, viewer)
            else:
                await services.boards.check_access(subscription, viewer)
        except DomainError as exc:
            return {"ok": False, "error": str(exc)}
        except PortError:
            return {"ok": False, "error": "leaderboards are unavailable; try again"}
        room = _room(subscription)
        # Join before reading, so a move after the read still reaches this client.
        joined = room not in server.rooms(sid)
        if joined:
            await server.enter_room(sid, room)
            SUBSCRIPTIONS.inc()
        try:
            if isinstance(subscription, UUID):
                await gateway.send_challenge_snapshot(subscription, sid, "subscribe")
            else:
                await gateway.send_snapshot(subscription, sid, "subscribe")
        except (PortError, DomainError) as exc:
            log.warning("snapshot of %s for a new subscriber failed: %s", room, exc)
            if joined:
                await server.leave_room(sid, room)
                SUBSCRIPTIONS.dec()
            return {"ok": False, "error": "leaderboards are unavailable; try again"}
        return {"ok": True}

    async def unsubscribe(sid: str, data: Any = None) -> Ack:
        try:
            room = _room(_subscription_in(data))
        except DomainError as exc:
            return {"ok": False, "error": str(exc)}
        if room in server.rooms(sid):
            await server.leave_room(sid, room)
            SUBSCRIPTIONS.dec()
        return {"ok": True}

    server.on("connect", connect)
    server.on("disconnect", disconnect)
    server.on("subscribe", subscribe)
    server.on("unsubscribe", unsubscribe)
