"""A service's status from its open alerts and the freshness of its data (DESIGN §4)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

ServiceStatus = Literal["healthy", "degraded", "critical", "unknown"]
FRESH_SECONDS = 300.0
SEVERE_SEVERITIES = frozenset({"high", "critical"})


def service_status(*, open_severities: Iterable[str], has_fresh_data: bool) -> ServiceStatus:
    """critical: an open high/critical alert; degraded: an open low/medium one;
    unknown: no fresh data (and no open alert); healthy otherwise."""
    severities = set(open_severities)
    return status_from_counts(
        open_alerts=len(severities),
        severe_alerts=len(severities & SEVERE_SEVERITIES),
        has_fresh_data=has_fresh_data,
    )


def status_from_counts(
    *, open_alerts: int, severe_alerts: int, has_fresh_data: bool
) -> ServiceStatus:
    """The same rule from counts (severe = open high/critical), as the list queries give them."""
    if severe_alerts:
        return "critical"
    if open_alerts:
        return "degraded"
    return "healthy" if has_fresh_data else "unknown"
