"""Ingestion benchmark (DESIGN §8): batch samples/s vs a bare executemany, single-sample POST.

    python bench/ingest.py            # or: make bench

One run, SQLite, loopback only, about a minute, stops by itself. It
1. measures the baseline: stdlib sqlite3 executemany of the same rows into the same schema
   (built by `perfpilot migrate`), same pragmas, one commit per 10,000 rows;
2. starts the real server (`python -m perfpilot.cli serve`, production defaults: uvloop,
   httptools, JSON access log, rate limiting on with a generous ingest limit) in its own process
   on a temporary data directory, with 100 rules when the rules API exists;
3. POSTs 10,000-sample batches to /metrics/batch from a load process with several connections,
   checks that the database holds exactly the samples that got a 201, and waits for the engine
   to finish evaluating them;
4. POSTs single samples to /metrics: closed loop (how many requests/s one process serves) and
   open loop at a fixed rate (latency counted from the scheduled send time);
and prints each figure, the ratio to the baseline and the DESIGN §8 targets.

The load process shares the machine's cores with the server, and so does anything else running:
each phase prints the CPU used by the server, the load generator and all other processes.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import baseline
import workload
from server import JWT_SECRET, Server, cpu_seconds, machine_busy_seconds

from perfpilot.core import db as perfpilot_db

__all__ = ["JWT_SECRET", "Server", "create_rules", "load"]  # bench/alerts.py uses these

BENCH_DIR = Path(__file__).resolve().parent
TARGET_BATCH_RATE = 100_000.0
TARGET_RATIO = 0.5  # DESIGN §8
TARGET_RATIO_NOW = 0.8  # issue 10: the performance wave's bar
TARGET_SINGLE_RPS = 2_000.0
TARGET_SINGLE_P99_MS = 25.0


def load(server: Server, mode: str, path: str, token: str, bodies: Path, **opts: Any) -> Any:
    """Run bench/loadgen.py in its own process; its JSON summary plus the CPU every process
    used meanwhile."""
    command = [
        sys.executable,
        str(BENCH_DIR / "loadgen.py"),
        mode,
        "--port", str(server.port),
        "--path", server.api + path,
        "--token", token,
        "--bodies", str(bodies),
    ]  # fmt: skip
    for key, value in opts.items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    cpu_before = cpu_seconds(server.pid)
    busy_before = machine_busy_seconds()
    out = subprocess_json(command)
    busy = machine_busy_seconds() - busy_before
    out["server_cpu_s"] = cpu_seconds(server.pid) - cpu_before
    out["other_cpu_s"] = max(0.0, busy - out["server_cpu_s"] - out["cpu_s"])
    return out


def subprocess_json(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, check=True, capture_output=True, text=True, timeout=120)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def create_rules(server: Server, count: int) -> str:
    return server.create_rules(count)


def wait_evaluated(server: Server, token: str, samples: int, *, timeout: float = 60.0) -> float:
    """Seconds until the engine has evaluated `samples` samples (it works after the 201s, on
    the same core), by the server's perfpilot_engine_samples_evaluated counter; or, in a build
    without it, until the server's CPU use stays under 10 % for 0.3 s."""
    started = time.perf_counter()
    counter = "perfpilot_engine_samples_evaluated_total"
    if server.metric(token, counter) is not None:
        while time.perf_counter() - started < timeout:
            if (server.metric(token, counter) or 0.0) >= samples:
                break
            time.sleep(0.02)
        return time.perf_counter() - started
    quiet, last = 0, cpu_seconds(server.pid)
    while time.perf_counter() - started < timeout and quiet < 3:
        time.sleep(0.1)
        now = cpu_seconds(server.pid)
        quiet, last = (quiet + 1 if now - last < 0.01 else 0), now
    return max(0.0, time.perf_counter() - started - 0.3)


def cpu_note(result: dict[str, Any]) -> str:
    elapsed = result["elapsed_s"]
    return (
        f"CPU: server {result['server_cpu_s'] / elapsed:.0%} of a core, "
        f"load generator {result['cpu_s'] / elapsed:.0%}, "
        f"other processes {result['other_cpu_s'] / elapsed:.0%}"
    )


def verdict(ok: bool) -> str:
    return "meets target" if ok else "BELOW TARGET"


def batch_phase(
    args: argparse.Namespace,
    server: Server,
    tokens: dict[str, str],
    bodies: Path,
    base: float,
    tuned: float | None = None,
) -> dict[str, float]:
    out = load(
        server,
        "requests",
        "/metrics/batch",
        tokens["operator"],
        bodies,
        connections=args.batch_connections,
        requests=args.batches,
    )
    committed = out["statuses"].get("201", 0) * workload.BATCH_SIZE
    drain = wait_evaluated(server, tokens["viewer"], committed)
    stored = server.stored_samples()
    rate = committed / out["elapsed_s"]
    evaluated = committed / (out["elapsed_s"] + drain)
    print(f"\n[a] POST /metrics/batch, 10,000 samples a request, {args.batch_connections} conns:")
    print(
        f"    {rate:,.0f} samples/s committed ({committed:,} in {out['elapsed_s']:.2f} s; "
        f"statuses {out['statuses']}; request p50 {out['p50_ms']:.0f} ms, "
        f"p99 {out['p99_ms']:.0f} ms)"
    )
    print(
        f"    {evaluated:,.0f} samples/s committed and evaluated (all evaluated "
        f"{drain * 1000:.0f} ms after the last 201)"
    )
    print(
        f"    database holds {stored:,} samples: "
        f"{'equal to' if stored == committed else 'DIFFERENT FROM'} the samples acknowledged"
    )
    print(
        f"    {cpu_note(out)}; server CPU per sample {out['server_cpu_s'] / committed * 1e6:.1f} us"
    )
    ratio = rate / base
    print(f"    target >= {TARGET_BATCH_RATE:,.0f}/s: {verdict(rate >= TARGET_BATCH_RATE)}")
    print(
        f"    ratio to the baseline {ratio:.2f} (committed and evaluated "
        f"{evaluated / base:.2f}); target >= {TARGET_RATIO}: {verdict(ratio >= TARGET_RATIO)}; "
        f">= {TARGET_RATIO_NOW} (issue 10): {verdict(ratio >= TARGET_RATIO_NOW)}"
    )
    if tuned is not None:
        print(f"    ratio to the baseline with the writer's page cache {rate / tuned:.2f}")
    return {"rate": rate, "evaluated": evaluated, "ratio": ratio, "stored": stored}


def single_phase(args: argparse.Namespace, server: Server, token: str, bodies: Path) -> int:
    closed = load(
        server,
        "closed",
        "/metrics",
        token,
        bodies,
        connections=args.single_connections,
        duration=args.duration,
    )
    rps = closed["completed"] / closed["elapsed_s"]
    print(
        f"\n[c] POST /metrics, one sample a request, closed loop, "
        f"{args.single_connections} connections, {args.duration:g} s:"
    )
    print(
        f"    {rps:,.0f} requests/s; latency p50 {closed['p50_ms']:.1f} ms, "
        f"p99 {closed['p99_ms']:.1f} ms, max {closed['max_ms']:.1f} ms; "
        f"statuses {closed['statuses']}, errors {closed['errors']}"
    )
    print(
        f"    {cpu_note(closed)}; server CPU per request "
        f"{closed['server_cpu_s'] / max(1, closed['completed']) * 1e6:.0f} us"
    )
    opened = load(
        server,
        "open",
        "/metrics",
        token,
        bodies,
        rate=args.rate,
        duration=args.duration,
        connections=64,
    )
    print(
        f"    open loop at {args.rate:,.0f} requests/s for {args.duration:g} s "
        f"(latency from the scheduled send time):"
    )
    print(
        f"    {opened['completed'] / opened['elapsed_s']:,.0f} requests/s completed; latency "
        f"p50 {opened['p50_ms']:.1f} ms, p99 {opened['p99_ms']:.1f} ms, "
        f"max {opened['max_ms']:.1f} ms; statuses {opened['statuses']}, errors "
        f"{opened['errors']}, not sent (all {opened['connections']} connections busy) "
        f"{opened['dropped']}"
    )
    print(f"    {cpu_note(opened)}")
    met = (
        rps >= TARGET_SINGLE_RPS
        and opened["p99_ms"] < TARGET_SINGLE_P99_MS
        and opened["dropped"] == 0
    )
    print(
        f"    target >= {TARGET_SINGLE_RPS:,.0f} requests/s with p99 < "
        f"{TARGET_SINGLE_P99_MS:g} ms: {verdict(met)}"
    )
    return int(closed["statuses"].get("201", 0) + opened["statuses"].get("201", 0))


def run(args: argparse.Namespace) -> None:
    load1, load5, _ = os.getloadavg()
    print(
        f"machine: {len(os.sched_getaffinity(0))} cores available (nproc), "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"{platform.machine()}; load average {load1:.2f} (1 min), {load5:.2f} (5 min)"
    )
    if load1 > 0.5:
        print("    the machine is busy: other processes take CPU from this benchmark")
    total = args.batches * workload.BATCH_SIZE
    with tempfile.TemporaryDirectory(prefix="perfpilot-bench-") as tmp:
        work = Path(tmp)
        batch_dir = workload.write_bodies(work / "batch", workload.batch_bodies(args.batches))
        single_dir = workload.write_bodies(work / "single", workload.single_bodies(500))
        batch_bodies = [p.read_bytes() for p in sorted(batch_dir.glob("*.json"))]

        base_rate, base_cpu = baseline.insert_rate(
            work / "baseline", Server.environment(), batch_bodies, total
        )
        print(
            f"\n[b] baseline, sqlite3 executemany + commit per 10,000 rows: "
            f"{base_rate:,.0f} samples/s ({total:,} rows; CPU per row "
            f"{base_cpu / total * 1e6:.1f} us)"
        )
        # the same with the page cache the server gives its write connection, for a ratio
        # that credits the server nothing for that setting
        cache_kib = getattr(perfpilot_db, "WRITER_CACHE_KIB", None)
        tuned_rate = None
        if cache_kib is not None:
            tuned_rate, tuned_cpu = baseline.insert_rate(
                work / "baseline-cache", Server.environment(), batch_bodies, total,
                cache_kib=cache_kib,
            )  # fmt: skip
            print(
                f"    the same with the server writer's page cache ({cache_kib // 1024} MiB): "
                f"{tuned_rate:,.0f} samples/s (CPU per row {tuned_cpu / total * 1e6:.1f} us)"
            )
        with Server(work / "server") as server:
            tokens = {role: server.token(role) for role in ("operator", "viewer")}
            print(f"    rules: {server.create_rules(100)}")
            batch = batch_phase(args, server, tokens, batch_dir, base_rate, tuned_rate)
            singles = single_phase(args, server, tokens["operator"], single_dir)
            final = server.stored_samples()
            print(
                f"    database holds {final - int(batch['stored']):,} more samples for "
                f"{singles:,} single 201s: "
                f"{'equal' if final - batch['stored'] == singles else 'DIFFERENT'}"
            )
            log_lines = server.log_lines()
        print(f"\nserver access log: {log_lines:,} lines written (one per request)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=40, help="10,000-sample batches to send")
    parser.add_argument("--batch-connections", type=int, default=4)
    parser.add_argument("--single-connections", type=int, default=32)
    parser.add_argument(
        "--rate", type=float, default=TARGET_SINGLE_RPS, help="open-loop requests/s"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="seconds of each single-sample run"
    )
    run(parser.parse_args())


if __name__ == "__main__":
    main()
