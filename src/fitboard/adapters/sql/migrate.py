"""Schema migrations of the record (Alembic, configured in code; the scripts ship in the
package, under migrations/)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import URL, Connection

from fitboard.adapters.sql.engine import create_engine, database_url

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Held for the duration of an upgrade on PostgreSQL, so that several processes starting
# at once (API copies, workers) migrate one after the other instead of racing. The
# number is arbitrary but fixed: "fitboard" in ASCII.
_MIGRATION_LOCK_KEY = 0x66_69_74_62_6F_61_72_64


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic configuration for fitboard's migrations, e.g. for `command.revision`."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        rendered = database_url(url).render_as_string(hide_password=False)
        # The option is read through ConfigParser, which treats % as interpolation.
        config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


async def upgrade_database(url: str | URL) -> None:
    """Bring the database at `url` to the latest revision; safe to call on every start."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                await connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            await connection.run_sync(_upgrade_to_head, alembic_config())
            await connection.commit()
    finally:
        await engine.dispose()


async def current_revision(url: str | URL) -> str | None:
    """The revision the database is at; None if it was never migrated."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current_revision)
    finally:
        await engine.dispose()


def _upgrade_to_head(connection: Connection, config: Config) -> None:
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()
