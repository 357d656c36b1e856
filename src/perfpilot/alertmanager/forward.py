"""Perfpilot alerts as Alertmanager API v2 postable alerts (POST /api/v2/alerts)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from perfpilot.core.config import API_PREFIX
from perfpilot.models import PerformanceAlert
from perfpilot.webhooks.payloads import rfc3339


def target_key(url: str) -> str:
    """The stored name of an Alertmanager: a hash of its base URL (URLs may hold secrets)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def alert_labels(alert: PerformanceAlert) -> dict[str, str]:
    """alertname (rule name), service, severity, rule_id, perfpilot_alert_id, metric, then the
    alert's own labels (its rule's groupBy values), which never override the ones before."""
    rule_name = str((alert.meta or {}).get("ruleName") or "perfpilot")
    labels = {
        "alertname": rule_name,
        "service": alert.service_name,
        "severity": alert.severity,
        "metric": alert.metric_type,
        "perfpilot_alert_id": str(alert.id),
    }
    if alert.rule_id is not None:
        labels["rule_id"] = str(alert.rule_id)
    for key, value in (alert.labels or {}).items():
        labels.setdefault(str(key), str(value))
    return labels


def postable_alert(
    alert: PerformanceAlert, *, now: datetime, resend: float, public_url: str
) -> dict[str, Any]:
    """One alert for POST /api/v2/alerts. While open its endsAt is 4 re-send intervals ahead
    (as Prometheus does), so a Perfpilot that stops sending lets it expire; resolved, endsAt
    is the resolution time."""
    meta = alert.meta or {}
    aggregation = str(meta.get("aggregation", ""))
    summary = (
        f"{meta.get('ruleName') or 'alert'} on {alert.service_name}: {aggregation} "
        f"{alert.metric_type} is {alert.current_value:g}, threshold {alert.threshold:g}"
    )
    if alert.status == "resolved" and alert.resolved_at is not None:
        ends_at = alert.resolved_at
    else:
        ends_at = now + timedelta(seconds=4 * resend)
    return {
        "labels": alert_labels(alert),
        "annotations": {
            "summary": summary,
            "description": alert.message,
            "value": f"{alert.current_value:g}",
            "threshold": f"{alert.threshold:g}",
        },
        "startsAt": rfc3339(alert.triggered_at),
        "endsAt": rfc3339(ends_at),
        "generatorURL": f"{public_url}{API_PREFIX}/alerts/{alert.id}",
    }
