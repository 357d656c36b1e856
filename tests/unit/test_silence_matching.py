"""Silences and grouping, the pure parts: when a silence applies, what it sees of an alert,
and how a group of alert events becomes one Alertmanager-format body."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from perfpilot.engine.selectors import Matcher
from perfpilot.models import PerformanceAlert
from perfpilot.silences.matching import SilenceRule, alert_labels, silence_state, silencing
from perfpilot.webhooks.grouping import group_of
from perfpilot.webhooks.payloads import grouped_payload

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def rule(*matchers: Matcher, start: float = 0, end: float = 600) -> SilenceRule:
    return SilenceRule(
        uuid.uuid4(), matchers, T0 + timedelta(seconds=start), T0 + timedelta(seconds=end)
    )


@given(st.floats(-1000, 1000), st.floats(0, 1000), st.floats(-2000, 2000))
def test_a_silence_applies_exactly_while_active(start: float, length: float, at: float) -> None:
    silence = rule(Matcher("service", "=", "a"), start=start, end=start + length + 1)
    now = T0 + timedelta(seconds=at)
    state = silence_state(silence.starts_at, silence.ends_at, now)
    assert silence.silences({"service": "a"}, now) == (state == "active")
    assert not silence.silences({"service": "b"}, now)


def test_matchers_all_must_match_and_regexes_are_anchored() -> None:
    silence = rule(Matcher("service", "=", "chat"), Matcher("rule", "=~", "slow.*"))
    now = T0 + timedelta(seconds=1)
    assert silencing([silence], {"service": "chat", "rule": "slow replies"}, now) == [
        str(silence.id)
    ]
    assert silencing([silence], {"service": "chat", "rule": "very slow"}, now) == []
    assert silencing([silence], {"service": "embed", "rule": "slow"}, now) == []


def test_alert_labels_name_service_rule_severity_and_keep_the_alerts_own() -> None:
    alert = PerformanceAlert(
        id=uuid.uuid4(),
        rule_id=uuid.uuid4(),
        service_name="chat",
        severity="high",
        metric_type="latency",
        meta={"ruleName": "Slow"},
        labels={"model": "gpt-4", "service": "spoofed"},
    )
    labels = alert_labels(alert)
    assert labels["service"] == "chat"  # the named ones win over the alert's labels
    assert (labels["rule"], labels["alertname"], labels["severity"]) == ("Slow", "Slow", "high")
    assert labels["rule_id"] == str(alert.rule_id) and labels["model"] == "gpt-4"


def _item(event: str, fingerprint: str, status: str, model: str) -> dict[str, object]:
    alert = {
        "status": status,
        "labels": {"alertname": "Slow", "service": "chat", "model": model},
        "annotations": {"summary": "s"},
        "fingerprint": fingerprint,
    }
    return {"event": event, "alert": alert, "perfpilot": {"alertId": fingerprint}}


def test_a_group_lists_each_alert_once_in_its_latest_state() -> None:
    key, labels = group_of({"alertname": "Slow", "service": "chat", "model": "a"}, ["alertname"])
    assert labels == {"alertname": "Slow"} and len(key) == 32
    items = [
        _item("alert.fired", "f1", "firing", "a"),
        _item("alert.fired", "f2", "firing", "b"),
        _item("alert.resolved", "f1", "resolved", "a"),
    ]
    body = grouped_payload(items, group_labels=labels)
    assert [(a["fingerprint"], a["status"]) for a in body["alerts"]] == [
        ("f2", "firing"),
        ("f1", "resolved"),
    ]
    assert body["status"] == "firing" and body["groupKey"] == '{}:{alertname="Slow"}'
    assert body["commonLabels"] == {"alertname": "Slow", "service": "chat"}
    assert [e["event"] for e in body["perfpilot"]["events"]] == [
        "alert.fired",
        "alert.fired",
        "alert.resolved",
    ]
