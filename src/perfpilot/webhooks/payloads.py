"""Webhook bodies: Alertmanager's webhook format (version 4), plus a `perfpilot` object.

A receiver written for Alertmanager's `webhook_config` reads our alert events unchanged; the
top-level `perfpilot` object carries what Alertmanager has no field for (event name, alert id,
values, acknowledgement). Key order follows Alertmanager's own output.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

if TYPE_CHECKING:
    from perfpilot.models import PerformanceAlert, Webhook

AlertStatus = Literal["firing", "resolved"]
ALERTMANAGER_VERSION = "4"
RECEIVER = "perfpilot"
# Go's zero time, which Alertmanager sends as endsAt while an alert is firing
ZERO_TIME = "0001-01-01T00:00:00Z"
DEFAULT_GROUP_BY = ("alertname", "service")


def encode_body(payload: Mapping[str, Any]) -> str:
    """The exact text sent on every attempt (serialised once, at enqueue)."""
    return orjson.dumps(payload).decode()


def rfc3339(value: datetime) -> str:
    """UTC, `Z`-suffixed, as Alertmanager writes timestamps."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class AlertPayloadItem:
    """One alert of a notification, in Perfpilot's terms."""

    status: AlertStatus
    alertname: str
    service: str
    severity: str
    metric: str
    rule_id: str | None
    summary: str
    description: str
    starts_at: datetime
    fingerprint: str
    ends_at: datetime | None = None
    generator_url: str = ""
    extra_labels: Mapping[str, str] = field(default_factory=dict)
    extra_annotations: Mapping[str, str] = field(default_factory=dict)

    def labels(self) -> dict[str, str]:
        labels = {
            "alertname": self.alertname,
            "service": self.service,
            "severity": self.severity,
            "metric": self.metric,
        }
        if self.rule_id is not None:
            labels["rule_id"] = self.rule_id
        for key, value in self.extra_labels.items():  # never overriding the ones above
            labels.setdefault(key, value)
        return labels

    def annotations(self) -> dict[str, str]:
        return {"summary": self.summary, "description": self.description, **self.extra_annotations}

    def to_alertmanager(self) -> dict[str, Any]:
        firing = self.status == "firing"
        return {
            "status": self.status,
            "labels": self.labels(),
            "annotations": self.annotations(),
            "startsAt": rfc3339(self.starts_at),
            "endsAt": ZERO_TIME if firing or self.ends_at is None else rfc3339(self.ends_at),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
        }


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first, *rest = maps
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in rest)}


def _label_set(labels: Mapping[str, str]) -> str:
    """Prometheus label-set notation, sorted: {a="1", b="2"}."""
    parts = []
    for key in sorted(labels):
        value = labels[key].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{key}="{value}"')
    return "{" + ", ".join(parts) + "}"


def alertmanager_payload(
    *,
    event: str,
    status: AlertStatus,
    alerts: Sequence[AlertPayloadItem],
    perfpilot: Mapping[str, Any],
    group_labels: Mapping[str, str] | None = None,
    receiver: str = RECEIVER,
    external_url: str = "",
    truncated_alerts: int = 0,
) -> dict[str, Any]:
    """An Alertmanager version-4 webhook body plus `perfpilot: {"event": event, **perfpilot}`.

    group_labels defaults to the alerts' common alertname and service; groupKey is derived
    from it as Alertmanager does (`{}:{alertname="...", service="..."}`).
    """
    rendered = [a.to_alertmanager() for a in alerts]
    common_labels = _common([a["labels"] for a in rendered])
    if group_labels is None:
        group_labels = {k: common_labels[k] for k in DEFAULT_GROUP_BY if k in common_labels}
    return {
        "receiver": receiver,
        "status": status,
        "alerts": rendered,
        "groupLabels": dict(group_labels),
        "commonLabels": common_labels,
        "commonAnnotations": _common([a["annotations"] for a in rendered]),
        "externalURL": external_url,
        "version": ALERTMANAGER_VERSION,
        "groupKey": "{}:" + _label_set(group_labels),
        "truncatedAlerts": truncated_alerts,
        "perfpilot": {"event": event, **perfpilot},
    }


def _iso(value: datetime | None) -> str | None:
    return rfc3339(value) if value is not None else None


def alert_event_payload(
    *,
    event: str,
    alert: PerformanceAlert,
    rule_name: str,
    external_url: str = "",
    generator_url: str = "",
) -> dict[str, Any]:
    """The body of an alert.fired / alert.acknowledged / alert.resolved event for one alert.

    Acknowledged alerts are still `firing` for Alertmanager consumers; `perfpilot.status`
    says acknowledged.
    """
    status: AlertStatus = "resolved" if alert.status == "resolved" else "firing"
    item = AlertPayloadItem(
        status=status,
        alertname=rule_name,
        service=alert.service_name,
        severity=alert.severity,
        metric=alert.metric_type,
        rule_id=str(alert.rule_id) if alert.rule_id is not None else None,
        summary=f"{rule_name} on {alert.service_name}",
        description=alert.message,
        starts_at=alert.triggered_at,
        ends_at=alert.resolved_at,
        fingerprint=alert.fingerprint,
        generator_url=generator_url,
        extra_labels=alert.labels or {},
    )
    details = {
        "alertId": str(alert.id),
        "status": alert.status,
        "serviceName": alert.service_name,
        "metricType": alert.metric_type,
        "currentValue": alert.current_value,
        "threshold": alert.threshold,
        "severity": alert.severity,
        "triggeredAt": _iso(alert.triggered_at),
        "acknowledgedAt": _iso(alert.acknowledged_at),
        "acknowledgedBy": alert.acknowledged_by,
        "resolvedAt": _iso(alert.resolved_at),
        "resolvedBy": alert.resolved_by,
        "resolveReason": alert.resolve_reason,
        "message": alert.message,
        "metadata": alert.meta or {},
        "labels": alert.labels or {},
    }
    return alertmanager_payload(
        event=event, status=status, alerts=[item], perfpilot=details, external_url=external_url
    )


def webhook_test_payload(webhook: Webhook, *, now: datetime) -> dict[str, Any]:
    """A synthetic firing alert (like Grafana's contact-point test), so a receiver's
    Alertmanager parsing is exercised end to end."""
    service = webhook.service_name or "perfpilot"
    item = AlertPayloadItem(
        status="firing",
        alertname="PerfpilotWebhookTest",
        service=service,
        severity="info",
        metric="none",
        rule_id=None,
        summary="Perfpilot webhook test",
        description="A test notification sent on request; it needs no action.",
        starts_at=now,
        fingerprint="0" * 16,
    )
    details = {"webhookId": str(webhook.id), "sentAt": rfc3339(now)}
    return alertmanager_payload(
        event="webhook.test", status="firing", alerts=[item], perfpilot=details
    )


def grouped_payload(
    items: Sequence[Mapping[str, Any]], *, group_labels: Mapping[str, str]
) -> dict[str, Any]:
    """One Alertmanager v4 body for a group's alert events (webhooks/grouping.py): each alert
    once, in its latest state; `perfpilot.events` lists every event with its details."""
    latest: dict[str, dict[str, Any]] = {}
    for item in items:
        alert = dict(item["alert"])
        latest.pop(str(alert.get("fingerprint")), None)  # re-inserted: latest order
        latest[str(alert.get("fingerprint"))] = alert
    rendered = list(latest.values())
    firing = any(a.get("status") == "firing" for a in rendered)
    return {
        "receiver": RECEIVER,
        "status": "firing" if firing else "resolved",
        "alerts": rendered,
        "groupLabels": dict(group_labels),
        "commonLabels": _common([a["labels"] for a in rendered]),
        "commonAnnotations": _common([a["annotations"] for a in rendered]),
        "externalURL": "",
        "version": ALERTMANAGER_VERSION,
        "groupKey": "{}:" + _label_set(group_labels),
        "truncatedAlerts": 0,
        "perfpilot": {
            "event": "alert.group",
            "events": [{"event": item["event"], **item["perfpilot"]} for item in items],
        },
    }
