"""Chart data benchmark (issue 12): GET /series over one series of 5 M samples, 30 days at
1-hour buckets (720 points), and the same 30 days at 600 points, p50/p95 over HTTP.

    nice python bench/series.py                  # 5 M samples (~0.6 GB), built once, kept
    python bench/series.py --rows 500000         # a smaller variant

One run, SQLite, loopback only: the schema by `perfpilot migrate`, then one series
(service "chat", latency) of --rows samples evenly over 30 days, inserted with stdlib sqlite3
executemany in time order; the real server (`perfpilot serve`) on it; --requests timed
requests per variant on one keep-alive connection. Same-run baseline: the bare grouped SQL
the repository sends, timed in stdlib sqlite3 on the same file (the least any server must do).
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

API = "/v1/ai-performance-optimization"
BIN = Path(sys.executable).parent
END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=30)


def build(data_dir: Path, rows: int, env: dict[str, str]) -> None:
    db = data_dir / "perfpilot.db"
    if db.exists():
        return
    subprocess.run([str(BIN / "perfpilot"), "migrate"], env=env, check=True)
    conn = sqlite3.connect(db)
    step = (END - START).total_seconds() / rows
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
            conn.executemany("INSERT INTO ai_performance_metrics VALUES (?,?,?,?,?,?,?)", batch)
            conn.commit()
            batch.clear()
    if batch:
        conn.executemany("INSERT INTO ai_performance_metrics VALUES (?,?,?,?,?,?,?)", batch)
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
        db = sqlite3.connect(data_dir / "perfpilot.db")
        for points in (720, 600):
            query = urllib.parse.urlencode(
                {
                    "serviceName": "chat",
                    "metricType": "latency",
                    "since": START.isoformat(),
                    "until": END.isoformat(),
                    "points": points,
                }
            )
            times = []
            conn.close()  # the bare-SQL timing below outlasts the server's keep-alive
            for _ in range(args.requests + 1):
                t = time.perf_counter()
                conn.request("GET", f"{API}/series?{query}", headers=headers)
                body = json.loads(conn.getresponse().read())
                times.append(time.perf_counter() - t)
            buckets = body["data"]["buckets"]
            assert sum(b["count"] for b in buckets) == args.rows, body["message"]
            width = (END - START).total_seconds() / points
            sql = (
                "SELECT CAST((julianday(timestamp) - julianday(?)) * 86400.0 / ? AS INTEGER) AS b,"
                " count(*), min(value), max(value), sum(value) FROM ai_performance_metrics"
                " WHERE service_name = 'chat' AND metric_type = 'latency' AND timestamp >= ?"
                " AND timestamp < ? GROUP BY b ORDER BY b"
            )
            fmt = "%Y-%m-%d %H:%M:%S.%f"
            bare = []
            for _ in range(max(3, args.requests // 4)):
                t = time.perf_counter()
                db.execute(
                    sql, (START.strftime(fmt), width, START.strftime(fmt), END.strftime(fmt))
                ).fetchall()
                bare.append(time.perf_counter() - t)
            print(
                f"GET /series 30 d, {points} buckets ({len(buckets)} returned): "
                f"{percentiles(times[1:])}   bare SQL: {percentiles(bare)}  "
                f"ratio p50 {statistics.median(times[1:]) / statistics.median(bare):.2f}"
            )
    finally:
        server.terminate()
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
