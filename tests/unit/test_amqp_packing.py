"""Several messages in one AMQP message's body (adapters/amqp_packing.py): what is packed
comes back out as it went in, and a body that does not hold what its header announces is
refused with PackedUnreadable, never read as something else."""

from __future__ import annotations

import json
import struct

import pytest

from fitboard.adapters.amqp_packing import PackedUnreadable, pack, unpack
from fitboard.application.messaging.ports import Message

MESSAGES = [
    Message("workout.submitted", b'{"id": 1}', "id-1", {"traceparent": "00-ab-cd-01"}),
    Message("workout.submitted", b"", "id-2"),
    # Any bytes, the framing's own included.
    Message("workout.submitted", b'\x00\x00\x00\x05\xff["x"]', "id-3", {"k": "v\u00e9"}),
]


def test_packed_messages_come_back_as_they_went_in() -> None:
    body = pack(MESSAGES)
    assert unpack(body, len(MESSAGES), "workout.submitted") == MESSAGES


@pytest.mark.parametrize(
    "message",
    [
        Message(
            "workout.submitted", b"{}", "id-\u00e9\u4e2d\U0001f600", {"k\u00e9": "\u2028\U0001f600"}
        ),
        Message("workout.submitted", b"{}", "id", {}),
        Message("workout.submitted", b"{}", 'a"b\\c\n\x00', {"\x1f": '"\\'}),
        # Lone surrogates (no UTF-8 for them): written with json's escapes, read back whole.
        Message("workout.submitted", b"{}", "id-\ud800", {"k": "\udfff", "\udc80": "v"}),
    ],
    ids=["non-ascii", "no-headers", "json-specials", "lone-surrogates"],
)
def test_any_text_comes_back_as_it_went_in(message: Message) -> None:
    body = pack([message, MESSAGES[0]])
    assert unpack(body, 2, "workout.submitted") == [message, MESSAGES[0]]


def test_ids_and_headers_are_packed_as_utf_8_json() -> None:
    # What a consumer of an earlier release reads too: JSON, non-ASCII text unescaped.
    body = pack([Message("workout.submitted", b"", "id-\u00e9", {"k": "v\u00e9"})])
    meta = body[4 : 4 + struct.unpack(">I", body[:4])[0]]
    assert meta == '["id-\u00e9",{"k":"v\u00e9"}]'.encode()
    assert json.loads(meta) == ["id-\u00e9", {"k": "v\u00e9"}]


def test_a_header_no_encoder_can_write_raises_a_type_error() -> None:
    unwritable = Message("workout.submitted", b"", "id", {"k": object()})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        pack([unwritable])


def part(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


@pytest.mark.parametrize(
    ("body", "count", "says"),
    [
        (pack(MESSAGES), 4, "ends inside a length"),
        (pack(MESSAGES), 2, "bytes after the 2 messages"),
        (pack(MESSAGES)[:-1], 3, "ends inside a part"),
        (b"garbage", 1, "ends inside a part"),
        (part(b"not json") + part(b""), 1, "body unreadable"),
        (part(json.dumps(["id", {"k": 1}]).encode()) + part(b""), 1, "not text"),
        (part(json.dumps([7, {}]).encode()) + part(b""), 1, "not text"),
        (part(json.dumps(["only the id"]).encode()) + part(b""), 1, "body unreadable"),
        # Nested past the interpreter's recursion limit: json raises RecursionError.
        (part(b"[" * 200_000) + part(b""), 1, "body unreadable"),
    ],
)
def test_a_body_that_does_not_hold_what_is_announced_is_refused(
    body: bytes, count: int, says: str
) -> None:
    with pytest.raises(PackedUnreadable, match=says):
        unpack(body, count, "workout.submitted")
