"""Live updates through real servers and clients: fitboard served by uvicorn on 127.0.0.1
and a free port (the ASGI transport cannot carry websockets), python-socketio's
AsyncClient over a real websocket, and httpx over real HTTP.

The `live` fixture runs each test in embedded mode and, marked `production`, with the
production adapters (PostgreSQL, Redis and python-socketio's Redis manager, RabbitMQ)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import uvicorn
from fastapi import FastAPI

from tests.e2e.conftest import (
    Api,
    app_in_mode,
    migrated_postgres,  # noqa: F401  (a fixture, found by pytest by its name)
)

# Every live test waits for events with this bound, so none can hang.
EVENT_WAIT_S = 15.0


def free_socket() -> socket.socket:
    """A listening socket on a free loopback port, handed to uvicorn (no port race)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[str]:
    """Serve an app whose lifespan the caller runs; yields its base URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(task, timeout=10)
        sock.close()


@dataclass
class LiveClient:
    """A Socket.IO client that records every event it receives."""

    client: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, event: str, payload: Any) -> None:
        self.events.append((event, payload))
        self._arrived.set()

    def received(self, event: str) -> list[Any]:
        return [payload for name, payload in self.events if name == event]

    async def wait_for(
        self,
        event: str,
        where: Callable[[Any], bool] = lambda _payload: True,
        within_s: float = EVENT_WAIT_S,
    ) -> Any:
        """The first `event` (received before or after the call) that matches `where`."""
        async with asyncio.timeout(within_s):
            while True:
                for name, payload in self.events:
                    if name == event and where(payload):
                        return payload
                self._arrived.clear()
                await self._arrived.wait()

    async def call(self, event: str, data: Any) -> Any:
        return await self.client.call(event, data, timeout=EVENT_WAIT_S)

    async def subscribe(self, board: str) -> dict[str, Any]:
        ack: dict[str, Any] = await self.call("subscribe", {"board": board})
        return ack


@dataclass
class LiveServer:
    """A running fitboard: its URL, an HTTP client for the API, and Socket.IO clients."""

    url: str
    api: Api
    mode: str
    app: FastAPI
    _stack: contextlib.AsyncExitStack

    async def connect(self, token: str | None, *, url: str | None = None) -> LiveClient:
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        live = LiveClient(client)

        async def any_event(event: str, payload: Any = None) -> None:
            live.record(event, payload)

        client.on("*", any_event)
        auth = {"token": token} if token is not None else None
        await client.connect(
            url or self.url, auth=auth, transports=["websocket"], wait_timeout=EVENT_WAIT_S
        )
        self._stack.push_async_callback(client.disconnect)
        return live

    async def refusal(self, token: str | None) -> str:
        """Connect with a token that must be refused; the server's reason."""
        client = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        reasons: list[Any] = []

        async def connect_error(data: Any = None) -> None:
            reasons.append(data)

        client.on("connect_error", connect_error)
        auth = {"token": token} if token is not None else None
        try:
            await client.connect(
                self.url, auth=auth, transports=["websocket"], wait_timeout=EVENT_WAIT_S
            )
        except socketio.exceptions.ConnectionError:
            pass
        else:
            await client.disconnect()
            raise AssertionError("the connection was accepted")
        finally:
            await client.shutdown()
        assert len(reasons) == 1, reasons
        message: str = reasons[0]["message"]
        return message


@pytest.fixture(params=["embedded", pytest.param("production", marks=pytest.mark.production)])
async def live(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[LiveServer]:
    async with contextlib.AsyncExitStack() as stack:
        app = await stack.enter_async_context(app_in_mode(request, tmp_path, "live"))
        url = await stack.enter_async_context(serving(app))
        http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=30))
        # Clients are disconnected (LIFO) before the server stops.
        async with contextlib.AsyncExitStack() as clients:
            yield LiveServer(url, Api(http), request.param, app, clients)
