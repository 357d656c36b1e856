"""Scraping cost (DESIGN §8, wave 2): 100 targets x 500 series every 30 s, CPU share of a core.

    python bench/scrape.py [--targets 100] [--seconds 120]

Starts the real server (`perfpilot serve`, SQLite, production defaults, loopback allowed as a
scrape destination) in its own process and, in this process, a stub exposition server: each
target is a path serving vLLM's metric names and types for 20 models (gauges, counters,
two histograms) — 500 series per scrape, counters growing between scrapes. It measures the
server's CPU over the same duration twice: idle (no targets), then with the targets created
(interval 30 s, after one full round of scrapes has primed the counters), and prints the CPU
share of one core each way, the difference (the cost of scraping), and what was stored.

    python bench/scrape.py --parse

This process's CPU per 500-series body (40 bodies, twice): the text-format parser
(text_format.metric_families), prometheus_client's parser on the same bodies, and the whole
conversion of a body to source points (parse_exposition).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from server import Server, cpu_seconds, free_port, machine_busy_seconds

MODELS = 20
HISTOGRAMS = "ai_performance_histograms"
BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def exposition(scrape: int) -> bytes:
    """vLLM's exposition for 20 models; counters grow with `scrape`. 25 series per model."""
    n = scrape + 1
    lines: list[str] = []
    add = lines.append
    add("# TYPE vllm:num_requests_waiting gauge")
    for m in range(MODELS):
        add(f'vllm:num_requests_waiting{{model_name="model-{m}",engine="0"}} {(n * m) % 7}')
    add("# TYPE vllm:num_requests_running gauge")
    for m in range(MODELS):
        add(f'vllm:num_requests_running{{model_name="model-{m}",engine="0"}} {m % 5}')
    add("# TYPE vllm:kv_cache_usage_perc gauge")
    for m in range(MODELS):
        add(f'vllm:kv_cache_usage_perc{{model_name="model-{m}",engine="0"}} 0.{m:02d}')
    add("# TYPE vllm:request_success_total counter")
    for m in range(MODELS):
        add(
            f'vllm:request_success_total{{model_name="model-{m}",engine="0",'
            f'finished_reason="stop"}} {n * 30 * (m + 1)}'
        )
    add("# TYPE vllm:generation_tokens_total counter")
    for m in range(MODELS):
        add(f'vllm:generation_tokens_total{{model_name="model-{m}",engine="0"}} {n * 9000}')
    for name in ("vllm:e2e_request_latency_seconds", "vllm:time_to_first_token_seconds"):
        add(f"# TYPE {name} histogram")
        for m in range(MODELS):
            labels = f'model_name="model-{m}",engine="0"'
            cumulative = 0
            for i, bound in enumerate(BUCKETS):
                cumulative += n * (i + 1)
                add(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
            add(f'{name}_bucket{{{labels},le="+Inf"}} {cumulative + n}')
            add(f"{name}_count{{{labels}}} {cumulative + n}")
            add(f"{name}_sum{{{labels}}} {n * 123.4:.1f}")
    return ("\n".join(lines) + "\n").encode()


class Stub(BaseHTTPRequestHandler):
    scrapes: dict[str, int] = {}

    def do_GET(self) -> None:
        n = self.scrapes.get(self.path, 0)
        self.scrapes[self.path] = n + 1
        body = exposition(n)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: object) -> None:
        pass


def series_per_scrape() -> int:
    return sum(1 for line in exposition(0).decode().splitlines() if not line.startswith("#"))


def measure(server: Server, seconds: float) -> tuple[float, float]:
    """Server CPU share of one core, and of everything else, over `seconds`."""
    cpu0, busy0, t0 = cpu_seconds(server.pid), machine_busy_seconds(), time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - t0
    server_cpu = cpu_seconds(server.pid) - cpu0
    return server_cpu / wall, (machine_busy_seconds() - busy0 - server_cpu) / wall


def request(server: Server, method: str, path: str, token: str, body: object = None) -> object:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{server.api}{path}",
        data=data,
        method=method,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as response:
        return json.load(response)


def main(targets: int, seconds: float) -> None:
    stub_port = free_port()
    stub = ThreadingHTTPServer(("127.0.0.1", stub_port), Stub)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    print(f"{targets} targets x {series_per_scrape()} series, interval 30 s")
    env = Server.environment() | {"PERFPILOT_OUTBOUND_ALLOW": "127.0.0.0/8"}
    with tempfile.TemporaryDirectory() as tmp, Server(Path(tmp) / "data", env) as server:
        admin = server.token("admin")
        time.sleep(2)  # start-up settles
        idle, idle_other = measure(server, seconds)
        print(f"idle:     server {idle:.3f} cores   (other processes {idle_other:.2f})")
        for i in range(targets):
            request(
                server,
                "POST",
                "/targets",
                admin,
                {
                    "url": f"http://127.0.0.1:{stub_port}/t{i}/metrics",
                    "serviceName": f"vllm-{i:03d}",
                    "preset": "vllm",
                    "interval": 30,
                },
            )
        time.sleep(32)  # every target scraped once (jittered over the interval): primed
        stored_before = server.stored_samples()
        histograms_before = server.stored_samples(HISTOGRAMS)
        load = os.getloadavg()
        busy, busy_other = measure(server, seconds)
        stored = server.stored_samples() - stored_before
        histograms = server.stored_samples(HISTOGRAMS) - histograms_before
        listed = request(server, "GET", "/targets", admin)
        assert isinstance(listed, dict)
        health = [t["health"] for t in listed["data"]]
        up = sum(1 for h in health if h["up"])
        durations = sorted(h["lastDurationMs"] or 0.0 for h in health)
        print(f"scraping: server {busy:.3f} cores   (other processes {busy_other:.2f})")
        print(f"cost of scraping: {busy - idle:.3f} cores = {100 * (busy - idle):.1f} % of one")
        print(
            f"targets up {up}/{targets}; scrape duration p50 {durations[len(durations) // 2]:.0f}"
            f" ms, max {durations[-1]:.0f} ms; stored {stored:,} value samples in "
            f"{seconds:.0f} s ({stored / seconds:,.0f}/s), {histograms:,} histogram samples"
        )
        after = os.getloadavg()
        print(f"load average (1 min) before / after measuring: {load[0]:.2f} / {after[0]:.2f}")
    stub.shutdown()


def parse_cost() -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from perfpilot.collection.exposition import parse_exposition
    from perfpilot.collection.text_format import metric_families

    bodies = [exposition(n).decode() for n in range(40)]
    ways: dict[str, Callable[[str], object]] = {
        "text_format": metric_families,
        "prometheus_client": lambda b: list(text_string_to_metric_families(b)),
        "parse_exposition": lambda b: parse_exposition(b, service="s", time=1.0, max_series=1000),
    }
    for _ in range(2):
        shown = []
        for name, parse in ways.items():
            started = time.process_time()
            for body in bodies:
                parse(body)
            shown.append(f"{name} {1000 * (time.process_time() - started) / len(bodies):.2f} ms")
        print("CPU per body: " + ", ".join(shown))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120.0, help="per measurement")
    parser.add_argument("--parse", action="store_true", help="only the parse cost, in process")
    args = parser.parse_args()
    if args.parse:
        parse_cost()
    else:
        main(args.targets, args.seconds)
