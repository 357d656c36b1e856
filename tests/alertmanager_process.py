"""The real Alertmanager (Debian's prometheus-alertmanager) as a test fixture: a generated
config, a temporary storage path, loopback ports picked by the test, gossip off; stopped by
the test."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.external import free_port

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"

BLACKHOLE_CONFIG = """\
route:
  receiver: blackhole
receivers:
  - name: blackhole
"""


class AlertmanagerProcess:
    def __init__(self, workdir: Path, *, config: str = BLACKHOLE_CONFIG, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    async def start(self) -> AlertmanagerProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "alertmanager.yml"
        config.write_text(self.config)
        self.process = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={self.workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",  # no gossip: each instance stands alone
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(self.workdir / "alertmanager.log").open("wb"),
        )
        async with httpx.AsyncClient(timeout=2) as client:
            for _ in range(300):
                if self.process.poll() is not None:
                    log = (self.workdir / "alertmanager.log").read_text()
                    raise RuntimeError(f"alertmanager exited: {log[-2000:]}")
                try:
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("alertmanager did not become ready in 30 s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    async def alerts(self, **params: Any) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=5) as client:
            response = await client.get(f"{self.url}/api/v2/alerts", params=params)
            response.raise_for_status()
            result: list[dict[str, Any]] = response.json()
            return result
