"""Prometheus metrics of live push, served by the API at `GET /metrics`.

Defined once at import, in the default registry: metrics are per process, and every app
a process builds (tests build many) counts into the same ones."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

__all__ = [
    "BOARD_MOVES",
    "CONNECTIONS",
    "CONNECTS",
    "EVENTS_EMITTED",
    "EVENTS_RELAYED",
    "EXPIRED_DISCONNECTS",
    "PUSH_FAILURES",
    "ROOM_CHANNELS",
    "SEND_BACKLOG_MAX",
    "SLOW_CLIENTS_DROPPED",
    "SNAPSHOTS",
    "SUBSCRIPTIONS",
]

CONNECTIONS = Gauge("fitboard_live_connections", "Socket.IO clients connected to this process.")
CONNECTS = Counter(
    "fitboard_live_connects", "Socket.IO connection attempts, by result.", ["result"]
)
EXPIRED_DISCONNECTS = Counter(
    "fitboard_live_expired_disconnects",
    "Socket.IO clients disconnected because the token they connected with expired.",
)
SUBSCRIPTIONS = Gauge(
    "fitboard_live_board_subscriptions", "Board subscriptions held by clients of this process."
)
EVENTS_EMITTED = Counter(
    "fitboard_live_events_emitted",
    "Events this process emitted (to a room or a client), by event name.",
    ["event"],
)
EVENTS_RELAYED = Counter(
    "fitboard_live_events_relayed",
    "Events emitted by another process and delivered to this process's clients, by event.",
    ["event"],
)
SNAPSHOTS = Counter(
    "fitboard_live_board_snapshots",
    "leaderboard:update snapshots sent, by reason (subscribe or moved).",
    ["reason"],
)
BOARD_MOVES = Counter(
    "fitboard_live_board_moves",
    "Board moves received by the coalescer, by outcome: scheduled (board became dirty), "
    "coalesced (already dirty: absorbed) or unwatched (no subscriber in this process).",
    ["outcome"],
)
PUSH_FAILURES = Counter(
    "fitboard_live_push_failures", "Emits that failed (logged, never retried), by event.", ["event"]
)
ROOM_CHANNELS = Gauge(
    "fitboard_live_room_channels",
    "Rooms whose Redis channel this process subscribes to (rooms of its own clients).",
)
SEND_BACKLOG_MAX = Gauge(
    "fitboard_live_send_backlog_max",
    "Packets waiting to be written to the slowest client of this process, at the last check.",
)
SLOW_CLIENTS_DROPPED = Counter(
    "fitboard_live_slow_clients_dropped",
    "Clients disconnected because their unsent backlog passed the limit.",
)
