"""samples partitioned by day on PostgreSQL (issue 14, item 5)

Revision ID: 5f2a8c7d3e61
Revises: 6e2b9d4f1c87
Create Date: 2026-12-01 08:30:00

PostgreSQL only (SQLite: nothing to do): ai_performance_metrics becomes a table partitioned by
range of `timestamp`, one partition per UTC day (ai_performance_metrics_pYYYYMMDD) plus a
DEFAULT partition (ai_performance_metrics_default) so that a sample outside every day's range
is still stored. Retention then drops a whole day instead of deleting its rows
(metrics/partition_repository.py keeps the days ahead). PostgreSQL wants the partition key in
every unique constraint: the primary key becomes (id, timestamp).

The rows move by one INSERT ... SELECT in the migration's transaction: the table is unavailable
meanwhile (an upgrade runs before the server starts). Partitions are made for every day that
holds rows within the last 400 days, and today and the next two; older and later rows go to the
default partition (retention deletes old ones in chunks as before; the loop moves later ones
into their day's partition when it makes it). The indexes are re-created from
the old table's own definitions (pg_get_indexdef), after the rows are in.
"""

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from alembic import op
from sqlalchemy import text
from sqlalchemy.engine import Connection

revision: str = "5f2a8c7d3e61"
down_revision: str | Sequence[str] | None = "6e2b9d4f1c87"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLE = "ai_performance_metrics"
BUILDING = "ai_performance_metrics_building"
PKEY = "ai_performance_metrics_pkey"
DAYS_AHEAD = 2
OLDEST_DAY = 400


def _index_definitions(connection: Connection, table: str) -> list[str]:
    """CREATE INDEX statements of the table's indexes, the primary key's excepted."""
    rows = connection.execute(
        text(
            "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i "
            "WHERE i.indrelid = CAST(:t AS regclass) AND NOT i.indisprimary "
            "ORDER BY i.indexrelid"
        ),
        {"t": table},
    )
    # a partitioned table's read "ON ONLY": made that way, an index would skip the partitions
    return [str(r[0]).replace(" ON ONLY ", " ON ", 1) for r in rows]


def _day_partition(day: date) -> str:
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    end = start + timedelta(days=1)
    return (
        f"CREATE TABLE {TABLE}_p{day:%Y%m%d} PARTITION OF {BUILDING} "
        f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
    )


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    indexes = _index_definitions(connection, TABLE)
    today = datetime.now(UTC).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC)
    held = connection.execute(
        text(
            f"SELECT DISTINCT CAST(timezone('UTC', \"timestamp\") AS date) FROM {TABLE} "  # noqa: S608
            'WHERE "timestamp" >= :oldest AND "timestamp" < :midnight'
        ),
        {"oldest": midnight - timedelta(days=OLDEST_DAY), "midnight": midnight},
    )
    days = {r[0] for r in held} | {today + timedelta(days=d) for d in range(DAYS_AHEAD + 1)}
    op.execute(
        f"CREATE TABLE {BUILDING} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING STORAGE) "
        'PARTITION BY RANGE ("timestamp")'
    )
    for day in sorted(days):
        op.execute(_day_partition(day))
    op.execute(f"CREATE TABLE {TABLE}_default PARTITION OF {BUILDING} DEFAULT")
    # ingest_xid included: the rows keep the transaction ids shard owners read them by
    op.execute(f"INSERT INTO {BUILDING} SELECT * FROM {TABLE}")  # noqa: S608
    op.execute(f"DROP TABLE {TABLE}")
    op.execute(f"ALTER TABLE {BUILDING} RENAME TO {TABLE}")
    op.execute(f'ALTER TABLE {TABLE} ADD CONSTRAINT {PKEY} PRIMARY KEY (id, "timestamp")')
    for definition in indexes:
        op.execute(definition)


def downgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name != "postgresql":
        return
    indexes = _index_definitions(connection, TABLE)
    op.execute(f"CREATE TABLE {BUILDING} (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING STORAGE)")
    op.execute(f"INSERT INTO {BUILDING} SELECT * FROM {TABLE}")  # noqa: S608
    op.execute(f"DROP TABLE {TABLE}")  # and its partitions
    op.execute(f"ALTER TABLE {BUILDING} RENAME TO {TABLE}")
    op.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {PKEY} PRIMARY KEY (id)")
    for definition in indexes:
        op.execute(definition)
