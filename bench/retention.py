"""Retention and ingestion of the samples table, unpartitioned vs partitioned by day (issue 14,
item 5; migration 5f2a8c7d3e61). PostgreSQL only.

    python bench/retention.py [--rows 400000] [--chunk 10000]

Needs PostgreSQL (PERFPILOT_BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/
test): two databases of its own are created next to it and dropped at the end, one migrated to
the revision before partitioning (a plain table), one to head (partitioned by day). The same
rows go into both, in the same run:
1. ingestion: --rows samples spread over four days 8 to 11 days old, by COPY
   (metrics/repository.py's group-commit path) in 5,000-row transactions, then a quarter as
   many of today (they stay); prints rows/s on each table;
2. retention: one pass of the real RetentionLoop with a 7-day retention: on the plain table the
   chunked DELETE (--chunk rows a transaction), on the partitioned one DETACH + DROP of the four
   days; prints the seconds each took, samples deleted and the ratio. Each is checked: every
   old sample gone, every recent one kept. Then the VACUUM of each table, timed: the cleanup
   the deleted rows leave for autovacuum (a dropped partition leaves none).

PostgreSQL and this script share the machine's cores (and the machine with other work): the
figures say what this machine did in this run; compare them within the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
from alembic import command
from sqlalchemy import make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from perfpilot.core.config import Settings
from perfpilot.core.db import create_engine
from perfpilot.core.migrate import alembic_config
from perfpilot.metrics.partition_repository import create_day_partition, day_partitions
from perfpilot.metrics.repository import StoredRow, insert_samples
from perfpilot.metrics.retention import RetentionLoop

ADMIN_URL = os.environ.get(
    "PERFPILOT_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
BEFORE_PARTITIONS = "6e2b9d4f1c87"
RETENTION_DAYS = 7
OLD_DAYS = (8, 9, 10, 11)
BATCH = 5_000


def rows(count: int, days_ago: tuple[int, ...], now: datetime) -> list[StoredRow]:
    """`count` samples spread evenly over the given days (of 40 services, 4 types)."""
    found: list[StoredRow] = []
    for i in range(count):
        day = days_ago[i % len(days_ago)]
        at = now - timedelta(days=day, seconds=(i * 7) % 80_000)
        service, kind = f"svc-{i % 40:02d}", ("latency", "cpu", "memory", "ttft")[i % 4]
        found.append((str(uuid.uuid4()), service, kind, float(i % 997), "ms", at, "{}", None))
    return found


def _migrate(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def ingest(engine: AsyncEngine, samples: list[StoredRow]) -> float:
    """rows/s of COPY in BATCH-row transactions."""
    started = time.perf_counter()
    for start in range(0, len(samples), BATCH):
        async with engine.begin() as connection:
            await insert_samples(connection, samples[start : start + BATCH])
    return len(samples) / (time.perf_counter() - started)


async def count(engine: AsyncEngine, where: str) -> int:
    async with engine.connect() as connection:
        found = await connection.execute(
            text(f"SELECT count(*) FROM ai_performance_metrics WHERE {where}")
        )
        return int(found.scalar_one())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--chunk", type=int, default=10_000)
    args = parser.parse_args()
    admin_dsn = make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(False)
    names = {"plain": "perfpilot_bench_retention_plain", "partitioned": "perfpilot_bench_ret_part"}
    conn = await asyncpg.connect(admin_dsn)
    for name in names.values():
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    now = datetime.now(UTC)
    old, recent = rows(args.rows, OLD_DAYS, now), rows(args.rows // 4, (0,), now)
    engines: dict[str, AsyncEngine] = {}
    try:
        for kind, name in names.items():
            url = make_url(ADMIN_URL).set(drivername="postgresql+asyncpg", database=name)
            engine = engines[kind] = create_engine(url.render_as_string(False))
            async with engine.begin() as connection:
                revision = BEFORE_PARTITIONS if kind == "plain" else "head"
                await connection.run_sync(_migrate, revision)
                if kind == "partitioned":  # the old days' partitions, made when they were ahead
                    for day in OLD_DAYS:
                        await create_day_partition(connection, (now - timedelta(days=day)).date())
        rates = {kind: await ingest(engine, old) for kind, engine in engines.items()}
        for engine in engines.values():
            await ingest(engine, recent)
        print(
            f"ingestion by COPY, {args.rows:,} rows in {BATCH:,}-row transactions: plain table "
            f"{rates['plain']:,.0f} rows/s, partitioned by day {rates['partitioned']:,.0f} rows/s "
            f"(x{rates['partitioned'] / rates['plain']:.2f})"
        )
        seconds, cpu, vacuum = {}, {}, {}
        with tempfile.TemporaryDirectory() as tmp:
            for kind, engine in engines.items():
                async with engine.connect() as connection:
                    await connection.execute(text("COMMIT"))
                    await connection.execute(text("VACUUM ANALYZE ai_performance_metrics"))
                settings = Settings(
                    database_url=engine.url.render_as_string(False),
                    data_dir=Path(tmp),
                    retention_days=RETENTION_DAYS,
                    retention_chunk_rows=args.chunk,
                )
                loop = RetentionLoop(engine, settings)
                started, cpu_started = time.perf_counter(), time.process_time()
                deleted = await loop.run_once()
                seconds[kind] = time.perf_counter() - started
                cpu[kind] = time.process_time() - cpu_started
                cutoff = f"timestamp < now() - interval '{RETENTION_DAYS} days'"
                assert deleted == args.rows, (kind, deleted)
                assert await count(engine, cutoff) == 0
                assert await count(engine, "true") == len(recent)
                # what the deletes leave behind: dead rows and index entries, to be vacuumed
                # (autovacuum would, later); a dropped partition leaves nothing
                async with engine.connect() as connection:
                    await connection.execute(text("COMMIT"))
                    started = time.perf_counter()
                    await connection.execute(text("VACUUM ai_performance_metrics"))
                    vacuum[kind] = time.perf_counter() - started
            async with engines["partitioned"].connect() as connection:
                left = await day_partitions(connection)
            assert len(left) == 3, left  # today and the two days ahead
        print(
            f"retention of {args.rows:,} samples past {RETENTION_DAYS} days (of "
            f"{args.rows + len(recent):,}): chunked DELETE ({args.chunk:,} rows a transaction) "
            f"{seconds['plain']:.2f} s, DETACH + DROP of {len(OLD_DAYS)} day partitions "
            f"{seconds['partitioned']:.3f} s (x{seconds['plain'] / seconds['partitioned']:.0f} "
            f"faster); this process's CPU {cpu['plain']:.2f} s vs {cpu['partitioned']:.3f} s"
        )
        print(
            f"VACUUM after the pass (the dead rows the DELETE left): plain "
            f"{vacuum['plain']:.2f} s, partitioned {vacuum['partitioned']:.3f} s"
        )
    finally:
        for engine in engines.values():
            await engine.dispose()
        conn = await asyncpg.connect(admin_dsn)
        for name in names.values():
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
