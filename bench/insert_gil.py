"""How SQLite inserts fare beside a thread running Python (BENCHMARKS.md, "Batch ingestion: the
SQLite writer off the event loop").

    python bench/insert_gil.py              # 8 batches of 10,000 rows per arm, about 30 s
    python bench/insert_gil.py --batches 40 # the table grows to 400,000 rows

The stdlib driver releases the GIL around each sqlite3_step and takes it back before binding the
next row. This inserts the same rows (bench/workload.py, the schema built by `perfpilot
migrate`, the server's pragmas, one commit per 10,000 rows, the table emptied before each arm)
three ways, each alone and then beside a second thread that runs a pure-Python loop (as the
event loop does while it parses a batch or evaluates rules):
- executemany of one row's INSERT (the baseline of bench/ingest.py);
- one INSERT ... SELECT over json_each(?) of the batch as one JSON text;
- multi-row INSERTs as the server writes them (perfpilot.core.bulk.MultiRowInsert).
It prints rows/s and the inserting thread's CPU per row for each.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import baseline
import orjson
import workload

from perfpilot.core.bulk import MultiRowInsert

COLUMNS = "(id, service_name, metric_type, value, unit, timestamp, metadata)"
JSON_INSERT = (
    f"INSERT INTO ai_performance_metrics {COLUMNS} SELECT value->>0, value->>1, value->>2, "
    "value->>3, value->>4, value->>5, value->>6 FROM json_each(?)"
)
MULTIROW = MultiRowInsert(baseline.INSERT)

Insert = Callable[[sqlite3.Connection, list[workload.StoredRow]], None]


def executemany(connection: sqlite3.Connection, rows: list[workload.StoredRow]) -> None:
    connection.executemany(baseline.INSERT, rows)


def json_each(connection: sqlite3.Connection, rows: list[workload.StoredRow]) -> None:
    connection.execute(JSON_INSERT, (orjson.dumps(rows).decode(),))


def multirow(connection: sqlite3.Connection, rows: list[workload.StoredRow]) -> None:
    MULTIROW.run(connection, rows)


class BusyThread:
    """A thread that runs Python until stopped."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, daemon=True)

    def _spin(self) -> None:
        total = 0
        while not self._stop.is_set():
            total += sum(i * i for i in range(100))

    def __enter__(self) -> BusyThread:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def arm(path: Path, insert: Insert, batches: list[list[workload.StoredRow]]) -> tuple[float, float]:
    """(rows/s, CPU us per row of the inserting thread)."""
    connection = baseline.connect(path)
    try:
        connection.execute("DELETE FROM ai_performance_metrics")
        connection.commit()
        rows = 0
        cpu = time.thread_time()
        started = time.perf_counter()
        for batch in batches:
            insert(connection, batch)
            connection.commit()
            rows += len(batch)
        elapsed = time.perf_counter() - started
        cpu = time.thread_time() - cpu
        stored = connection.execute("SELECT count(*) FROM ai_performance_metrics").fetchone()[0]
    finally:
        connection.close()
    if stored != rows:
        raise RuntimeError(f"stored {stored} rows, expected {rows}")
    return rows / elapsed, cpu / rows * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=8, help="10,000-row batches per arm")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="perfpilot-bench-") as tmp:
        path = baseline.migrate(Path(tmp), dict(os.environ))
        batches = [workload.stored_rows(body) for body in workload.batch_bodies(args.batches)]
        print(
            f"{len(batches) * workload.BATCH_SIZE:,} rows per arm, "
            f"SQLite {sqlite3.sqlite_version}, load average {os.getloadavg()[0]:.2f}"
        )
        for name, insert in (
            ("executemany", executemany),
            ("json_each", json_each),
            ("multi-row", multirow),
        ):
            alone, alone_cpu = arm(path, insert, batches)
            with BusyThread():
                beside, beside_cpu = arm(path, insert, batches)
            print(
                f"  {name:12} alone {alone:9,.0f} rows/s ({alone_cpu:5.1f} us CPU a row); "
                f"beside a busy thread {beside:9,.0f} rows/s ({beside_cpu:5.1f} us), "
                f"x{beside / alone:.3f}"
            )


if __name__ == "__main__":
    main()
