"""The baseline: a bare stdlib `sqlite3` executemany of the same rows into the same schema."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from workload import BATCH_SIZE, StoredRow, stored_rows

INSERT = (
    "INSERT INTO ai_performance_metrics "
    "(id, service_name, metric_type, value, unit, timestamp, metadata) "
    "VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def migrate(data_dir: Path, env: dict[str, str]) -> Path:
    """Build the schema with the project's own Alembic migrations (`perfpilot migrate`)."""
    env = env | {"PERFPILOT_DATA_DIR": str(data_dir)}
    env.pop("PERFPILOT_DATABASE_URL", None)
    subprocess.run(
        [sys.executable, "-m", "perfpilot.cli", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    return data_dir / "perfpilot.db"


def connect(path: Path, *, cache_kib: int | None = None) -> sqlite3.Connection:
    """Same pragmas as perfpilot.core.db gives every SQLite connection; with `cache_kib`, also
    the page cache its one write connection has (core/db.WRITER_CACHE_KIB)."""
    connection = sqlite3.connect(path, timeout=10)
    pragmas = [
        "PRAGMA journal_mode=WAL",
        "PRAGMA synchronous=NORMAL",
        "PRAGMA busy_timeout=10000",
        "PRAGMA foreign_keys=ON",
    ]
    if cache_kib is not None:
        pragmas.append(f"PRAGMA cache_size=-{cache_kib}")
    for pragma in pragmas:
        connection.execute(pragma)
    return connection


def insert_rate(
    data_dir: Path,
    env: dict[str, str],
    bodies: list[bytes],
    total: int,
    *,
    cache_kib: int | None = None,
) -> tuple[float, float]:
    """(samples/s, CPU seconds) of executemany + commit per BATCH_SIZE rows, `total` rows, rows
    built beforehand (only the inserts and commits are timed); `cache_kib`: see connect."""
    path = migrate(data_dir, env)
    batches: list[list[StoredRow]] = []
    while len(batches) * BATCH_SIZE < total:
        batches.append(stored_rows(bodies[len(batches) % len(bodies)]))
    connection = connect(path, cache_kib=cache_kib)
    try:
        cpu = time.process_time()
        started = time.perf_counter()
        for rows in batches:
            connection.executemany(INSERT, rows)
            connection.commit()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stored = connection.execute("SELECT count(*) FROM ai_performance_metrics").fetchone()[0]
    finally:
        connection.close()
    if stored != len(batches) * BATCH_SIZE:
        raise RuntimeError(f"baseline stored {stored} rows, expected {len(batches) * BATCH_SIZE}")
    return stored / elapsed, cpu
