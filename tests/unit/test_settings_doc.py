"""docs/configuration.md is the table the code makes: a setting added, renamed, given
another default or left without a comment in config.py fails here."""

from __future__ import annotations

from pathlib import Path

from fitboard.config import Settings
from fitboard.settings_doc import PREFIX, groups, markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_every_setting_has_its_comment() -> None:
    documented = [name for group in groups() for name in group.names]
    assert sorted(documented) == sorted(Settings.model_fields)
    assert all(group.comment for group in groups())


def test_the_document_is_the_table_the_code_makes() -> None:
    assert DOC.read_text() == markdown(), (
        "docs/configuration.md is out of date: "
        "python -m fitboard.settings_doc > docs/configuration.md"
    )
    assert f"`{PREFIX}QUEUE_VISIBILITY_TIMEOUT_S` | `60.0`" in DOC.read_text()
