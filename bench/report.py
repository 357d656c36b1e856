"""Reports and stats benchmark (DESIGN §8): a 30-day report over one sample per second of a
service's latency and throughput (5,184,000 rows), and GET /stats on that store.

    python bench/report.py            # about 2-3 minutes, most of it writing the rows

One run, SQLite, loopback only. It
1. builds the schema with `perfpilot migrate`, then writes the rows with stdlib sqlite3
   executemany (timestamps one second apart over the 30 days ending now, a daily cycle plus
   noise; ids time-ordered so the bulk load appends), plus a few rules, alerts and actions;
2. measures a baseline in the same run: a bare `count(*), sum(value)` over the same two
   series with stdlib sqlite3 (the least any report must read);
3. starts the real server (`perfpilot serve`) on that data directory;
4. POSTs a monthly report (the same 30 days) several times and times each request end to
   end; checks the sample counts it reports;
5. calls GET /stats once (the cold count), then every 0.25 s for 15 s (what a dashboard
   does), and prints the latency distribution of those calls.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import server as bench_server

API = "/v1/ai-performance-optimization"
SERVICE = "ai-chat-service"
DAYS = 30
TARGET_REPORT_S = 2.0
TARGET_STATS_MS = 100.0
INSERT = (
    "INSERT INTO ai_performance_metrics "
    "(id, service_name, metric_type, value, unit, timestamp, metadata) VALUES (?, ?, ?, ?, ?, ?, ?)"
)


def migrate(data_dir: Path, env: dict[str, str]) -> Path:
    subprocess.run(
        [sys.executable, "-m", "perfpilot.cli", "migrate"],
        env=env | {"PERFPILOT_DATA_DIR": str(data_dir)},
        check=True,
        capture_output=True,
        timeout=60,
    )
    return data_dir / "perfpilot.db"


def connect(path: Path) -> sqlite3.Connection:
    """Same pragmas as perfpilot.core.db gives every SQLite connection."""
    connection = sqlite3.connect(path, timeout=10)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=10000"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")  # perfpilot's SQLite storage form


def write_samples(path: Path, start: datetime, seconds: int) -> float:
    """Two series, one sample per second each; returns the seconds spent."""
    rng = random.Random(42)
    began = time.perf_counter()
    connection = connect(path)
    connection.execute("PRAGMA cache_size=-262144")
    base = int(start.timestamp()) << 32
    naive = start.replace(tzinfo=None)
    chunk = 86_400
    for lo in range(0, seconds, chunk):
        rows = []
        for i in range(lo, min(seconds, lo + chunk)):
            when = stamp(naive + timedelta(seconds=i))
            day = math.sin(2 * math.pi * i / 86_400)
            latency = 400 + 150 * day + rng.expovariate(1 / 120)
            rps = max(0.0, 80 + 40 * day + rng.gauss(0, 8))
            rows.append((uuid.UUID(int=(base + 2 * i) << 64).hex, SERVICE, "latency", latency,
                         "ms", when, "{}"))  # fmt: skip
            rows.append((uuid.UUID(int=(base + 2 * i + 1) << 64).hex, SERVICE, "throughput",
                         rps, "rps", when, "{}"))  # fmt: skip
        connection.executemany(INSERT, rows)
        connection.commit()
    connection.close()
    return time.perf_counter() - began


def write_history(path: Path, start: datetime) -> None:
    """Alerts and measured actions over the period, so /stats and the report count them."""
    connection = connect(path)
    for i in range(300):
        at = stamp(start.replace(tzinfo=None) + timedelta(hours=2 * i))
        connection.execute(
            "INSERT INTO ai_performance_alerts (id, service_name, fingerprint, metric_type, "
            "current_value, threshold, severity, status, triggered_at, resolved_at, message, "
            "metadata) VALUES (?, ?, ?, 'latency', 1, 1, ?, 'resolved', ?, ?, 'bench', '{}')",
            (uuid.uuid4().hex, SERVICE, uuid.uuid4().hex[:16],
             ["low", "medium", "high", "critical"][i % 4], at, at),
        )  # fmt: skip
        connection.execute(
            "INSERT INTO ai_optimization_actions (id, service_name, action_type, parameters, "
            "source, status, metric_type, measured_impact, outcome, executed_at, "
            "revert_on_resolve) VALUES (?, ?, 'scale_up', '{}', 'rule', 'executed', "
            "'latency', ?, ?, ?, 0)",
            (uuid.uuid4().hex, SERVICE, (i % 7 - 2) / 20, ["improved", "no_change"][i % 2], at),
        )  # fmt: skip
    connection.commit()
    connection.close()


def create_rules(server: Server, count: int) -> None:
    """Never-firing rules through the API (so the engine evaluates them like real ones)."""
    admin = server.token("admin")
    kinds = ["scale_up", "scale_down", "cache_clear", "model_switch", "retry", "fallback"]
    parameters: dict[str, Any] = {
        "model_switch": {"model": "small"},
        "retry": {"maxRetries": 2},
        "fallback": {"models": ["small"]},
    }
    for i in range(count):
        kind = kinds[i % len(kinds)]
        rule = {
            "name": f"bench rule {i}",
            "serviceName": SERVICE,
            "condition": {"metric": "latency", "operator": "gt", "threshold": 1e12},
            "action": {"type": kind, "parameters": parameters.get(kind, {})},
            "isActive": i % 4 != 0,
        }
        server.call("POST", "/rules", admin, rule)


def baseline_scan(path: Path, start: datetime, end: datetime) -> float:
    """Seconds for a bare count/sum of both series over the period (best of 3)."""
    connection = connect(path)
    best = math.inf
    for _ in range(3):
        began = time.perf_counter()
        for metric in ("latency", "throughput"):
            connection.execute(
                "SELECT count(*), sum(value) FROM ai_performance_metrics WHERE service_name = ? "
                "AND metric_type = ? AND timestamp >= ? AND timestamp < ?",
                (SERVICE, metric, stamp(start), stamp(end)),
            ).fetchone()
        best = min(best, time.perf_counter() - began)
    connection.close()
    return best


class Server(bench_server.Server):
    """`perfpilot serve` in its own process on the data directory (start-up may migrate a
    5 M-row store, hence the longer wait)."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        super().__init__(data_dir, env, start_timeout=120)

    def call(self, method: str, path: str, token: str, body: Any = None) -> tuple[float, Any]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{API}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method=method,
        )
        began = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            payload = json.load(response)
        return time.perf_counter() - began, payload


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=5, help="timed monthly reports")
    parser.add_argument("--stats-seconds", type=float, default=15.0)
    parser.add_argument("--keep", action="store_true", help="keep the data directory")
    args = parser.parse_args()

    env = dict(os.environ)
    for key in [k for k in env if k.startswith("PERFPILOT_")]:
        env.pop(key)
    env |= {
        "PERFPILOT_JWT_SECRET": "bench-secret-" + "x" * 40,
        "PERFPILOT_RETENTION_DAYS": "3650",  # the bench data must stay put while timed
        "PERFPILOT_LOG_LEVEL": "WARNING",
        "PERFPILOT_ACCESS_LOG": "false",
        "PERFPILOT_RATE_LIMIT_READ": "100000/minute",
        "PERFPILOT_RATE_LIMIT_WRITE": "100000/minute",
    }
    data_dir = Path(tempfile.mkdtemp(prefix="perfpilot-report-bench-"))
    seconds = DAYS * 86_400
    end = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=5)
    start = end - timedelta(seconds=seconds)
    print(
        f"data: {data_dir}  (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f})"
    )

    path = migrate(data_dir, env)
    load_s = write_samples(path, start, seconds)
    write_history(path, start)
    rows = 2 * seconds
    size_mb = sum(f.stat().st_size for f in data_dir.glob("perfpilot.db*")) / 1e6
    print(
        f"wrote {rows:,} samples in {load_s:.1f} s ({rows / load_s:,.0f}/s); "
        f"store {size_mb:,.0f} MB"
    )
    base_s = baseline_scan(path, start, end)
    print(f"baseline: bare count+sum of both series over 30 days: {base_s:.3f} s")

    with Server(data_dir, env) as server:
        create_rules(server, 15)
        operator, viewer = server.token("operator"), server.token("viewer")
        body = {
            "serviceName": SERVICE,
            "reportType": "monthly",
            "period": {"start": start.isoformat(), "end": end.isoformat()},
        }
        timings, cpu = [], []
        for _ in range(args.reports):
            before = bench_server.cpu_seconds(server.pid)
            elapsed, payload = server.call("POST", "/reports", operator, body)
            cpu.append(bench_server.cpu_seconds(server.pid) - before)
            counts = payload["data"]["summary"]["sampleCounts"]
            assert counts["latency"] == counts["throughput"] == seconds, counts
            timings.append(elapsed)
        summary = payload["data"]["summary"]
        print(
            f"monthly report over {rows:,} samples: best {min(timings):.3f} s, median "
            f"{statistics.median(timings):.3f} s, worst {max(timings):.3f} s "
            f"({args.reports} runs; target < {TARGET_REPORT_S:g} s) = "
            f"{statistics.median(timings) / base_s:.1f}x the bare scan"
        )
        print(
            f"  server CPU per report: median {statistics.median(cpu):.2f} s (two connections "
            "read in parallel, so CPU can exceed wall time)"
        )
        print(
            f"  totalRequests {summary['totalRequests']:,} over "
            f"{summary['throughputSeconds']:,.0f} s, "
            f"p50/p95/p99 {summary['latencyP50']:.1f}/{summary['latencyP95']:.1f}/"
            f"{summary['latencyP99']:.1f} ms"
        )
        day = {
            "serviceName": SERVICE,
            "reportType": "daily",
            "period": {"start": (end - timedelta(days=1)).isoformat(), "end": end.isoformat()},
        }
        daily = [server.call("POST", "/reports", operator, day)[0] for _ in range(3)]
        print(f"daily report on that store: median {statistics.median(daily):.3f} s")

        cold, _ = server.call("GET", "/stats", viewer)
        polls = []
        stop = time.monotonic() + args.stats_seconds
        while time.monotonic() < stop:
            polls.append(server.call("GET", "/stats", viewer)[0] * 1000)
            time.sleep(0.25)
        print(
            f"GET /stats: first call (count) {cold * 1000:.0f} ms; polled every 0.25 s for "
            f"{args.stats_seconds:g} s: p50 {percentile(polls, 0.5):.1f} ms, p95 "
            f"{percentile(polls, 0.95):.1f} ms, max {max(polls):.1f} ms "
            f"({len(polls)} calls; target < {TARGET_STATS_MS:g} ms)"
        )
    print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if not args.keep:
        for file in data_dir.iterdir():
            file.unlink()
        data_dir.rmdir()


if __name__ == "__main__":
    main()
