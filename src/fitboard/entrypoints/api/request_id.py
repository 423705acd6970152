"""Every request gets its request id (application/tracing.py) before anything logs:
the client's X-Request-ID when it is an acceptable one, or a new one; the answer says
which."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fitboard.application.tracing import HEADER, REQUEST_ID, accept_or_make

_HEADER = HEADER.encode()


class RequestId:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((v for k, v in scope["headers"] if k == _HEADER), None)
        request_id = accept_or_make(sent.decode("latin-1") if sent is not None else None)
        token = REQUEST_ID.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (_HEADER, request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            REQUEST_ID.reset(token)
