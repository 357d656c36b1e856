"""What bench/alerts.py reads from the server under test: its Prometheus exposition (the
write turn by writer, SQLite's lock acquisition, the stages of each fired alert's path) and,
from /proc, whether any of its threads sleeps in SQLite's busy handler."""

from __future__ import annotations

import threading
import time
import urllib.request
from pathlib import Path

from server import Server


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


# x86-64 syscall numbers SQLite's busy handler sleeps in (usleep: nanosleep or clock_nanosleep)
SLEEP_SYSCALLS = {"35", "230"}


class ThreadSampler:
    """Samples the server's threads from /proc every ~2 ms: at how many instants was some
    thread asleep in nanosleep, i.e. in SQLite's busy handler (nothing else in the server
    sleeps that way: the event loop waits in epoll, the driver threads on a futex), and the
    longest such episode."""

    def __init__(self, pid: int, interval: float = 0.002) -> None:
        self.tasks = Path(f"/proc/{pid}/task")
        self.interval = interval
        self.samples = self.sleeping = 0
        self.longest = self._run_length = 0.0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _sleeping(self) -> bool:
        for task in self.tasks.iterdir():
            try:
                call = (task / "syscall").read_text().split(" ", 1)[0].strip()
            except OSError:  # the thread ended meanwhile
                continue
            if call in SLEEP_SYSCALLS:
                return True
        return False

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.is_set():
            now = time.monotonic()
            self.samples += 1
            if self._sleeping():
                self.sleeping += 1
                self._run_length += now - last
                self.longest = max(self.longest, self._run_length)
            else:
                self._run_length = 0.0
            last = now
            time.sleep(self.interval)

    def __enter__(self) -> ThreadSampler:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self.thread.join()

    def line(self) -> str:
        share = self.sleeping / self.samples if self.samples else 0.0
        return (
            f"thread sampler ({self.samples:,} samples): some server thread asleep in the busy "
            f"handler (nanosleep) {share:.1%} of the time, longest episode "
            f"{self.longest * 1000:.0f} ms"
        )


def labelled(metrics: dict[str, float], name: str, label: str) -> dict[str, dict[str, float]]:
    """One histogram's series split by the value of `label`, that label removed from the keys
    (so histogram_percentile reads each alone)."""
    out: dict[str, dict[str, float]] = {}
    marker = f'{label}="'
    for key, value in metrics.items():
        if not key.startswith(name) or marker not in key:
            continue
        head, _, rest = key.partition(marker)
        which, _, tail = rest.partition('"')
        plain = (head + tail.lstrip(",")).replace("{,", "{").replace(",}", "}").replace("{}", "")
        out.setdefault(which, {})[plain] = value
    return out


def histogram_line(metrics: dict[str, float], name: str, what: str) -> str:
    count = metrics.get(f"{name}_count", 0.0)
    total = metrics.get(f"{name}_sum", 0.0)
    mean = total / count * 1000 if count else 0.0
    return (
        f"{what}: n {count:.0f}, mean {mean:.1f} ms, "
        f"p50 <= {histogram_percentile(metrics, name, 0.5) * 1000:g} ms, "
        f"p99 <= {histogram_percentile(metrics, name, 0.99) * 1000:g} ms, "
        f"{total * 1000:.0f} ms in all"
    )


# the stages of perfpilot_alert_path_seconds, in path order (monitoring/telemetry.py)
PATH_STAGES = (
    "received", "group_commit", "engine_queue", "evaluate", "step_commit", "outbox_claim",
    "webhook_post",
)  # fmt: skip


def db_wait_lines(metrics: dict[str, float]) -> list[str]:
    """The server's own figures, when this build exports them: the write turn's wait and hold
    by writer, SQLite's lock acquisition, and each stage of a fired alert's path."""
    lines = []
    for name, what in (
        ("perfpilot_db_write_wait_seconds", "wait for the write turn"),
        ("perfpilot_db_write_hold_seconds", "write turn held"),
    ):
        by_writer = labelled(metrics, name, "writer")
        if not by_writer and f"{name}_count" in metrics:  # before writers were labelled
            by_writer = {"all": metrics}
        if not by_writer:
            lines.append(f"{what}: not exported by this build")
        for writer, values in sorted(by_writer.items()):
            lines.append(histogram_line(values, name, f"{what}, {writer}"))
    name = "perfpilot_db_lock_wait_seconds"
    count = metrics.get(f"{name}_count")
    if count is None:
        lines.append("SQLite write-lock acquisition: not exported by this build")
    else:
        over_1ms = count - metrics.get(f'{name}_bucket{{le="0.001"}}', 0.0)
        line = histogram_line(metrics, name, "SQLite write-lock acquisition (BEGIN IMMEDIATE)")
        lines.append(f"{line}, {over_1ms:.0f} over 1 ms")
    stages = labelled(metrics, "perfpilot_alert_path_seconds", "stage")
    if not stages:
        lines.append("alert path stages: not exported by this build")
    for stage in PATH_STAGES:
        if stage in stages:
            lines.append(
                histogram_line(stages[stage], "perfpilot_alert_path_seconds", f"stage {stage}")
            )
    return lines
