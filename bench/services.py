"""Service lists at scale (issue 9, item 4): GET /services and GET /realtime over 20,000
services, and whether /healthz keeps answering while they are read.

    python bench/services.py                 # about a minute; --services N to change the count

One run, SQLite, loopback only. It
1. builds the schema with `perfpilot migrate` and writes, with stdlib sqlite3, a desired state
   for one service in four and an open alert for one in fifty;
2. starts the real server (`perfpilot serve`, production defaults) and POSTs one fresh latency
   sample per service through /metrics/batch (so the ingest path and root /metrics see them);
3. measures the baseline in the same run: /healthz on the idle server, and the first page's SQL
   statement run by stdlib sqlite3 on the same file (what the database alone costs);
4. times GET /services and GET /realtime: the first page (default limit 100), and walking every
   page with limit 1000, while a thread polls /healthz back to back;
5. prints the figures, /healthz under load against idle, and the size of root /metrics.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import httpx
from server import API, Server
from sqlalchemy.dialects import sqlite

from perfpilot.services import repository

BATCH = 10_000
FIRST_PAGE_CALLS = 50
WALKS = 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 0.5):7.1f} ms   p95 {percentile(values, 0.95):7.1f} ms   "
        f"max {max(values):7.1f} ms   (n={len(values)})"
    )


def seed_store(data_dir: Path, env: dict[str, str], services: int) -> Path:
    subprocess.run(
        [sys.executable, "-m", "perfpilot.cli", "migrate"],
        env=env | {"PERFPILOT_DATA_DIR": str(data_dir)},
        check=True,
        capture_output=True,
        timeout=120,
    )
    path = data_dir / "perfpilot.db"
    now = datetime.now(UTC).replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(path) as connection:
        connection.executemany(
            "INSERT INTO ai_service_states (service_name, instances, model, fallback_models, "
            "fallback_active, retry_policy, cache_epoch, version, updated_at) "
            "VALUES (?, ?, NULL, '[]', 0, '{}', 0, 1, ?)",
            [(name(i), 1 + i % 5, now) for i in range(0, services, 4)],
        )
        connection.executemany(
            "INSERT INTO ai_performance_alerts (id, service_name, fingerprint, metric_type, "
            "current_value, threshold, severity, status, triggered_at, message, metadata) "
            "VALUES (?, ?, ?, 'latency', 1, 1, ?, 'active', ?, 'bench', '{}')",
            [
                (uuid.uuid4().hex, name(i), uuid.uuid4().hex[:16], ("low", "high")[i % 2], now)
                for i in range(0, services, 50)
            ],
        )
    return path


def name(i: int) -> str:
    return f"svc-{i:05d}"


def push_samples(client: httpx.Client, token: str, services: int) -> float:
    when = (datetime.now(UTC) - timedelta(seconds=5)).isoformat()
    started = time.perf_counter()
    for lo in range(0, services, BATCH):
        samples = [
            {"serviceName": name(i), "metricType": "latency", "value": i % 997, "timestamp": when}
            for i in range(lo, min(services, lo + BATCH))
        ]
        response = client.post(
            f"{API}/metrics/batch",
            json={"samples": samples},
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
        response.raise_for_status()
    return time.perf_counter() - started


def sql_baseline(path: Path, runs: int) -> list[float]:
    """GET /services' first page statement (limit 100) in stdlib sqlite3."""
    statement = repository.page_statement(include_alerting=False).params(after="", limit=101)
    sql = str(statement.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
    timings = []
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
        for _ in range(runs):
            started = time.perf_counter()
            rows = connection.execute(sql).fetchall()
            timings.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 101
    return timings


def poll_healthz(base_url: str, stop: Event, out: Queue[tuple[list[float], int]]) -> None:
    """/healthz back to back until `stop`, then (timings in ms, errors) on `out`."""
    timings: list[float] = []
    errors = 0
    with httpx.Client(base_url=base_url, timeout=60) as client:
        while not stop.is_set():
            started = time.perf_counter()
            try:
                client.get("/healthz").raise_for_status()
                timings.append((time.perf_counter() - started) * 1000)
            except httpx.HTTPError:
                errors += 1
            stop.wait(0.005)
    out.put((timings, errors))


class HealthzPoller:
    """poll_healthz in a process of its own: the bench's own client (parsing 850 KB pages)
    must not delay the probe through this process's GIL."""

    def __init__(self, base_url: str) -> None:
        self._stop = multiprocessing.Event()
        self._out: Queue[tuple[list[float], int]] = multiprocessing.Queue()
        self._process = multiprocessing.Process(
            target=poll_healthz, args=(base_url, self._stop, self._out), daemon=True
        )
        self.timings: list[float] = []
        self.errors = 0

    def __enter__(self) -> HealthzPoller:
        self._process.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.timings, self.errors = self._out.get(timeout=120)
        self._process.join(30)


def timed(
    client: httpx.Client, url: str, headers: dict[str, str], params: dict[str, Any] | None = None
) -> tuple[float, dict[str, Any]]:
    """(ms, body) of one GET."""
    started = time.perf_counter()
    response = client.get(url, params=params, headers=headers)
    elapsed = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return elapsed, response.json()


def walk(
    client: httpx.Client, path: str, headers: dict[str, str]
) -> tuple[float, list[float], int]:
    """(total ms, per-page ms, items) over every page with limit 1000."""
    pages, items, cursor = [], 0, None
    started = time.perf_counter()
    while True:
        params: dict[str, Any] = {"limit": 1000} | ({"cursor": cursor} if cursor else {})
        elapsed, body = timed(client, f"{API}{path}", headers, params)
        pages.append(elapsed)
        items += body["count"]
        cursor = body["nextCursor"]
        if cursor is None:
            return (time.perf_counter() - started) * 1000, pages, items


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--services", type=int, default=20_000)
    args = parser.parse_args()
    services: int = args.services

    with tempfile.TemporaryDirectory(prefix="perfpilot-bench-services-") as tmp:
        data_dir = Path(tmp)
        env = Server.environment() | {"PERFPILOT_ACCESS_LOG": "false"}
        path = seed_store(data_dir, env, services)
        with Server(data_dir, env) as server:
            base_url = f"http://127.0.0.1:{server.port}"
            operator, viewer = server.token("operator"), server.token("viewer")
            headers = {"Authorization": f"Bearer {viewer}"}
            with httpx.Client(base_url=base_url, timeout=300) as client:
                pushed_s = push_samples(client, operator, services)
                time.sleep(1)  # let the engine catch up before timing reads

                idle = [timed(client, "/healthz", {})[0] for _ in range(200)]
                baseline_sql = sql_baseline(path, 20)

                results: dict[str, Any] = {}
                with HealthzPoller(base_url) as poller:
                    for path_ in ("/services", "/realtime"):
                        url = f"{API}{path_}"
                        first = [timed(client, url, headers)[0] for _ in range(FIRST_PAGE_CALLS)]
                        walks = [walk(client, path_, headers) for _ in range(WALKS)]
                        results[path_] = (first, walks)
                exposition = client.get("/metrics", headers=headers).text

        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"machine: {os.cpu_count()} cores, load average (1, 5, 15 min) at the end: {load}")
        print(f"services: {services:,} ({services // 4:,} with a desired state, "
              f"{len(range(0, services, 50)):,} with an open alert); samples pushed in "
              f"{pushed_s:.1f} s")  # fmt: skip
        print(f"baseline  /healthz, idle server        {summary(idle)}")
        print(f"baseline  first page SQL, sqlite3      {summary(baseline_sql)}")
        for path_, (first, walks) in results.items():
            totals = [w[0] for w in walks]
            pages = [ms for w in walks for ms in w[1]]
            print(f"GET {path_:<10} first page (100)     {summary(first)}")
            print(f"GET {path_:<10} page of 1000         {summary(pages)}")
            median_s = statistics.median(totals) / 1000
            print(f"GET {path_:<10} all {walks[0][2]:,} ({len(walks[0][1])} pages)   "
                  f"median {median_s:.2f} s over {len(walks)} walks")  # fmt: skip
        print(f"during    /healthz, lists being read   {summary(poller.timings)}   "
              f"errors {poller.errors}")  # fmt: skip
        p95_ratio = percentile(poller.timings, 0.95) / percentile(idle, 0.95)
        p50_ratio = statistics.median(results["/services"][0]) / statistics.median(baseline_sql)
        print(f"ratio     /healthz p95 under load / idle: x{p95_ratio:.1f}; "
              f"GET /services first page p50 / its SQL alone p50: x{p50_ratio:.1f}")  # fmt: skip
        series = sum(
            1
            for line in exposition.splitlines()
            if line.startswith("perfpilot_service_metric_value{")
        )
        print(f"root /metrics: {len(exposition.encode()):,} bytes, {series:,} latest-value "
              f"series (cap PERFPILOT_EXPOSITION_MAX_SERIES, default 10,000)")  # fmt: skip


if __name__ == "__main__":
    main()
