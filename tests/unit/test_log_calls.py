"""structlog's first argument is the event: a log call that also passes `event=` raises
TypeError at run time (it killed every failed webhook delivery's task). Guard all of src/."""

from __future__ import annotations

import ast
from pathlib import Path

import perfpilot

LOG_METHODS = frozenset(
    {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "msg", "log"}
)
LOG_METHODS |= {f"a{name}" for name in LOG_METHODS}  # structlog's async variants


def test_no_log_call_passes_event_as_a_keyword() -> None:
    root = Path(perfpilot.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS
                and any(kw.arg == "event" for kw in node.keywords)
            ):
                offenders.append(f"{path.relative_to(root)}:{node.lineno}")
    assert offenders == []
