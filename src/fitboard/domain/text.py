"""What any text a person sends must be, whichever field it is stored in.

PostgreSQL refuses a NUL character in text, and a lone surrogate (half of a UTF-16 pair,
which a JSON `\\ud800` escape can produce) is not a character at all: it cannot be
encoded as UTF-8, so it could be neither stored nor sent back. Both are refused up front,
naming the field, rather than failing later in the store."""

from __future__ import annotations

from fitboard.domain.errors import InvalidField


def check_text(field: str, value: str, *, max_chars: int) -> None:
    """Raise InvalidField, naming `field`, for text that is too long or not storable."""
    if len(value) > max_chars:
        raise InvalidField(field, f"must be at most {max_chars} characters (got {len(value)})")
    if "\x00" in value:
        raise InvalidField(field, "must not contain a NUL character (U+0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidField(
            field,
            f"contains a lone surrogate (U+{ord(value[exc.start]):04X}) at character "
            f"{exc.start}, which is not text; send valid UTF-8",
        ) from None
