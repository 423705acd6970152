"""How every fitboard process logs: one line per event, JSON for machines (a log
collector) or text for people (a terminal), each with the request id it belongs to."""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

from fitboard.application.tracing import current

TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
JSON_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"


class RequestIdFilter(logging.Filter):
    """Stamps each record with the request id of the task that wrote it ('-': none)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current() or "-"
        return True


def formatter(style: Literal["text", "json"]) -> logging.Formatter:
    if style == "json":
        return JsonFormatter(
            JSON_FIELDS,
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    return logging.Formatter(TEXT)


def configure(level: str, style: Literal["auto", "text", "json"]) -> None:
    """Log to standard error at `level`; `auto` is JSON unless a person is watching (a
    terminal)."""
    chosen: Literal["text", "json"] = (
        ("text" if sys.stderr.isatty() else "json") if style == "auto" else style
    )
    handler = logging.StreamHandler()
    handler.setFormatter(formatter(chosen))
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
