"""Several messages in one AMQP message: what a group commit's write packs, and what a
consumer unpacks.

RabbitMQ's cost is per message (a quorum queue writes, replicates, confirms, delivers and
settles each one), and so is the client's (frames, properties, a confirm and an ack): a
workout message is a few hundred bytes, so those costs are most of what queueing one
costs. The messages of one write that go the same way (one routing key, the same
`mandatory`) are packed into one AMQP message, which the broker stores and confirms at
once; a consumer hands out each of them as a delivery of its own.

A packed message carries the header `x-fitboard-items` (how many messages it holds) and a
body of, for each message in turn: a 4-byte big-endian length and that many bytes of JSON
(`[message_id, headers]`, UTF-8), then a 4-byte length and the message's body.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from fitboard.application.messaging.ports import Message

__all__ = ["H_ITEMS", "PackedUnreadable", "pack", "unpack"]

H_ITEMS = "x-fitboard-items"
_LENGTH = struct.Struct(">I")


class PackedUnreadable(ValueError):
    """The body of a packed message does not hold the messages its header announces."""


def pack(messages: Sequence[Message]) -> bytes:
    """The body of one AMQP message holding `messages` (all of one routing key)."""
    parts: list[bytes] = []
    for message in messages:
        meta = _meta(message)
        parts += [_LENGTH.pack(len(meta)), meta, _LENGTH.pack(len(message.body)), message.body]
    return b"".join(parts)


def _meta(message: Message) -> bytes:
    """`[message_id, headers]` as JSON, by pydantic_core's encoder (0.3 µs a message
    against json.dumps's 1.6). It refuses a string it cannot write as UTF-8 (a lone
    surrogate): such a message is written by json.dumps instead, whose `\\ud800`-style
    escapes `unpack`'s json.loads reads back to the same string. Headers are text (the
    port's type); a value that is not is written as to_json writes it (bytes of UTF-8 and
    UUIDs as strings, where json.dumps raised TypeError), and one neither encoder can
    write raises json.dumps's TypeError."""
    meta = [message.message_id, dict(message.headers)]
    try:
        return to_json(meta)
    except PydanticSerializationError:
        return json.dumps(meta).encode()


def unpack(body: bytes, count: int, routing_key: str) -> list[Message]:
    """The `count` messages of a packed body, each with `routing_key`; PackedUnreadable
    when the body is not `count` well-formed messages, nothing more, nothing less."""
    messages: list[Message] = []
    at = 0
    try:
        for _ in range(count):
            meta, at = _part(body, at)
            content, at = _part(body, at)
            message_id, headers = json.loads(meta)
            if not isinstance(message_id, str) or not _text_mapping(headers):
                raise PackedUnreadable("a message's id or headers are not text")
            messages.append(Message(routing_key, content, message_id, headers))
    except PackedUnreadable:
        raise
    except Exception as exc:
        # Whatever the body makes json or the unpacking raise (a ValueError, a TypeError,
        # a RecursionError for JSON nested past the interpreter's limit): it is unreadable,
        # never an error of the consumer's.
        raise PackedUnreadable(f"{count} messages announced, body unreadable: {exc!r}") from exc
    if at != len(body):
        raise PackedUnreadable(f"{len(body) - at} bytes after the {count} messages announced")
    return messages


def _part(body: bytes, at: int) -> tuple[bytes, int]:
    """The length-prefixed part of `body` at `at`, and where the next one starts."""
    if at + _LENGTH.size > len(body):
        raise PackedUnreadable("the body ends inside a length")
    (length,) = _LENGTH.unpack_from(body, at)
    start = at + _LENGTH.size
    if start + length > len(body):
        raise PackedUnreadable("the body ends inside a part")
    return body[start : start + length], start + length


def _text_mapping(value: Any) -> bool:
    return isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
