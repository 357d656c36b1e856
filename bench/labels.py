"""What labels cost ingestion (issue 11 item 1): the same batches without and with labels, in
one run, on this machine.

    python bench/labels.py

1. CPU per sample of the app's own ingest path in this process: a batch body parsed and
   validated (parse_batch), rows built with their series ids (build_rows) and bound for the
   driver (bind_rows) — unlabelled (the bench/ingest.py workload) and the same samples with two
   labels each (model x region: 6 label sets per service and type);
2. a bare sqlite3 executemany + commit per 10,000 rows of those rows into the schema built by
   `perfpilot migrate`: unlabelled rows leave the partial index ix_metrics_series_ts alone,
   labelled rows (series_id set) add one entry each.
Each figure is the best of several rounds (the machine is shared); ratios are labelled over
unlabelled in the same run.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import tempfile
import time
from pathlib import Path

import baseline
import workload
from server import Server

from perfpilot.metrics import repository
from perfpilot.metrics.canonical import parse_batch
from perfpilot.metrics.service import build_rows

BATCHES = 5
ROUNDS = 5
INSERT = (
    "INSERT INTO ai_performance_metrics "
    "(id, service_name, metric_type, value, unit, timestamp, metadata, series_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)


def labelled(bodies: list[bytes]) -> list[bytes]:
    rng = random.Random(5)
    out = []
    for body in bodies:
        batch = json.loads(body)
        for sample in batch["samples"]:
            sample["labels"] = {
                "model": rng.choice(["gpt-4o", "llama-3.1-70b", "mistral-large"]),
                "region": rng.choice(["eu-west-1", "us-east-1"]),
            }
        out.append(json.dumps(batch).encode())
    return out


def hot_path(bodies: list[bytes]) -> tuple[float, list[list[tuple[object, ...]]]]:
    """Best CPU microseconds per sample, and the bound rows of the last round."""
    best = float("inf")
    bound: list[list[tuple[object, ...]]] = []
    for _ in range(ROUNDS):
        bound = []
        cpu = time.process_time()
        for body in bodies:
            samples = parse_batch(body)
            assert samples is not None, "the workload must be valid"
            rows = build_rows(samples)
            bound.append(
                list(
                    repository.bind_rows(rows, [s.metadata_json for s in samples], dialect="sqlite")
                )
            )
        best = min(best, (time.process_time() - cpu) / (len(bodies) * workload.BATCH_SIZE))
    return best * 1e6, bound


def insert_rate(work: Path, name: str, batches: list[list[tuple[object, ...]]]) -> float:
    """Best samples/s of executemany + commit per batch into a fresh migrated database."""
    best = 0.0
    for round_ in range(ROUNDS):
        path = baseline.migrate(work / f"{name}-{round_}", Server.environment())
        connection = baseline.connect(path)
        try:
            started = time.perf_counter()
            for rows in batches:
                connection.executemany(INSERT, rows)
                connection.commit()
            best = max(best, len(batches) * workload.BATCH_SIZE / (time.perf_counter() - started))
        finally:
            connection.close()
    return best


def main() -> None:
    load1, load5, _ = os.getloadavg()
    print(
        f"machine: {len(os.sched_getaffinity(0))} cores, SQLite {sqlite3.sqlite_version}; "
        f"load average {load1:.2f} (1 min), {load5:.2f} (5 min)"
    )
    plain = workload.batch_bodies(BATCHES)
    with_labels = labelled(plain)
    plain_cpu, plain_rows = hot_path(plain)
    labels_cpu, labels_rows = hot_path(with_labels)
    print(
        f"\n[1] parse + build rows + bind, CPU per sample (best of {ROUNDS}, "
        f"{BATCHES} x {workload.BATCH_SIZE:,} samples):\n"
        f"    unlabelled {plain_cpu:.2f} us, labelled {labels_cpu:.2f} us "
        f"(ratio {labels_cpu / plain_cpu:.2f})"
    )
    with tempfile.TemporaryDirectory(prefix="perfpilot-labels-") as tmp:
        plain_rate = insert_rate(Path(tmp), "plain", plain_rows)
        labels_rate = insert_rate(Path(tmp), "labels", labels_rows)
    print(
        f"\n[2] sqlite3 executemany + commit per {workload.BATCH_SIZE:,} rows (best of {ROUNDS}):"
        f"\n    unlabelled {plain_rate:,.0f} samples/s, labelled {labels_rate:,.0f} samples/s "
        f"(ratio {labels_rate / plain_rate:.2f})"
    )


if __name__ == "__main__":
    main()
