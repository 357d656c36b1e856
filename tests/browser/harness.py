"""What the browser tests share: the served process, the skip rule, screenshots.

Skipped when chromium or Playwright is missing, unless PERFPILOT_REQUIRE_EXTERNAL=1 (CI),
which turns the skip into a failure: each test module calls require_browser() first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTEFACTS = Path(__file__).parent / "artefacts"
PERFPILOT = str(Path(sys.executable).parent / "perfpilot")
API = "/v1/ai-performance-optimization"
WAIT_MS = 30_000  # a shared, loaded machine: generous waits, never timed assertions


def missing() -> str | None:
    if not Path(CHROMIUM).exists():
        return "chromium is not installed (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


class Served:
    def __init__(self, data_dir: Path, **extra_env: str) -> None:
        with socket_port() as port:
            self.port = port
        self.base = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PERFPILOT_")}
        env.update(
            PERFPILOT_DATA_DIR=str(data_dir),
            PERFPILOT_PORT=str(self.port),
            PERFPILOT_LOG_LEVEL="WARNING",
            PERFPILOT_ENGINE_TICK_SECONDS="1",
            # measure an action's impact within seconds, not the default 6 minutes
            PERFPILOT_IMPACT_SETTLE_SECONDS="1",
            PERFPILOT_IMPACT_WINDOW_SECONDS="4",
        )
        env.update(extra_env)
        self.env = env
        self.process = subprocess.Popen(
            [PERFPILOT, "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        deadline = time.monotonic() + 180
        assert self.process.stdout is not None
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError("serve exited:\n" + "".join(self.lines))
            self.lines.append(line)
            if line.startswith("Dashboard: "):
                break
        text = "".join(self.lines)
        self.token = re.search(r"Admin token.*\n(\S+)\n", text).group(1)  # type: ignore[union-attr]
        self.link = re.search(r"Dashboard: (\S+)", text).group(1)  # type: ignore[union-attr]

    def mint(self, role: str) -> str:
        done = subprocess.run(
            [PERFPILOT, "token", "--role", role, "--sub", f"{role}@example.com"],
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return done.stdout.strip().splitlines()[-1]

    def push(self, *samples: dict[str, Any]) -> None:
        response = httpx.post(
            f"{self.base}{API}/metrics/batch",
            json={"samples": list(samples)},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert response.status_code == 201, response.text

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.communicate()


class socket_port:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        return int(self.sock.getsockname()[1])

    def __exit__(self, *_: object) -> None:
        self.sock.close()


def latency(value: float, when: datetime, service: str = "demo-chat") -> dict[str, Any]:
    return {
        "serviceName": service,
        "metricType": "latency",
        "value": value,
        "timestamp": when.isoformat(),
    }


def require_browser() -> None:
    """Skip the calling test module (fail it in CI) when the browser cannot run."""
    reason = missing()
    if reason is None:
        return
    if os.environ.get("PERFPILOT_REQUIRE_EXTERNAL") == "1":
        pytest.fail(f"browser tests required but {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason}", allow_module_level=True)


paints: dict[str, float] = {}


def shot(page: Page, name: str) -> None:
    """A full-page screenshot, and the page's first contentful paint, into ARTEFACTS."""
    ARTEFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTEFACTS / f"{name}.png"), full_page=True)
    fcp = page.evaluate(
        "() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"
    )
    if fcp is not None:
        paints[name] = round(fcp, 1)
    path = ARTEFACTS / "first-paint.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**known, **paints}, indent=2))
