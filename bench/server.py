"""The server under test, `perfpilot serve` in its own process, and /proc CPU accounting."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from perfpilot.metrics.units import SEED_METRIC_TYPES as METRIC_TYPES

API = "/v1/ai-performance-optimization"
JWT_SECRET = "bench-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time every process on the machine has used (all cores), from /proc/stat."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Server:
    """`python -m perfpilot.cli serve` on a temporary data directory (SQLite), production
    defaults except a known JWT secret and ingest/write rate limits the load cannot reach."""

    api = API

    @staticmethod
    def environment() -> dict[str, str]:
        env = dict(os.environ) | {
            "PERFPILOT_JWT_SECRET": JWT_SECRET,
            "PERFPILOT_RATE_LIMIT_INGEST": "100000000/minute",
            "PERFPILOT_RATE_LIMIT_WRITE": "100000000/minute",
            "PERFPILOT_LOG_LEVEL": "INFO",
            "PERFPILOT_ACCESS_LOG": "true",
        }
        env.pop("PERFPILOT_DATABASE_URL", None)
        return env

    def __init__(
        self, data_dir: Path, env: dict[str, str] | None = None, *, start_timeout: float = 30
    ) -> None:
        self.start_timeout = start_timeout  # start-up migrations on a big store take longer
        data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = dict(self.environment() if env is None else env)
        self.env |= {"PERFPILOT_DATA_DIR": str(data_dir), "PERFPILOT_PORT": str(self.port)}
        self.db_path = data_dir / "perfpilot.db"
        self.log_path = data_dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "perfpilot.cli", "serve"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited:\n{self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        raise RuntimeError(f"server did not start within {self.start_timeout:g} s")

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def token(self, role: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "perfpilot.cli", "token", "--role", role, "--sub", "bench"],
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        return done.stdout.strip()

    def stored_samples(self, table: str = "ai_performance_metrics") -> int:
        """Rows in a table of the store (the value samples, by default)."""
        with sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True) as connection:
            count: int = connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        return count

    def log_lines(self) -> int:
        with self.log_path.open("rb") as log:
            return sum(1 for _ in log)

    def metric(self, token: str, name: str) -> float | None:
        """A value of the server's Prometheus exposition (summed over labels); None if absent."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/metrics", headers={"Authorization": f"Bearer {token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            lines = response.read().decode().splitlines()
        values = [
            float(line.rpartition(" ")[2])
            for line in lines
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{")
        ]
        return sum(values) if values else None

    def has_route(self, path: str, method: str) -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/openapi.json") as response:
            spec = json.load(response)
        return method in spec.get("paths", {}).get(API + path, {})

    def post_json(self, path: str, token: str, payload: dict[str, Any]) -> int:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{API}{path}",
            data=json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status: int = response.status
                return status
        except urllib.error.HTTPError as exc:
            return exc.code

    def create_rules(self, count: int) -> str:
        """`count` never-firing rules over every service, when the rules API exists (DESIGN §8:
        batches evaluated by 100 rules)."""
        if not self.has_route("/rules", "post"):
            return "no /rules route in this build: rule evaluation is not part of these figures"
        admin = self.token("admin")
        created = 0
        for i in range(count):
            rule = {
                "name": f"bench rule {i}",
                "condition": {
                    "metric": METRIC_TYPES[i % len(METRIC_TYPES)],
                    "operator": "gt",
                    "threshold": 1e15,
                },
                "action": {"type": "cache_clear"},
            }
            created += self.post_json("/rules", admin, rule) == 201
        return f"{created} active rules (never firing) evaluate every sample"
