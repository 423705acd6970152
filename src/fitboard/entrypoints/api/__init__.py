"""The HTTP API (FastAPI)."""

from fitboard.entrypoints.api.app import create_app

__all__ = ["create_app"]
