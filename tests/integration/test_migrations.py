"""The Alembic migrations build exactly the schema the models describe, on each backend."""

from __future__ import annotations

import warnings
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from perfpilot.core.db import create_engine
from perfpilot.core.migrate import alembic_config, upgrade_database
from perfpilot.metrics.partition_repository import outside_partitions
from perfpilot.models import Base

# PostgreSQL only, deliberately not in the models (migration 7e3a9c51d2f4): each sample's
# inserting transaction id, read by shard owners on scale-out (cluster/feed.py).
_PG_ONLY = {"ingest_xid", "ix_metrics_ingest_xid", "ix_histograms_ingest_xid"}


def _pg_only(diff: Any) -> bool:
    what = diff[0] if isinstance(diff, list) else diff
    kind, *rest = what
    if kind == "remove_column":
        return bool(rest[2].name in _PG_ONLY)
    if kind == "remove_index":
        return bool(rest[0].name in _PG_ONLY)
    return False


def _differences(connection: Connection) -> list[Any]:
    # the samples table's day partitions (PostgreSQL) are not in the models: env.py skips them
    opts = {"compare_type": True, "include_name": outside_partitions}
    context = MigrationContext.configure(connection, opts=opts)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Did not recognize type 'xid8'")
        return [d for d in compare_metadata(context, Base.metadata) if not _pg_only(d)]


def _downgrade_to_base(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.downgrade(config, "base")


async def test_migrations_match_the_models_and_downgrade_cleanly(clean_database: str) -> None:
    engine = create_engine(clean_database)
    try:
        await upgrade_database(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
        async with engine.begin() as connection:
            await connection.run_sync(_downgrade_to_base)
        await upgrade_database(engine)  # and back up again
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()
