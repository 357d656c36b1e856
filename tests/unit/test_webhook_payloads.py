"""Alert payloads are Alertmanager webhook bodies (version 4) plus a `perfpilot` object."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from perfpilot.models import PerformanceAlert
from perfpilot.webhooks.payloads import AlertPayloadItem, alert_event_payload, alertmanager_payload

STARTED = datetime(2026, 11, 25, 10, 0, 0, 123456, tzinfo=UTC)
ENDED = datetime(2026, 11, 25, 10, 5, 0, tzinfo=UTC)


def item(**overrides: object) -> AlertPayloadItem:
    values: dict[str, object] = {
        "status": "firing",
        "alertname": "High p95 latency",
        "service": "ai-chat-service",
        "severity": "high",
        "metric": "latency",
        "rule_id": "r-1",
        "summary": "High p95 latency on ai-chat-service",
        "description": "p95 6500 ms > 5000 ms for 60s",
        "starts_at": STARTED,
        "fingerprint": "c6eadffa33fcdf37",
    }
    values.update(overrides)
    return AlertPayloadItem(**values)  # type: ignore[arg-type]


def test_firing_payload_has_every_alertmanager_field_in_its_order() -> None:
    body = alertmanager_payload(
        event="alert.fired", status="firing", alerts=[item()], perfpilot={"alertId": "a-1"}
    )
    assert list(body) == [
        "receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
        "externalURL", "version", "groupKey", "truncatedAlerts", "perfpilot",
    ]  # fmt: skip
    assert body["version"] == "4" and body["status"] == "firing"
    assert body["receiver"] == "perfpilot" and body["truncatedAlerts"] == 0
    [alert] = body["alerts"]
    assert list(alert) == [
        "status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint",
    ]  # fmt: skip
    assert alert["labels"] == {
        "alertname": "High p95 latency",
        "service": "ai-chat-service",
        "severity": "high",
        "metric": "latency",
        "rule_id": "r-1",
    }
    assert alert["annotations"] == {
        "summary": "High p95 latency on ai-chat-service",
        "description": "p95 6500 ms > 5000 ms for 60s",
    }
    assert alert["startsAt"] == "2026-11-25T10:00:00.123456Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert body["groupLabels"] == {"alertname": "High p95 latency", "service": "ai-chat-service"}
    assert body["groupKey"] == '{}:{alertname="High p95 latency", service="ai-chat-service"}'
    assert body["commonLabels"] == alert["labels"]
    assert body["perfpilot"] == {"event": "alert.fired", "alertId": "a-1"}


def test_resolved_alert_ends_and_common_fields_are_the_intersection() -> None:
    other = item(
        service="embedding-service",
        summary="High p95 latency on embedding-service",
        status="resolved",
        ends_at=ENDED,
        rule_id=None,
    )
    body = alertmanager_payload(
        event="alert.resolved", status="resolved", alerts=[item(), other], perfpilot={}
    )
    assert body["alerts"][1]["endsAt"] == "2026-11-25T10:05:00Z"
    assert "rule_id" not in body["alerts"][1]["labels"]
    assert body["commonLabels"] == {
        "alertname": "High p95 latency",
        "severity": "high",
        "metric": "latency",
    }
    assert body["groupLabels"] == {"alertname": "High p95 latency"}
    assert body["commonAnnotations"] == {"description": "p95 6500 ms > 5000 ms for 60s"}


def test_group_key_escapes_label_values_like_prometheus() -> None:
    body = alertmanager_payload(
        event="alert.fired",
        status="firing",
        alerts=[item()],
        perfpilot={},
        group_labels={"b": 'say "hi"', "a": "back\\slash"},
    )
    assert body["groupKey"] == '{}:{a="back\\\\slash", b="say \\"hi\\""}'


def test_alert_event_payload_maps_an_alert_row() -> None:
    rule_id = uuid.uuid4()
    alert = PerformanceAlert(
        id=uuid.uuid4(),
        rule_id=rule_id,
        service_name="ai-chat-service",
        fingerprint="f" * 64,
        metric_type="latency",
        current_value=6500.0,
        threshold=5000.0,
        severity="critical",
        status="acknowledged",
        triggered_at=STARTED,
        acknowledged_at=ENDED,
        acknowledged_by="alice",
        message="p95 latency 6500 > 5000",
        meta={"ruleName": "High p95 latency"},
    )
    body = alert_event_payload(event="alert.acknowledged", alert=alert, rule_name="Slow")
    assert body["status"] == "firing"  # acknowledged is still firing for Alertmanager readers
    [rendered] = body["alerts"]
    assert rendered["labels"]["rule_id"] == str(rule_id)
    assert rendered["labels"]["severity"] == "critical"
    assert rendered["fingerprint"] == "f" * 64
    assert body["perfpilot"]["event"] == "alert.acknowledged"
    assert body["perfpilot"]["status"] == "acknowledged"
    assert body["perfpilot"]["acknowledgedBy"] == "alice"
    assert body["perfpilot"]["acknowledgedAt"] == "2026-11-25T10:05:00Z"
    assert body["perfpilot"]["currentValue"] == 6500.0
