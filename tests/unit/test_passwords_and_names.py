"""The password rule (zxcvbn's estimate and its list of leaked passwords) and the rule for
display names (no invisible or control characters)."""

from __future__ import annotations

import pytest

from fitboard.domain.errors import InvalidField
from fitboard.domain.passwords import check_password
from fitboard.domain.text import check_display_name


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("qwerty12", "most common"),  # passed the old hand-written list
        ("Password1", "most common"),  # case does not hide it
        ("sunshine2024", "too easy to guess"),
        ("aaaaaaaaaaaa", "too easy to guess"),
        ("abcdefgh1234", "too easy to guess"),
        ("short", "at least 8"),
        ("ada-lovelace-1815", "contain the username"),
    ],
)
def test_guessable_passwords_are_refused_with_a_reason(password: str, why: str) -> None:
    with pytest.raises(InvalidField) as refused:
        check_password(password, "Ada-Lovelace")
    assert refused.value.field == "password"
    assert why in refused.value.message


@pytest.mark.parametrize(
    "password",
    ["correct horse battery", "another fine passphrase", "Tr0ub4dor&3-kayak", "x" * 30 + "7Qz!"],
)
def test_passphrases_pass(password: str) -> None:
    check_password(password, "ada")


def test_a_password_longer_than_zxcvbn_reads_is_judged_on_its_start() -> None:
    # 256 characters: zxcvbn refuses to judge more than 72, so the rule passes it those.
    check_password("correct horse battery staple " * 8 + "0123456789abcdef", "ada")


@pytest.mark.parametrize(
    "name",
    [
        "admin\u202e",  # right-to-left override: "admin" followed by reversed text
        "\u2067Grace",  # right-to-left isolate
        "Ada\u200bLovelace",  # zero-width space: looks like "AdaLovelace"
        "Ada\u2060",  # word joiner
        "\ufeffAda",  # byte-order mark
        "Ada\nLovelace",
        "Ada\tL",
        "Ada\x85",  # NEXT LINE, a C1 control
    ],
)
def test_names_that_disguise_themselves_are_refused(name: str) -> None:
    with pytest.raises(InvalidField) as refused:
        check_display_name(name)
    assert refused.value.field == "display_name"
    assert "U+" in refused.value.message


@pytest.mark.parametrize(
    "name",
    [
        "Ada Lovelace",
        "Zoë Ünal-Ørsted",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # Persian with ZWNJ
        "\U0001f468\u200d\U0001f469\u200d\U0001f467 family",  # emoji joined by ZWJ
        "李小龍",
    ],
)
def test_real_names_in_any_script_pass(name: str) -> None:
    check_display_name(name)
