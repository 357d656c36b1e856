"""A service's status from its open alerts and the freshness of its data (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

ServiceStatus = Literal["healthy", "degraded", "critical", "unknown"]
FRESH_SECONDS = 300.0


def service_status(*, open_severities: Iterable[str], has_fresh_data: bool) -> ServiceStatus:
    """critical: an open high/critical alert; degraded: an open low/medium one;
    unknown: no fresh data (and no open alert); healthy otherwise."""
    severities = set(open_severities)
    if severities & {"high", "critical"}:
        return "critical"
    if severities:
        return "degraded"
    return "healthy" if has_fresh_data else "unknown"
