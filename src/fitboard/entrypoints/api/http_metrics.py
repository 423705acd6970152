"""Counting every HTTP answer and timing it, by route template (`/v1/workouts/{workout_id}`,
never the raw path: one series per route, not per workout), and the requests open meanwhile
(`OpenRequests`). A pure ASGI middleware."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import Counter, Histogram
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fitboard.adapters.process_metrics import HTTP_DURATION, HTTP_REQUESTS
from fitboard.entrypoints.api.web import SOCKET_IO_PATH


def route_template(scope: Scope) -> str:
    # The router puts the route it matched into the scope (the same dict, so it is seen
    # here afterwards); a path no route matched is one series, whatever the path.
    route = scope.get("route")
    path = getattr(route, "path", None) if isinstance(route, BaseRoute) else None
    return path if isinstance(path, str) else "unmatched"


# Not an HTTP status anyone receives: the label of a request abandoned before its answer.
CLIENT_CLOSED_REQUEST = 499


class OpenRequests:
    """The HTTP requests begun and not yet answered, Socket.IO's aside: in embedded mode
    the consumers beside the API handle a big batch whole only while there is none
    (`LoopShare.next_part`)."""

    def __init__(self) -> None:
        self.count = 0

    def any(self) -> bool:
        return self.count > 0


class HttpMetrics:
    def __init__(self, app: ASGIApp, open_requests: OpenRequests | None = None) -> None:
        self.app = app
        self.open_requests = open_requests if open_requests is not None else OpenRequests()
        # Each (method, route, status)'s series, found once: looking them up by their
        # labels cost twice what counting and timing did, on every request. As many as
        # the metrics' own series, which they are.
        self._series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = 500  # what the server answers if the app fails before it starts one
        started = False
        # Socket.IO's HTTP requests are not counted: its long polls wait for events
        # without using the loop.
        open_requests = None if scope["path"].startswith(SOCKET_IO_PATH) else self.open_requests
        if open_requests is not None:
            open_requests.count += 1

        async def send_and_note(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        except asyncio.CancelledError:
            # The client went away before an answer began (the server cancels the request):
            # nobody was answered, least of all with a 500. Counted as 499, nginx's "client
            # closed request", so a 5xx rate counts only the server's failures.
            if not started:
                status = CLIENT_CLOSED_REQUEST
            raise
        finally:
            if open_requests is not None:
                open_requests.count -= 1
            key = (scope["method"], route_template(scope), status)
            series = self._series.get(key)
            if series is None:
                method, route, _ = key
                series = self._series[key] = (
                    HTTP_REQUESTS.labels(method, route, str(status)),
                    HTTP_DURATION.labels(method, route),
                )
            requests, duration = series
            requests.inc()
            duration.observe(time.perf_counter() - began)
