"""The request id: one name for everything one request set in motion.

Accepted from a client's X-Request-ID (or made up by the API), it travels with the
workout's message as the header `x-request-id`, and every log line written while the
request or that message is handled carries it — the API's and the worker's alike, so one
search finds a workout's whole story."""

from __future__ import annotations

import re
from contextvars import ContextVar

from fitboard.application.ids import new_hex

HEADER = "x-request-id"
# What a client may send as an id: short, and nothing that could forge a log line.
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{1,64}")

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)


def accept_or_make(sent: str | None) -> str:
    """The client's id if it is an acceptable one, else a new one."""
    if sent is not None and _ACCEPTABLE.fullmatch(sent):
        return sent
    return new_hex()


def current() -> str | None:
    return REQUEST_ID.get()
