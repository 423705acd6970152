"""Refuse request bodies over a size limit (413) before they are read into memory.

Without a limit a single 200 MB body cost an API process about 750 MB (the bytes, the
decoded JSON, the validated models), with or without a token. This runs first, before any
route, token check or body parsing, on every HTTP request (the Socket.IO mount included;
WebSocket frames are bounded by the server's own limits).

A path given its own limit (activity file uploads, FITBOARD_IMPORT_MAX_BYTES) is held to
that one instead: a file upload is not a JSON body, and its route reads it as a file."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def _detail(limit: int, upload: bool = False) -> str:
    if upload:
        return (
            f"the upload is larger than this server accepts ({limit} bytes); upload fewer "
            "files at a time (split a large archive)"
        )
    return (
        f"the request body is larger than this server accepts ({limit} bytes); "
        "send less (a batch takes at most 100 workouts)"
    )


class BodyTooLarge(HTTPException):
    # An HTTPException: FastAPI passes it through its body parsing (it turns any other
    # error from the body into a 400), and answers it as any other 413 {detail}.
    def __init__(self, limit: int, upload: bool = False) -> None:
        super().__init__(status_code=413, detail=_detail(limit, upload))


class BodyLimit:
    """With a Content-Length the check is the header alone: the server never hands on
    more bytes than it announces. A body of unknown length (chunked) is counted as it
    arrives and refused as soon as it passes the limit."""

    def __init__(
        self, app: ASGIApp, max_bytes: int, upload_limits: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.upload_limits = dict(upload_limits or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        upload_limit = self.upload_limits.get(scope["path"])
        limit = self.max_bytes if upload_limit is None else upload_limit
        upload = upload_limit is not None
        length = _content_length(scope)
        if length is not None:
            if length > limit:
                await self._refuse(send, limit, upload)
            else:
                await self.app(scope, receive, send)
            return
        await self._counted(scope, receive, send, limit, upload)

    async def _counted(
        self, scope: Scope, receive: Receive, send: Send, limit: int, upload: bool
    ) -> None:
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit, upload)
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except BodyTooLarge:
            # Reaches here from an app that is not FastAPI's routing (a mount).
            if started:
                raise
            await self._refuse(send, limit, upload)

    async def _refuse(self, send: Send, limit: int, upload: bool) -> None:
        body = json.dumps({"detail": _detail(limit, upload)}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    # The client may still be sending the body nobody will read.
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # counted instead, as a body of unknown length
    return None
