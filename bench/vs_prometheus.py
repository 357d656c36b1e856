"""Alert latency side by side: Perfpilot vs Prometheus + Alertmanager on the same machine.

    python bench/vs_prometheus.py            # about 11 minutes; loopback only; stops by itself
    python bench/vs_prometheus.py --quick    # skip Prometheus at its defaults (about 2 minutes)

Needs the Debian packages `prometheus` and `prometheus-alertmanager` (`apt-get install -y
prometheus prometheus-alertmanager`); every program runs on a free loopback port this script
picks, in a temporary directory, and is stopped by it.

What is timed, for every arm: a metric of one series goes bad at a random moment (its phase
against the scrape and evaluation ticks is random) -> the alert's notification arrives at a
webhook receiver in this process. Both ends are read on this process's clock.

- Prometheus arms: a small exporter in this process serves `bench_latency_ms{series="i"}` for
  `--trials` series; series i flips from 100 to 9000 at a random time. Prometheus scrapes it and
  evaluates `bench_latency_ms > 5000` (`for: 0s`); Alertmanager (route grouped by series, so
  each trial is its own group) posts to the receiver. Time = flip -> webhook arrival.
  * defaults: Prometheus' built-in scrape_interval and evaluation_interval (1 m each) and
    Alertmanager's route defaults (group_wait 30 s);
  * tightest: scrape and evaluation every 1 s, group_wait 0 s, group_interval 1 s, and
    `--rules.alert.resend-delay=1s`.
- Perfpilot arm: `perfpilot serve` (SQLite, production defaults) with a rule "latency > 5000 ms"
  and a webhook subscription; trial i POSTs one sample of 9000 ms for its own service at a
  random moment. Time = just before the POST is sent -> webhook arrival.
- Under load: the same trials while a load process POSTs 5,000 samples/s (50 batches of 100 a
  second) of healthy values to Perfpilot; for Prometheus, the exporter also serves 5,000 extra
  series, which Prometheus scrapes every second in the tightest arm (5,000 samples/s) and
  every minute at its defaults (the defaults' loaded arm: the same series, Prometheus' own
  interval).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import workload
from ingest import load
from server import Server, free_port

THRESHOLD_MS = 5000.0
LOAD_BATCH = 100
LOAD_RATE = 50.0  # batches/s: 5,000 samples/s


class Receiver:
    """Webhook receiver: arrival time of the first notification naming each trial key."""

    def __init__(self, key_of: Any) -> None:
        self.first: dict[str, float] = {}
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer._lock:
                    for alert in body.get("alerts", []):
                        if alert.get("status", "firing") != "firing":
                            continue
                        key = key_of(alert)
                        if key is not None:
                            outer.first.setdefault(key, arrived)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.first) < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def close(self) -> None:
        self.httpd.shutdown()


class Exporter:
    """Prometheus text exposition of `trials` flippable series plus `extra` steady ones."""

    def __init__(self, trials: int, extra: int) -> None:
        self.flip_at: dict[int, float] = {}
        steady = "".join(f'bench_load_ms{{series="{i}"}} 100\n' for i in range(extra))
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                now = time.time()
                lines = ["# TYPE bench_latency_ms gauge\n"]
                for i in range(trials):
                    flipped = outer.flip_at.get(i, float("inf")) <= now
                    lines.append(f'bench_latency_ms{{series="{i}"}} {9000 if flipped else 100}\n')
                body = ("".join(lines) + steady).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()


def _wait_http(url: str, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def prometheus_arm(work: Path, *, tight: bool, trials: int, extra: int) -> list[float]:
    """Flip -> Alertmanager webhook delay (s) for each trial series."""
    work.mkdir(parents=True)
    receiver = Receiver(lambda alert: alert.get("labels", {}).get("series"))
    exporter = Exporter(trials, extra)
    am_port, prom_port = free_port(), free_port()
    route = "  group_by: [series]\n"
    if tight:
        route += "  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\n"
    (work / "am.yml").write_text(
        f"route:\n  receiver: bench\n{route}"
        f"receivers:\n- name: bench\n  webhook_configs:\n  - url: {receiver.url}\n"
    )
    glob = "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n" if tight else ""
    (work / "rules.yml").write_text(
        "groups:\n- name: bench\n  rules:\n  - alert: HighLatency\n"
        f"    expr: bench_latency_ms > {THRESHOLD_MS:g}\n    for: 0s\n"
    )
    (work / "prom.yml").write_text(
        f"{glob}rule_files: [{work / 'rules.yml'}]\n"
        "alerting:\n  alertmanagers:\n  - static_configs:\n"
        f"    - targets: ['127.0.0.1:{am_port}']\n"
        f"scrape_configs:\n- job_name: exporter\n  static_configs:\n"
        f"  - targets: ['127.0.0.1:{exporter.port}']\n"
    )
    with (work / "am.log").open("wb") as am_log, (work / "prom.log").open("wb") as prom_log:
        alertmanager = subprocess.Popen(
            [
                "prometheus-alertmanager",
                f"--config.file={work / 'am.yml'}",
                f"--storage.path={work / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            stdout=am_log,
            stderr=subprocess.STDOUT,
        )
        prom_args = [
            "prometheus",
            f"--config.file={work / 'prom.yml'}",
            f"--storage.tsdb.path={work / 'prom-data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ]
        if tight:
            prom_args.append("--rules.alert.resend-delay=1s")
        prometheus = subprocess.Popen(prom_args, stdout=prom_log, stderr=subprocess.STDOUT)
        try:
            _wait_http(f"http://127.0.0.1:{am_port}/-/ready", 30, alertmanager)
            _wait_http(f"http://127.0.0.1:{prom_port}/-/ready", 30, prometheus)
            # Let Prometheus scrape the healthy series once, then flip each at a random moment
            # spread over one full cycle of its ticks.
            cycle = 2.0 if tight else 60.0
            time.sleep(cycle + 1)
            start = time.time() + 1
            rng = random.Random(20261130 + tight)
            exporter.flip_at = {i: start + rng.uniform(0, cycle * 2) for i in range(trials)}
            receiver.wait(trials, timeout=cycle * 2 + (20 if tight else 240))
        finally:
            _stop(prometheus)
            _stop(alertmanager)
            exporter.close()
            receiver.close()
    arrived = receiver.first
    return [arrived[str(i)] - exporter.flip_at[i] for i in range(trials) if str(i) in arrived]


def _load_bodies(directory: Path, count: int) -> Path:
    rng = random.Random(5)
    bodies = []
    for b in range(count):
        samples = [workload.sample(rng, None, b * LOAD_BATCH + i) for i in range(LOAD_BATCH)]
        bodies.append(json.dumps({"samples": samples}).encode())
    return workload.write_bodies(directory, bodies)


def perfpilot_arm(
    work: Path, *, trials: int, loaded: bool, src: Path | None = None
) -> tuple[list[float], str]:
    """Sample POSTed -> Perfpilot webhook delay (s) for each trial service; `src`: run that
    build's `src` directory instead of the installed one."""
    receiver = Receiver(lambda alert: alert.get("labels", {}).get("service"))
    env = Server.environment() | {
        "PERFPILOT_ACCESS_LOG": "false",
        "PERFPILOT_OUTBOUND_ALLOW": "127.0.0.0/8",  # the receiver is on loopback
    }
    if src is not None:
        env["PYTHONPATH"] = str(src.resolve())
    note = ""
    with Server(work, env) as server:
        admin, operator = server.token("admin"), server.token("operator")
        hook = {"url": receiver.url, "events": ["alert.fired"]}
        assert server.post_json("/webhooks", admin, hook) == 201
        rule = {
            "name": "bench: latency > 5 s",
            "condition": {"metric": "latency", "operator": "gt", "threshold": THRESHOLD_MS},
            "action": {"type": "cache_clear"},
        }
        assert server.post_json("/rules", admin, rule) == 201
        background: threading.Thread | None = None
        result: dict[str, Any] = {}
        rng = random.Random(7 + loaded)
        duration = trials * 0.6 + 3
        if loaded:
            bodies = _load_bodies(work / "load", 200)

            def run_load() -> None:
                opts = {"rate": LOAD_RATE, "duration": duration, "connections": 16}
                result.update(load(server, "open", "/metrics/batch", operator, bodies, **opts))

            background = threading.Thread(target=run_load)
            background.start()
            time.sleep(1.5)
        sent: dict[str, float] = {}
        for i in range(trials):
            time.sleep(rng.uniform(0.1, 0.5))
            service = f"trial-{i:03d}"
            sent[service] = time.time()
            sample = {"serviceName": service, "metricType": "latency", "value": 9000}
            assert server.post_json("/metrics", operator, sample) == 201
        receiver.wait(trials, timeout=30)
        if background is not None:
            background.join()
            ok = result.get("statuses", {}).get("201", 0)
            note = (
                f"background: {ok * LOAD_BATCH / result.get('elapsed_s', 1):,.0f} samples/s "
                f"committed ({ok} batches of {LOAD_BATCH})"
            )
    receiver.close()
    return [receiver.first[s] - t for s, t in sent.items() if s in receiver.first], note


def _figures(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="skip Prometheus at its defaults")
    parser.add_argument(
        "--baseline-src",
        type=Path,
        help="also run the Perfpilot arms with another build's `src` directory (e.g. "
        "`git archive <commit> src`), before this build's, for a same-run comparison",
    )
    args = parser.parse_args()
    missing = [p for p in ("prometheus", "prometheus-alertmanager") if not shutil.which(p)]
    if missing:
        sys.exit(f"needs the Debian packages: apt-get install -y {' '.join(missing)}")
    rows: dict[str, tuple[list[float], str]] = {}
    with tempfile.TemporaryDirectory(prefix="perfpilot-vs-prom-") as tmp:
        work = Path(tmp)
        load_avg = os.getloadavg()[0]
        if args.baseline_src is not None:
            base = args.baseline_src
            rows["Perfpilot baseline build"] = perfpilot_arm(
                work / "base", trials=args.trials, loaded=False, src=base
            )
            rows["Perfpilot baseline build, 5,000 samples/s load"] = perfpilot_arm(
                work / "base-load", trials=args.trials, loaded=True, src=base
            )
        rows["Perfpilot"] = perfpilot_arm(work / "pp", trials=args.trials, loaded=False)
        rows["Perfpilot, 5,000 samples/s load"] = perfpilot_arm(
            work / "pp-load", trials=args.trials, loaded=True
        )
        tight = prometheus_arm(work / "prom-tight", tight=True, trials=args.trials, extra=0)
        rows["Prometheus + Alertmanager, tightest"] = (tight, "scrape/eval 1 s, group_wait 0")
        loaded = prometheus_arm(
            work / "prom-tight-load", tight=True, trials=args.trials, extra=5000
        )
        rows["Prometheus + Alertmanager, tightest, 5,000 series/s"] = (loaded, "")
        if not args.quick:
            defaults = prometheus_arm(
                work / "prom-default", tight=False, trials=args.trials, extra=0
            )
            rows["Prometheus + Alertmanager, defaults"] = (defaults, "scrape/eval 1 m, wait 30 s")
            defaults_loaded = prometheus_arm(
                work / "prom-default-load", tight=False, trials=args.trials, extra=5000
            )
            rows["Prometheus + Alertmanager, defaults, 5,000 series/s"] = (defaults_loaded, "")
    print(
        f"alert latency, {args.trials} trials per arm (load average at start {load_avg:.2f}, "
        f"at the end {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores)"
    )
    print(f"{'arm':<52} {'n':>3} {'p50':>9} {'p95':>9} {'max':>9}")
    figures = {name: _figures(d) for name, (d, _) in rows.items() if d}
    for name, (delays, note) in rows.items():
        if not delays:
            print(f"{name:<52}   0  (no notification arrived) {note}")
            continue
        f = figures[name]
        print(
            f"{name:<52} {len(delays):>3} {f['p50'] * 1000:>7.0f}ms {f['p95'] * 1000:>7.0f}ms "
            f"{f['max'] * 1000:>7.0f}ms  {note}"
        )
    ours = figures.get("Perfpilot")
    arms = ["Perfpilot", "Perfpilot, 5,000 samples/s load"]
    if args.baseline_src is not None:
        arms += ["Perfpilot baseline build", "Perfpilot baseline build, 5,000 samples/s load"]
    prometheus_arms = [name for name in figures if name.startswith("Prometheus")]
    for base in prometheus_arms:
        for arm in arms:
            if ("5,000" in base) != ("5,000" in arm):
                continue  # idle against idle, loaded against loaded
            if base in figures and arm in figures and ours:
                b, a = figures[base], figures[arm]
                print(
                    f"{base} / {arm}: p50 x{b['p50'] / a['p50']:.0f}, "
                    f"p95 x{b['p95'] / a['p95']:.0f} (target >= x20)"
                )


if __name__ == "__main__":
    main()
