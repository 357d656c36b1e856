"""The request path (issue 10 item 3): this tree against a baseline commit, in the same run.

    python bench/request_path.py                    # baseline: commit b449ba3
    python bench/request_path.py --baseline HEAD~3 --rounds 3 --duration 10

The baseline's `src/` is exported with `git archive` into a temporary directory (or taken
from `--baseline-src`); each server runs `python -m perfpilot.cli serve` from this venv with
PYTHONPATH set to its own `src/` (the path `perfpilot.__file__` resolves to is printed for
both). The two servers run alternately, `--rounds` times each, every time on a fresh SQLite
data directory, a free loopback port and the same settings as bench/ingest.py (production
defaults: uvloop, httptools, JSON access log, rate limiting on with limits the load cannot
reach, `--rules` never-firing rules). Against each server, a load process (bench/loadgen.py)
drives, closed loop:

- POST /metrics, one sample a request (no timestamp), `--connections` connections;
- GET /metrics?limit=100 (the newest 100 samples), `--list-connections` connections.

Per phase it prints requests/s, p50/p99 latency, and the server's CPU per request (utime +
stime of the server process from /proc, before and after), then the candidate/baseline
ratios over the medians of the rounds. The machine's load average is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import workload
from ingest import load
from server import Server

BENCH_DIR = Path(__file__).resolve().parent
TREE = BENCH_DIR.parent
DEFAULT_BASELINE = "b449ba3"  # issue 10's "current code"


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()


def export_baseline(commit: str, into: Path) -> Path:
    """The baseline commit's src/ as files (git archive), without touching any work tree."""
    into.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(TREE), "archive", "--format=tar", commit, "src"],
        check=True,
        capture_output=True,
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def imported_from(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", "import perfpilot; print(perfpilot.__file__)"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def measure(
    args: argparse.Namespace, name: str, src: Path, work: Path, bodies: Path
) -> dict[str, dict[str, Any]]:
    env = Server.environment() | {
        "PYTHONPATH": str(src),
        "PERFPILOT_RATE_LIMIT_READ": "100000000/minute",  # on, out of the load's reach
    }
    with Server(work, env) as server:
        token = server.token("operator")
        viewer = server.token("viewer")
        server.create_rules(args.rules)
        load(server, "closed", "/metrics", token, bodies, connections=8, duration=1)  # warm-up
        post = load(
            server,
            "closed",
            "/metrics",
            token,
            bodies,
            connections=args.connections,
            duration=args.duration,
        )
        listing = load(
            server,
            "closed",
            "/metrics?limit=100",
            viewer,
            bodies,
            method="GET",
            connections=args.list_connections,
            duration=args.list_duration,
        )
        stored = server.stored_samples()
    posted = post["statuses"].get("201", 0)
    print(f"  {name}: POST statuses {post['statuses']}, errors {post['errors']}; "
          f"GET statuses {listing['statuses']}, errors {listing['errors']}; "
          f"{stored:,} samples stored")  # fmt: skip
    if not set(post["statuses"]) <= {"201"} or not set(listing["statuses"]) <= {"200"}:
        raise SystemExit(f"{name}: unexpected statuses, see {server.log_path}")
    if stored < posted:
        raise SystemExit(f"{name}: {posted} POSTs answered 201 but {stored} samples stored")
    return {"post": post, "list": listing}


def figures(result: dict[str, Any]) -> dict[str, float]:
    completed = max(1, result["completed"])
    return {
        "rps": result["completed"] / result["elapsed_s"],
        "p50": result["p50_ms"],
        "p99": result["p99_ms"],
        "cpu_us": result["server_cpu_s"] / completed * 1e6,
        "server_core": result["server_cpu_s"] / result["elapsed_s"],
        "loadgen_core": result["cpu_s"] / result["elapsed_s"],
        "other_core": result["other_cpu_s"] / result["elapsed_s"],
    }


def row(label: str, f: dict[str, float]) -> str:
    return (
        f"    {label:<10} {f['rps']:>8,.0f} req/s  p50 {f['p50']:>6.1f} ms  p99 {f['p99']:>6.1f} ms"
        f"  server CPU {f['cpu_us']:>7,.0f} us/req  (cores: server {f['server_core']:.2f}, "
        f"load {f['loadgen_core']:.2f}, other {f['other_core']:.2f})"
    )


def report(runs: dict[str, list[dict[str, dict[str, Any]]]], phase: str, title: str) -> None:
    print(f"\n{title}")
    medians: dict[str, dict[str, float]] = {}
    for name, results in runs.items():
        per_round = [figures(r[phase]) for r in results]
        for i, f in enumerate(per_round, 1):
            print(row(f"{name} {i}", f))
        medians[name] = {k: statistics.median(f[k] for f in per_round) for k in per_round[0]}
    for name, f in medians.items():
        print(row(f"{name} med", f))
    base, cand = medians["baseline"], medians["candidate"]
    print(
        f"    candidate / baseline: requests/s x{cand['rps'] / base['rps']:.2f}, "
        f"p50 x{cand['p50'] / base['p50']:.2f}, p99 x{cand['p99'] / base['p99']:.2f}, "
        f"server CPU per request x{cand['cpu_us'] / base['cpu_us']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="commit to compare with")
    parser.add_argument("--baseline-src", type=Path, help="a baseline src/ directory instead")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each server, alternating")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of POST load")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--list-duration", type=float, default=5.0)
    parser.add_argument("--list-connections", type=int, default=4)
    parser.add_argument("--rules", type=int, default=100, help="never-firing rules (as ingest)")
    args = parser.parse_args()

    print(f"before: {uptime()}; {len(os.sched_getaffinity(0))} cores")
    with tempfile.TemporaryDirectory(prefix="perfpilot-request-path-") as tmp:
        work = Path(tmp)
        if args.baseline_src is not None:
            base_src = args.baseline_src.resolve()
        else:
            base_src = export_baseline(args.baseline, work / "baseline-tree")
        trees = {"baseline": base_src, "candidate": TREE / "src"}
        for name, src in trees.items():
            where = imported_from(Server.environment() | {"PYTHONPATH": str(src)})
            print(f"{name}: perfpilot imported from {where}")
            if not where.startswith(str(src)):
                raise SystemExit(f"{name} does not import its own tree")
        bodies = workload.write_bodies(work / "single", workload.single_bodies(500))
        print(
            f"load: {args.rules} rules; POST closed loop {args.connections} connections "
            f"{args.duration:g} s; GET /metrics?limit=100 {args.list_connections} connections "
            f"{args.list_duration:g} s; {args.rounds} rounds, alternating"
        )
        runs: dict[str, list[dict[str, dict[str, Any]]]] = {name: [] for name in trees}
        for i in range(args.rounds):
            for name, src in trees.items():
                runs[name].append(measure(args, name, src, work / f"{name}-{i}", bodies))
    report(runs, "post", "POST /metrics, one sample a request (201 = committed)")
    report(runs, "list", "GET /metrics?limit=100")
    print(f"\nafter: {uptime()}")


if __name__ == "__main__":
    main()
