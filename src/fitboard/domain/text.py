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


# Characters that change how the text around them is shown without being seen: the bidi
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069) and marks
# (U+200E, U+200F, U+061C) can make a name read as another on a leaderboard, and the
# zero-width space, word joiner and byte-order mark (U+200B, U+2060, U+FEFF) make two
# names that look the same differ. The zero-width (non-)joiners U+200C and U+200D are
# allowed: Persian and Indic scripts and emoji sequences need them, and they reorder
# nothing.
_INVISIBLE = frozenset(
    [
        *map(chr, range(0x202A, 0x202F)),
        *map(chr, range(0x2066, 0x206A)),
        *"\u200e\u200f\u061c\u200b\u2060\ufeff",
    ]
)


def check_display_name(value: str) -> None:
    """Raise InvalidField for a name with control characters (line breaks, tabs...) or
    invisible characters that disguise it."""
    for index, char in enumerate(value):
        if char in _INVISIBLE or (ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0):
            raise InvalidField(
                "display_name",
                f"must not contain the invisible or control character U+{ord(char):04X} "
                f"(at character {index})",
            )
