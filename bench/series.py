"""Chart data benchmark (issue 12): GET /series over one series of 5 M samples, 30 days at
1-hour buckets (720 points), and the same 30 days at 600 points (72-minute buckets), p50/p95
over HTTP, read from the raw samples (source=samples) and from the per-minute rollups
(source=auto picks them for these whole-minute grids), in the same run, on the same server.

    nice python bench/series.py                  # 5 M samples (~0.6 GB), built once, kept
    python bench/series.py --rows 500000         # a smaller variant

One run, SQLite, loopback only: the schema by `perfpilot migrate`, then one series
(service "chat", latency) of --rows samples evenly over 30 days, inserted with stdlib sqlite3
executemany in time order, then its rollups by the migration's own backfill statement
(the ingest writer keeps them as samples arrive; this store skips the writer to be built in
minutes); the real server (`perfpilot serve`) on it; --requests timed requests per variant on
one keep-alive connection, raw and rollups interleaved. Same-run baseline: the raw path.
Every rollup answer is checked equal to the raw answer, bucket by bucket.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

API = "/v1/ai-performance-optimization"
BIN = Path(sys.executable).parent
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=30)


COLUMNS = "id, service_name, metric_type, value, unit, timestamp, metadata"
# the backfill of migration 7e1b9c3d5a27 (SQLite form)
ROLLUP_BACKFILL = (
    "INSERT INTO ai_metric_rollups_1m (service_name, metric_type, minute, series_id, count, "
    "sum, min, max) SELECT service_name, metric_type, substr(timestamp, 1, 17) || '00.000000', "
    "coalesce(series_id, 0), count(*), sum(value), min(value), max(value) "
    "FROM ai_performance_metrics GROUP BY service_name, metric_type, "
    "substr(timestamp, 1, 17) || '00.000000', coalesce(series_id, 0)"
)


def build(data_dir: Path, rows: int, env: dict[str, str]) -> None:
    db = data_dir / "perfpilot.db"
    if db.exists():
        return
    subprocess.run([str(BIN / "perfpilot"), "migrate"], env=env, check=True)
    conn = sqlite3.connect(db)
    step = (END - START).total_seconds() / rows
    insert = f"INSERT INTO ai_performance_metrics ({COLUMNS}) VALUES (?,?,?,?,?,?,?)"
    batch = []
    for i in range(rows):
        when = START + timedelta(seconds=i * step)
        value = 200 + (i % 1000) * 0.5
        batch.append(
            (
                uuid.uuid4().hex,
                "chat",
                "latency",
                value,
                "ms",
                when.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "{}",
            )
        )
        if len(batch) == 100_000:
            conn.executemany(insert, batch)
            conn.commit()
            batch.clear()
    if batch:
        conn.executemany(insert, batch)
    conn.execute(ROLLUP_BACKFILL)
    conn.commit()
    conn.close()


def percentiles(times: list[float]) -> str:
    times = sorted(times)
    p50 = statistics.median(times) * 1000
    p95 = times[int(0.95 * (len(times) - 1))] * 1000
    return f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / f"perfpilot-bench-series-{args.rows}"
    data_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PERFPILOT_")}
    env.update(
        PERFPILOT_DATA_DIR=str(data_dir),
        PERFPILOT_PORT="8766",
        PERFPILOT_LOG_LEVEL="WARNING",
        PERFPILOT_RETENTION_DAYS="3650",
        PERFPILOT_RATE_LIMIT_ENABLED="false",
    )
    started = time.perf_counter()
    build(data_dir, args.rows, env)
    print(
        f"store: {data_dir} ({args.rows:,} samples; ready in {time.perf_counter() - started:.0f} s)"
    )
    token = subprocess.run(
        [str(BIN / "perfpilot"), "token", "--role", "viewer"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[-1]
    server = subprocess.Popen(
        [str(BIN / "perfpilot"), "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        conn = http.client.HTTPConnection("127.0.0.1", 8766, timeout=120)
        for _ in range(600):
            try:
                conn.request("GET", "/readyz")
                if conn.getresponse().read() and True:
                    break
            except OSError:
                conn.close()
                time.sleep(0.2)
        headers = {"Authorization": f"Bearer {token}"}

        def get(query: str) -> tuple[float, dict[str, Any]]:
            t = time.perf_counter()
            conn.request("GET", f"{API}/series?{query}", headers=headers)
            body = json.loads(conn.getresponse().read())
            return time.perf_counter() - t, body["data"]

        for points in (720, 600):
            window = {
                "serviceName": "chat",
                "metricType": "latency",
                "since": START.isoformat(),
                "until": END.isoformat(),
                "points": points,
            }
            raw_query = urllib.parse.urlencode({**window, "source": "samples"})
            rollup_query = urllib.parse.urlencode(window)
            _, raw = get(raw_query)  # warm both paths once, and check them
            _, rolled = get(rollup_query)
            assert raw["source"] == "samples" and rolled["source"] == "rollups"
            assert sum(b["count"] for b in raw["buckets"]) == args.rows
            assert rolled["buckets"] == raw["buckets"], "rollups differ from the samples"
            raw_times, rollup_times = [], []
            for _ in range(args.requests):
                raw_times.append(get(raw_query)[0])
                rollup_times.append(get(rollup_query)[0])
            ratio = statistics.median(raw_times) / statistics.median(rollup_times)
            print(
                f"GET /series 30 d, {points} buckets of {raw['bucketSeconds']:.0f} s "
                f"({len(raw['buckets'])} returned, equal on both paths):\n"
                f"  samples: {percentiles(raw_times)}\n"
                f"  rollups: {percentiles(rollup_times)}   raw / rollups p50: {ratio:.1f}x"
            )
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
