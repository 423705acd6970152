"""What the fast paths (submit_fast_path.py, read_fast_path.py) share: an error raised by
the work they do is answered by the application's own exception handler for it, found and
called as Starlette's ExceptionMiddleware finds and calls it for a route."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, cast

from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


async def error_response(app: FastAPI, request: Request, exc: Exception) -> Response:
    """The response of the application's handler for `exc`, raised by the work a fast
    path did for `request`; `exc` raised on when there is none, to the server error
    middleware, as from a route."""
    handler = _handler_for(app, exc)
    if handler is None:
        raise exc
    return await _answer(handler, request, exc)


def _handler_for(app: FastAPI, exc: Exception) -> Handler | None:
    """The application's handler for `exc`, found as Starlette's ExceptionMiddleware
    finds it: the first of the exception's classes, most derived first, with one. Not a
    handler for Exception itself: that one is the server error middleware's, which the
    exception reaches by being raised, as from the route."""
    handlers: dict[Any, Handler] = app.exception_handlers
    for kind in type(exc).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            return handlers[kind]
    return None


async def _answer(handler: Handler, request: Request, exc: Exception) -> Response:
    """The handler's response, called as Starlette's ExceptionMiddleware calls it: a plain
    function in the thread pool."""
    if inspect.iscoroutinefunction(handler):
        response: Response = await handler(request, exc)
        return response
    return cast(Response, await run_in_threadpool(handler, request, exc))
