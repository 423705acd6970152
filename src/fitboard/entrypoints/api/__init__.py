"""The HTTP API (FastAPI).

`create_app` is imported lazily so that importing one router (the ingest path, say) does
not pull in the whole application and every consumer it starts in embedded mode."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fitboard.entrypoints.api.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from fitboard.entrypoints.api.app import create_app

        return create_app
    raise AttributeError(name)
