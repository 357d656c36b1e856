"""Rule engine benchmark (issue: rule engine): ingestion with 0, 100 and 1,000 active rules,
and sample → alert committed / sample → webhook delivered latency.

    python bench/alerts.py

One invocation, SQLite, loopback only, bounded (about two minutes):
1. For 0, 100 and 1,000 never-firing rules (a fresh server each), POST the same 10,000-sample
   batches and measure (a) the HTTP ingest rate and (b) the evaluated rate: samples divided by
   the time until the engine has evaluated every one (perfpilot_engine_samples_evaluated in
   /metrics), so an engine that falls behind cannot hide.
2. One wildcard rule (latency > 1000 ms, duration 0) and a webhook to a receiver in this
   process; N single samples, each for a new service so each fires a new alert. Sample →
   webhook delivered is measured here exactly (arrival time - the sample's timestamp, same
   clock). Sample → alert committed comes from the server's own histogram
   (perfpilot_alert_commit_latency_seconds), so its percentiles have bucket resolution.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import workload
from ingest import JWT_SECRET, Server, create_rules, load

TARGET_ALERT_P99_MS = 50.0
TARGET_WEBHOOK_P99_MS = 250.0


def scrape(server: Server, token: str) -> dict[str, float]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = values.get(name, 0.0) + float(value)
    return values


def evaluated(server: Server, token: str) -> float:
    return scrape(server, token).get("perfpilot_engine_samples_evaluated_total", 0.0)


def ingest_with_rules(work: Path, env: dict[str, str], rules: int, batches: int) -> str:
    data = work / f"rules-{rules}"
    data.mkdir()
    batch_dir = work / "batch"
    with Server(data, env) as server:
        operator, viewer = server.token("operator"), server.token("viewer")
        note = create_rules(server, rules) if rules else "no rules"
        started = time.monotonic()
        result = load(
            server,
            "requests",
            "/metrics/batch",
            operator,
            batch_dir,
            connections=4,
            requests=batches,
        )
        committed = result["statuses"].get("201", 0) * workload.BATCH_SIZE
        http_rate = committed / result["elapsed_s"]
        deadline = time.monotonic() + 120
        while evaluated(server, viewer) < committed and time.monotonic() < deadline:
            time.sleep(0.05)
        done = evaluated(server, viewer)
        elapsed = time.monotonic() - started
    return (
        f"{rules:>5} rules: HTTP {http_rate:>9,.0f} samples/s; evaluated {done:,.0f} of "
        f"{committed:,} in {elapsed:.2f} s = {done / elapsed:>9,.0f} samples/s ({note})"
    )


class Receiver:
    """A webhook receiver recording (arrival time, body) in this process."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.arrivals.append((time.time(), json.loads(body)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def histogram_percentile(metrics: dict[str, float], name: str, q: float) -> float:
    """Upper bound of the bucket holding the q-quantile (Prometheus buckets are cumulative)."""
    buckets = sorted(
        (float(key.split('le="')[1].split('"')[0]), count)
        for key, count in metrics.items()
        if key.startswith(f"{name}_bucket") and 'le="+Inf"' not in key
    )
    total = metrics.get(f"{name}_count", 0.0)
    for bound, count in buckets:
        if count >= q * total:
            return bound
    return float("inf")


def latency(work: Path, env: dict[str, str], count: int) -> list[str]:
    data = work / "latency"
    data.mkdir()
    receiver = Receiver()
    with Server(data, env) as server:
        admin, viewer = server.token("admin"), server.token("viewer")
        server.post_json("/webhooks", admin, {"url": receiver.url, "events": ["alert.fired"]})
        server.post_json(
            "/rules",
            admin,
            {
                "name": "slow",
                "condition": {"metric": "latency", "operator": "gt", "threshold": 1000},
                "action": {"type": "cache_clear"},
            },
        )
        time.sleep(0.5)
        sent: dict[str, float] = {}
        for i in range(count):
            service = f"lat-{i:04d}"
            now = time.time()
            sent[service] = now
            stamp = datetime.fromtimestamp(now, UTC).isoformat()
            status = server.post_json(
                "/metrics",
                admin,
                {
                    "serviceName": service,
                    "metricType": "latency",
                    "value": 5000,
                    "timestamp": stamp,
                },
            )
            assert status == 201, status
            time.sleep(0.02)
        deadline = time.monotonic() + 30
        while len(receiver.arrivals) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        metrics = scrape(server, viewer)
    receiver.httpd.shutdown()
    delays = [
        (arrival - sent[body["alerts"][0]["labels"]["service"]]) * 1000
        for arrival, body in receiver.arrivals
    ]
    name = "perfpilot_alert_commit_latency_seconds"
    alert_p50 = histogram_percentile(metrics, name, 0.5) * 1000
    alert_p99 = histogram_percentile(metrics, name, 0.99) * 1000
    hook_p99 = percentile(delays, 0.99)
    return [
        f"sample -> alert committed ({metrics.get(f'{name}_count', 0):.0f} alerts, server "
        f"histogram): p50 <= {alert_p50:g} ms, p99 <= {alert_p99:g} ms "
        f"(target p99 < {TARGET_ALERT_P99_MS:g} ms: "
        f"{'met' if alert_p99 <= TARGET_ALERT_P99_MS else 'NOT met'})",
        f"sample -> webhook delivered ({len(delays)} of {count} received): "
        f"p50 {percentile(delays, 0.5):.1f} ms, p99 {hook_p99:.1f} ms, "
        f"max {max(delays):.1f} ms (target p99 < {TARGET_WEBHOOK_P99_MS:g} ms: "
        f"{'met' if hook_p99 < TARGET_WEBHOOK_P99_MS else 'NOT met'})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--alerts", type=int, default=300)
    args = parser.parse_args()
    env = dict(os.environ) | {
        "PERFPILOT_JWT_SECRET": JWT_SECRET,
        "PERFPILOT_RATE_LIMIT_INGEST": "100000000/minute",
        "PERFPILOT_RATE_LIMIT_WRITE": "100000000/minute",
        "PERFPILOT_RATE_LIMIT_READ": "100000000/minute",
        "PERFPILOT_WEBHOOK_POLL_INTERVAL_SECONDS": "0.5",
        "PERFPILOT_OUTBOUND_ALLOW": "127.0.0.0/8",  # the receiver is on loopback
    }
    env.pop("PERFPILOT_DATABASE_URL", None)
    with tempfile.TemporaryDirectory(prefix="perfpilot-bench-alerts-") as tmp:
        work = Path(tmp)
        workload.write_bodies(work / "batch", workload.batch_bodies(args.batches))
        print(f"ingestion of {args.batches} x 10,000 samples, 4 connections, by rule count:")
        lines = [ingest_with_rules(work, env, n, args.batches) for n in (0, 100, 1000)]
        for line in lines:
            print("  " + line)
        print("\nlatency:")
        for line in latency(work, env, args.alerts):
            print("  " + line)


if __name__ == "__main__":
    main()
