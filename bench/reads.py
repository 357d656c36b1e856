"""Reads benchmark (issue 10): GET /metrics over 10 M stored samples, every filter combination
(serviceName, metricType, since, until, each present or not), cursor pages 1-5, newest first.

    nice python bench/reads.py                    # 10 M samples: ~1.5 GB, built once, kept
    python bench/reads.py --rows 1000000          # a 1 M variant for iteration

One run, SQLite, loopback only. It
1. builds the store once (reused by later runs: the path is printed; --data-dir to choose):
   the schema by `perfpilot migrate`, then 50 services x 8 metric types x 30 days of samples
   (10 M: one per series every 104 s) with stdlib sqlite3 executemany in time order, as they
   would have arrived; no ANALYZE, as in production;
2. starts the real server (`perfpilot serve`) on it;
3. for every combination walks pages 1-5 (limit 100) over HTTP to get the cursors, then
   times each of those 80 pages `--requests` times, round-robin over all pages, one
   keep-alive connection, and prints p50/p95/max per combination (target p95 < 50 ms);
4. the same-run baseline: the exact SQL the repository sends for each page (recorded by
   calling perfpilot.metrics.repository.list_samples in this process on the same file),
   timed in bare stdlib sqlite3 - the least any server must do for that page.

--src runs another source tree (e.g. an export of an older commit) for the build, the server
and the recorded SQL; its store is kept apart (the directory name carries the schema head).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path
from typing import Any

import report
import server as bench_server

SERVICES = [f"svc-{i:02d}" for i in range(50)]
TYPES = ["latency", "throughput", "accuracy", "cost", "memory", "cpu", "error_rate", "success_rate"]
UNITS = {"latency": "ms", "throughput": "rps", "cost": "usd", "memory": "mb", "cpu": "percent"}
DAYS = 30
LIMIT = 100
PAGES = 5
TARGET_P95_MS = 50.0
SERVICE, METRIC = "svc-17", "latency"


# (combination, page number, query string parameters)
PageQuery = tuple[str, int, dict[str, str]]


def environment(src: Path | None) -> dict[str, str]:
    env = bench_server.Server.environment() | {
        "PERFPILOT_RETENTION_DAYS": "3650",  # the stored 30 days must stay put while timed
        "PERFPILOT_RATE_LIMIT_READ": "100000000/minute",
        "PERFPILOT_LOG_LEVEL": "WARNING",
    }
    if src is not None:
        env["PYTHONPATH"] = str(src)
    return env


def schema_head(env: dict[str, str]) -> str:
    code = (
        "from alembic.script import ScriptDirectory\n"
        "from perfpilot.core.migrate import alembic_config\n"
        "print(ScriptDirectory.from_config(alembic_config()).get_current_head())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def build(data_dir: Path, env: dict[str, str], rows: int) -> dict[str, Any]:
    """The store, built once: its description is kept next to it in build.json."""
    marker = data_dir / "build.json"
    if marker.exists():
        built: dict[str, Any] = json.loads(marker.read_text())
        if built["rows"] == rows:
            return built
        raise SystemExit(
            f"{data_dir} holds {built['rows']:,} rows, not {rows:,}: another --data-dir"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    # `perfpilot migrate` as bench/report.py runs it, with time for a busy machine
    subprocess.run(
        [sys.executable, "-m", "perfpilot.cli", "migrate"],
        env=env | {"PERFPILOT_DATA_DIR": str(data_dir)},
        check=True,
        capture_output=True,
        timeout=600,
    )
    path = data_dir / "perfpilot.db"
    per_series = rows // (len(SERVICES) * len(TYPES))
    step = DAYS * 86_400 / per_series
    series = [(s, t) for s in SERVICES for t in TYPES]
    end = datetime.now(UTC).replace(microsecond=0)
    start = end - timedelta(days=DAYS)
    naive = start.replace(tzinfo=None)
    rng = random.Random(42)
    id_base = int(start.timestamp()) << 32
    connection = report.connect(path)
    connection.execute("PRAGMA cache_size=-1048576")
    # The migrated schema's own index definitions, dropped for the load and built after it
    # (sorting once is several times faster than maintaining five B-trees row by row; the
    # indexes are the same, only packed tighter than a store that grew sample by sample).
    indexes = connection.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        "AND tbl_name = 'ai_performance_metrics'"
    ).fetchall()
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    began = time.perf_counter()
    done = 0
    chunk_steps = max(1, 100_000 // len(series))
    for lo in range(0, per_series, chunk_steps):
        batch = []
        for k in range(lo, min(per_series, lo + chunk_steps)):
            for j, (service, metric) in enumerate(series):
                # each series reports at its own moment within the step, as exporters do
                when = naive + timedelta(seconds=(k + j / len(series)) * step)
                meta = f'{{"model": "m-{j % 5}", "requestId": "req-{done}"}}'
                batch.append(
                    (
                        uuid.UUID(int=(id_base + done) << 64).hex,  # time-ordered: appends
                        service,
                        metric,
                        rng.uniform(0.0, 1.0) if metric not in UNITS else rng.uniform(1, 900),
                        UNITS.get(metric, "ratio"),
                        report.stamp(when),
                        meta,
                    )
                )
                done += 1
        connection.executemany(report.INSERT, batch)
        connection.commit()
        if done // 1_000_000 != (done - len(batch)) // 1_000_000:
            print(f"  stored {done:,} samples in {time.perf_counter() - began:.0f} s", flush=True)
    loaded = time.perf_counter() - began
    for name, sql in indexes:
        connection.execute(sql)
        print(f"  index {name} built at {time.perf_counter() - began:.0f} s", flush=True)
    elapsed = time.perf_counter() - began
    connection.close()
    built = {
        "rows": done,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "build_seconds": round(elapsed, 1),
        "load_seconds": round(loaded, 1),
        "indexes": [name for name, _ in indexes],
        "schema_head": schema_head(env),
    }
    marker.write_text(json.dumps(built, indent=1))
    return built


def combinations(start: datetime, end: datetime) -> list[tuple[str, dict[str, str]]]:
    since = (start + timedelta(days=10)).isoformat()
    until = (end - timedelta(days=10)).isoformat()
    out = []
    for service, metric, low, high in product([None, SERVICE], [None, METRIC], [None, since],
                                              [None, until]):  # fmt: skip
        query = {"serviceName": service, "metricType": metric, "since": low, "until": high}
        given = {k: v for k, v in query.items() if v is not None}
        label = " ".join(k if k in ("since", "until") else f"{k}={v}" for k, v in given.items())
        out.append((label or "(no filter)", given))
    return out


class Client:
    """One keep-alive HTTP/1.1 connection to the server."""

    def __init__(self, port: int, token: str) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, query: dict[str, str]) -> tuple[float, bytes]:
        path = f"{bench_server.API}/metrics?{urllib.parse.urlencode(query)}"
        began = time.perf_counter()
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - began
        if response.status != 200:
            raise RuntimeError(f"GET {path}: {response.status} {body[:300]!r}")
        return elapsed, body


async def recorded_sql(path: Path, pages: list[PageQuery]) -> list[tuple[str, Any]]:
    """The SQL and parameters perfpilot's own list_samples sends for each page."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

    from perfpilot.core.pagination import decode_cursor
    from perfpilot.metrics.repository import SampleFilter, list_samples

    seen: list[tuple[str, Any]] = []

    def record(_c: Any, _k: Any, statement: str, parameters: Any, _x: Any, _m: bool) -> None:
        seen.append((statement, parameters))

    engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
    out = []
    event.listen(Engine, "before_cursor_execute", record)
    try:
        for _label, _number, query in pages:
            aware = {k: datetime.fromisoformat(query[k]) for k in ("since", "until") if k in query}
            filters = SampleFilter(
                service_name=query.get("serviceName"), metric_type=query.get("metricType"), **aware
            )
            after = decode_cursor(query["cursor"]) if "cursor" in query else None
            seen.clear()
            async with AsyncSession(engine) as session:
                await list_samples(session, filters, limit=LIMIT + 1, after=after)
            [select] = [s for s in seen if s[0].lstrip().upper().startswith("SELECT")]
            out.append(select)
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        await engine.dispose()
    return out


def walk_pages(client: Client, combos: list[tuple[str, dict[str, str]]]) -> list[PageQuery]:
    """Pages 1-PAGES of every combination, each query with its cursor (untimed)."""
    pages: list[PageQuery] = []
    for label, given in combos:
        cursor = None
        for number in range(1, PAGES + 1):
            query = given | {"limit": str(LIMIT)} | ({"cursor": cursor} if cursor else {})
            payload = json.loads(client.get(query)[1])
            assert payload["count"] == LIMIT, (label, number, payload["count"])
            pages.append((label, number, query))
            cursor = payload["nextCursor"]
    return pages


def time_bare(path: Path, sql: list[tuple[str, Any]], requests: int) -> list[list[float]]:
    """ms of each page's SQL in stdlib sqlite3 on the same file (read-only), `requests` times."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    timings: list[list[float]] = [[] for _ in sql]
    for _ in range(requests):
        for i, (statement, parameters) in enumerate(sql):
            began = time.perf_counter()
            connection.execute(statement, parameters).fetchall()
            timings[i].append((time.perf_counter() - began) * 1000)
    connection.close()
    return timings


def plan_of(path: Path, statement: str, parameters: Any) -> str:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    connection.close()
    return " | ".join(str(r[3]) for r in rows)


def p(values: list[float], q: float) -> float:
    return report.percentile(values, q)


def print_results(
    pages: list[PageQuery],
    served: list[list[float]],
    bare: list[list[float]],
    *,
    requests: int,
    server_cpu: float,
) -> None:
    print(
        f"\nGET /metrics, limit {LIMIT}, pages 1-{PAGES} of each combination, {requests} timed "
        f"requests per page ({len(pages) * requests:,} in all, shuffled), one connection; ms; "
        "bare = the same SQL in stdlib sqlite3"
    )
    print(f"  {'combination':<50} {'p50':>6} {'p95':>6} {'max':>6}  {'bare p50':>8}  ratio")
    worst = 0.0
    for label in dict.fromkeys(page[0] for page in pages):
        ours = [i for i, page in enumerate(pages) if page[0] == label]
        times = [t for i in ours for t in served[i]]
        floor = [t for i in ours for t in bare[i]]
        worst = max(worst, p(times, 0.95))
        print(
            f"  {label:<50} {p(times, 0.5):6.1f} {p(times, 0.95):6.1f} {max(times):6.1f}  "
            f"{p(floor, 0.5):8.2f}  {p(times, 0.5) / p(floor, 0.5):5.1f}x"
        )
    by_page = [
        [t for i, page in enumerate(pages) if page[1] == n for t in served[i]]
        for n in range(1, PAGES + 1)
    ]
    print(
        "  by page, all combinations, p50/p95: "
        + ", ".join(f"{n}: {p(v, 0.5):.1f}/{p(v, 0.95):.1f}" for n, v in enumerate(by_page, 1))
    )
    everything = [t for times in served for t in times]
    print(
        f"  all: p50 {p(everything, 0.5):.1f} ms, p95 {p(everything, 0.95):.1f} ms; worst "
        f"combination p95 {worst:.1f} ms (target < {TARGET_P95_MS:g} ms: "
        f"{'met' if worst < TARGET_P95_MS else 'NOT MET'}); server CPU "
        f"{server_cpu / len(everything) * 1000:.2f} ms a request"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=20, help="timed requests per page")
    parser.add_argument("--data-dir", type=Path, help="where the store is (built if absent)")
    parser.add_argument("--src", type=Path, help="run this source tree's perfpilot instead")
    parser.add_argument("--build-only", action="store_true", help="build the store and stop")
    args = parser.parse_args()
    if args.src is not None:
        args.src = args.src.resolve()
        if os.environ.get("PYTHONPATH") != str(args.src):  # import that tree's perfpilot
            os.execve(sys.executable, [sys.executable, *sys.argv], environment(args.src))

    env = environment(args.src)
    head = schema_head(env)
    data_dir = args.data_dir or Path(tempfile.gettempdir()) / f"perfpilot-reads-{args.rows}-{head}"
    path = data_dir / "perfpilot.db"
    print(
        f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version}, {os.cpu_count()} "
        f"CPUs, load average {os.getloadavg()[0]:.2f}; perfpilot from "
        f"{args.src or 'this checkout'} (schema {head})"
    )
    fresh = not (data_dir / "build.json").exists()
    built = build(data_dir, env, args.rows)
    size_gb = sum(f.stat().st_size for f in data_dir.glob("perfpilot.db*")) / 1e9
    print(
        f"store: {path} ({size_gb:.2f} GB, {built['rows']:,} samples; "
        f"{'built now' if fresh else 'reused'}: rows {built['load_seconds']:,} s, then "
        f"{len(built['indexes'])} indexes, {built['build_seconds']:,} s in all)"
    )
    if args.build_only:
        return
    combos = combinations(
        datetime.fromisoformat(built["start"]), datetime.fromisoformat(built["end"])
    )

    with report.Server(data_dir, env) as server:
        client = Client(server.port, server.token("viewer"))
        pages = walk_pages(client, combos)
        sql = asyncio.run(recorded_sql(path, pages))
        # a new connection: the server closed the first one while it sat idle (keep-alive 5 s)
        client = Client(server.port, client.headers["Authorization"].removeprefix("Bearer "))
        client.get(pages[0][2])
        served: list[list[float]] = [[] for _ in pages]
        order = list(range(len(pages)))
        rng = random.Random(1)
        cpu_before = bench_server.cpu_seconds(server.pid)
        for _ in range(args.requests):
            rng.shuffle(order)
            for i in order:
                served[i].append(client.get(pages[i][2])[0] * 1000)
        server_cpu = bench_server.cpu_seconds(server.pid) - cpu_before
    bare = time_bare(path, sql, args.requests)

    print_results(pages, served, bare, requests=args.requests, server_cpu=server_cpu)
    print("\nplan of page 2 (a cursor page) of each combination, EXPLAIN QUERY PLAN:")
    for i, (label, number, _) in enumerate(pages):
        if number == 2:
            print(f"  {label:<50} {plan_of(path, *sql[i])}")
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}; store kept: {data_dir}")


if __name__ == "__main__":
    main()
