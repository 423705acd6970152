"""Opaque pagination cursors: what a page left off at, as URL-safe text."""

from __future__ import annotations

import base64
import binascii

from fitboard.domain.errors import InvalidField


def encode(position: str) -> str:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=")


def decode(cursor: str) -> str:
    """The position a cursor holds; InvalidField for text this server never handed out."""
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise invalid() from None


def invalid() -> InvalidField:
    return InvalidField("cursor", "is not a cursor this server handed out")
