"""What a password must be: long enough, and not one that guessing tries first.

"Not easy to guess" is zxcvbn's estimate (Wheeler, USENIX Security 2016), the one Dropbox
built to match how crackers actually guess: dictionaries of leaked passwords, names and
words, keyboard walks, repeats, l33t substitutions and dates. A password is refused when
it is one of the 30,000 commonest of its leaked-password list, or when zxcvbn scores it
below 2 ("guessable within about a million tries"), with zxcvbn's own hint on why. The
username counts as a word an attacker knows.
"""

from __future__ import annotations

# zxcvbn ships no type hints.
from zxcvbn import zxcvbn  # type: ignore[import-untyped]
from zxcvbn.frequency_lists import FREQUENCY_LISTS  # type: ignore[import-untyped]

from fitboard.domain.errors import InvalidField

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 256
# zxcvbn judges at most 72 characters (its own bound, for its running time, which grows
# quickly with length); what follows them only adds strength, so a password is judged on
# its first 72.
_JUDGED_CHARS = 72
_MIN_SCORE = 2
_COMMON = frozenset(FREQUENCY_LISTS["passwords"])


def check_password(password: str, username: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidField("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidField("password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
    if username.casefold() in password.casefold():
        raise InvalidField("password", "must not contain the username")
    if password.casefold() in _COMMON:
        raise InvalidField(
            "password", "is one of the most common passwords; use a longer passphrase"
        )
    estimate = zxcvbn(password[:_JUDGED_CHARS], user_inputs=[username])
    if estimate["score"] < _MIN_SCORE:
        hint = estimate["feedback"]["warning"] or "it would be guessed quickly"
        raise InvalidField(
            "password", f"is too easy to guess ({hint.rstrip('.')}); use a longer passphrase"
        )
