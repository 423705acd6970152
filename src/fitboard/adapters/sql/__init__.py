"""The store port on SQLAlchemy 2 (async): SQLite for embedded mode, PostgreSQL in production."""

from fitboard.adapters.sql.migrate import current_revision, upgrade_database
from fitboard.adapters.sql.store import SqlStore, SqlUnitOfWork

__all__ = ["SqlStore", "SqlUnitOfWork", "current_revision", "upgrade_database"]
