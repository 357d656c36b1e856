"""External programs in tests: skip with a clear message when one is missing, fail instead
when PERFPILOT_REQUIRE_EXTERNAL=1 (CI installs them, so a skip there would hide a gap)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest


def require_external(reason: str | None, *, what: str) -> None:
    """Call at module level: `reason` is why `what` cannot run (None: it can)."""
    if reason is None:
        return
    if os.environ.get("PERFPILOT_REQUIRE_EXTERNAL") == "1":
        pytest.fail(f"{what} required but {reason}", pytrace=False)
    pytest.skip(f"{what} skipped: {reason}", allow_module_level=True)


def missing_program(path: str, *, package: str) -> str | None:
    if Path(path).exists():
        return None
    return f"{path} is not installed (apt-get install -y {package})"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
