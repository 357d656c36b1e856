"""Schema upgrades through Alembic, callable from the CLI and from the server's start-up."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


# Replicas starting together on one PostgreSQL upgrade one at a time (the others then find
# the schema at head); a transaction-level advisory lock, released by the commit.
MIGRATION_LOCK = 0x5050_0000


async def upgrade_database(engine: AsyncEngine) -> None:
    """Bring the schema to the latest revision (idempotent)."""
    async with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            await connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
            )
        await connection.run_sync(_upgrade)
