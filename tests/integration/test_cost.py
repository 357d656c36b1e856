"""Cost over HTTP: the price table (defaults with date and source, admin overrides), cost by
model from token counts when no cost is sent, and the cheaper-model recommendation whose
saving is computed from the period's volume; every expected figure is computed here from the
samples the test pushes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import LiveServer

SERVICE = "chat-cost"
PRICES = {  # USD per 1M tokens (input, output), set through the admin API
    "big-model": (10.0, 30.0),
    "mid-model": (2.0, 6.0),
    "tiny-model": (0.2, 0.6),
}
IN_TOKENS, OUT_TOKENS, RPS = 5000.0, 1000.0, 5.0  # per 10 s sample of big-model


def sample(at: datetime, metric: str, value: float, model: str) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": metric,
        "value": value,
        "timestamp": at.isoformat(),
        "labels": {"model": model},
    }


async def put_prices(s: LiveServer) -> None:
    for model, (inp, out) in PRICES.items():
        r = await s.client.put(
            s.api("/prices"),
            json={"model": model, "inputPerMTok": inp, "outputPerMTok": out, "source": "test"},
            headers=s.auth(),
        )
        assert r.status_code == 200, r.text
        assert r.json()["data"]["origin"] == "admin"


async def quality_rules(s: LiveServer) -> None:
    for condition in (
        {"metric": "latency", "operator": "gt", "threshold": 2000, "aggregation": "avg"},
        {"metric": "accuracy", "operator": "lt", "threshold": 0.85, "aggregation": "avg"},
    ):
        r = await s.client.post(
            s.api("/rules"),
            json={
                "name": f"{condition['metric']} guard",
                "serviceName": SERVICE,
                "condition": condition,
                "action": {"type": "cache_clear"},
                "isActive": True,
            },
            headers=s.auth(),
        )
        assert r.status_code == 201, r.text


async def test_price_table_defaults_overrides_and_validation(live_server: LiveServer) -> None:
    s = live_server
    listed = await s.client.get(s.api("/prices"), headers=s.auth("viewer"))
    assert listed.status_code == 200
    defaults = listed.json()["data"]
    assert defaults and all(p["origin"] == "default" for p in defaults)
    assert all("table of 20" in p["source"] and "pricing" in p["source"] for p in defaults)
    assert all(p["currency"] == "USD" for p in defaults)

    model = defaults[0]["model"]
    r = await s.client.put(
        s.api("/prices"),
        json={"model": model, "inputPerMTok": 1.5, "outputPerMTok": 2.5},
        headers=s.auth(),
    )
    assert r.status_code == 200, r.text
    got = await s.client.get(s.api(f"/prices/{model}"), headers=s.auth("viewer"))
    assert got.json()["data"] | {"validFrom": None} == {
        "model": model,
        "inputPerMTok": 1.5,
        "outputPerMTok": 2.5,
        "currency": "USD",
        "validFrom": None,
        "source": None,
        "origin": "admin",
    }
    gone = await s.client.delete(s.api(f"/prices/{model}"), headers=s.auth())
    assert gone.status_code == 200
    back = await s.client.get(s.api(f"/prices/{model}"), headers=s.auth("viewer"))
    assert back.json()["data"] == defaults[0]  # the default applies again
    assert (await s.client.delete(s.api(f"/prices/{model}"), headers=s.auth())).status_code == 404
    missing = await s.client.get(s.api("/prices/no-such-model"), headers=s.auth("viewer"))
    assert missing.status_code == 404

    bad = await s.client.put(
        s.api("/prices"),
        json={"model": "x", "inputPerMTok": -1, "outputPerMTok": 1},
        headers=s.auth(),
    )
    assert bad.status_code == 422
    assert "inputPerMTok" in {d["field"] for d in bad.json()["error"]["details"]}
    naive = await s.client.put(
        s.api("/prices"),
        json={"model": "x", "inputPerMTok": 1, "outputPerMTok": 1, "validFrom": "2026-01-01T00:00"},
        headers=s.auth(),
    )
    assert naive.status_code == 422
    assert "validFrom" in {d["field"] for d in naive.json()["error"]["details"]}
    forbidden = await s.client.put(
        s.api("/prices"),
        json={"model": "x", "inputPerMTok": 1, "outputPerMTok": 1},
        headers=s.auth("operator"),
    )
    assert forbidden.status_code == 403


async def test_cost_by_model_and_a_cheaper_model_that_meets_the_rules(
    live_server: LiveServer,
) -> None:
    s = live_server
    await put_prices(s)
    await quality_rules(s)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=20)
    # history of the candidates, before the period: mid-model meets both rules, tiny-model's
    # accuracy (0.80 < 0.85) would make the accuracy rule fire
    old = start - timedelta(days=2)
    history = [
        sample(old + timedelta(seconds=10 * i), metric, value, model)
        for i in range(5)
        for model, metric, value in (
            ("mid-model", "latency", 1700.0 + 50 * i),
            ("mid-model", "accuracy", 0.90),
            ("tiny-model", "latency", 400.0),
            ("tiny-model", "accuracy", 0.80),
        )
    ]
    await s.push(*history)
    # the period: big-model, tokens and throughput but no cost
    n = 60
    period = [
        sample(start + timedelta(seconds=60 + 10 * i), metric, value, "big-model")
        for i in range(n)
        for metric, value in (
            ("input_tokens", IN_TOKENS),
            ("output_tokens", OUT_TOKENS),
            ("throughput", RPS),
            ("latency", 1500.0),
            ("accuracy", 0.93),
        )
    ]
    await s.push(*period)

    r = await s.client.post(
        s.api("/reports"),
        json={
            "serviceName": SERVICE,
            "reportType": "custom",
            "period": {"start": start.isoformat(), "end": now.isoformat()},
        },
        headers=s.auth("operator"),
    )
    assert r.status_code == 201, r.text
    report = r.json()["data"]
    [big] = [c for c in report["summary"]["costByModel"] if c["model"] == "big-model"]
    tokens_in, tokens_out = n * IN_TOKENS, n * OUT_TOKENS
    cost = (tokens_in * 10.0 + tokens_out * 30.0) / 1e6
    requests = n * RPS * 10  # rps x the 10 s spacing of its samples
    assert big["costBasis"] == "price_table"
    assert (big["inputTokens"], big["outputTokens"]) == (tokens_in, tokens_out)
    assert big["cost"] == pytest.approx(cost)
    assert big["requests"] == pytest.approx(requests)
    assert big["costPerRequest"] == pytest.approx(cost / requests)
    assert big["costPer1kTokens"] == pytest.approx(cost / (tokens_in + tokens_out) * 1000)

    [advice] = [x for x in report["recommendations"] if x["kind"] == "cheaper_model"]
    evidence = advice["evidence"]
    assert evidence["currentModel"] == "big-model"
    assert evidence["candidate"] == "mid-model"  # tiny-model is cheaper but fails accuracy
    mid_cost = (tokens_in * 2.0 + tokens_out * 6.0) / 1e6
    period_s = (now - start).total_seconds()
    assert evidence["candidateCost"] == pytest.approx(mid_cost)
    assert evidence["expectedMonthlySaving"] == pytest.approx(
        (cost - mid_cost) * 30 * 86400 / period_s
    )
    checks = {c["metric"]: c for c in evidence["ruleChecks"]}
    assert checks["latency"]["value"] == pytest.approx(sum(1700.0 + 50 * i for i in range(5)) / 5)
    assert checks["latency"]["basis"] == "history" and checks["latency"]["samples"] == 5
    assert checks["accuracy"]["value"] == pytest.approx(0.90)
    assert "mid-model" in advice["message"]

    view = await s.client.get(s.api(f"/services/{SERVICE}"), headers=s.auth("viewer"))
    [seen] = [c for c in view.json()["data"]["costByModel"] if c["model"] == "big-model"]
    assert seen["cost"] == pytest.approx(cost)
    assert seen["costPerRequest"] == pytest.approx(cost / requests)


async def test_reported_cost_wins_and_no_rules_means_no_advice(live_server: LiveServer) -> None:
    s = live_server
    await put_prices(s)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=10)
    await s.push(
        *(
            s_
            for i in range(10)
            for s_ in (
                sample(start + timedelta(seconds=30 + 10 * i), "input_tokens", 1000.0, "big-model"),
                sample(start + timedelta(seconds=30 + 10 * i), "cost", 0.02, "big-model"),
                sample(start + timedelta(seconds=30 + 10 * i), "latency", 800.0, "mid-model"),
            )
        )
    )
    r = await s.client.post(
        s.api("/reports"),
        json={
            "serviceName": SERVICE,
            "reportType": "custom",
            "period": {"start": start.isoformat(), "end": now.isoformat()},
        },
        headers=s.auth("operator"),
    )
    assert r.status_code == 201, r.text
    report = r.json()["data"]
    [big] = [c for c in report["summary"]["costByModel"] if c["model"] == "big-model"]
    assert (big["costBasis"], big["cost"]) == ("reported", pytest.approx(0.2))
    assert big["requests"] is None and big["costPerRequest"] is None
    # no latency/accuracy rule says what quality the service needs: no cheaper-model advice
    assert not [x for x in report["recommendations"] if x["kind"] == "cheaper_model"]


@pytest.mark.settings(impact_settle_seconds=10.0, impact_window_seconds=30.0)
async def test_a_past_model_switch_measured_impact_is_evidence(live_server: LiveServer) -> None:
    s = live_server
    await put_prices(s)
    for body in (
        {
            "name": "slow: switch model",
            "serviceName": SERVICE,
            "condition": {
                "metric": "latency",
                "operator": "gt",
                "threshold": 2000,
                "aggregation": "avg",
                "window": 30,
            },
            "action": {
                "type": "model_switch",
                "parameters": {"model": "mid-model"},
                "revertOnResolve": False,
            },
        },
        {
            "name": "accuracy guard",
            "serviceName": SERVICE,
            "condition": {"metric": "accuracy", "operator": "lt", "threshold": 0.85},
            "action": {"type": "cache_clear"},
        },
    ):
        r = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
        assert r.status_code == 201, r.text
    now = datetime.now(UTC).replace(microsecond=0)
    t0 = now - timedelta(minutes=40)

    def plain(second: float, metric: str, value: float) -> dict[str, Any]:
        return {
            "serviceName": SERVICE,
            "metricType": metric,
            "value": value,
            "timestamp": (t0 + timedelta(seconds=second)).isoformat(),
        }

    await s.push(plain(0, "latency", 3000.0))  # fires: model_switch to mid-model at t0
    after = [1500.0, 1550.0, 1450.0, 1600.0]  # on mid-model, inside (t0 + 10, t0 + 40]
    await s.push(*(plain(15 + 5 * i, "latency", v) for i, v in enumerate(after)))
    await s.push(plain(50, "latency", 1500.0))
    actions = (
        await s.client.get(s.api("/actions"), params={"serviceName": SERVICE}, headers=s.auth())
    ).json()["data"]
    [switch] = [a for a in actions if a["type"] == "model_switch"]
    assert switch["measuredValue"] == pytest.approx(sum(after) / len(after))
    # mid-model's accuracy from labelled samples; no labelled latency for it
    await s.push(
        *(sample(t0 + timedelta(seconds=60 + i), "accuracy", 0.9, "mid-model") for i in range(4))
    )
    start = now - timedelta(minutes=20)
    await s.push(
        *(
            sample(start + timedelta(seconds=30 + 10 * i), "input_tokens", IN_TOKENS, "big-model")
            for i in range(10)
        )
    )
    r = await s.client.post(
        s.api("/reports"),
        json={
            "serviceName": SERVICE,
            "reportType": "custom",
            "period": {"start": start.isoformat(), "end": now.isoformat()},
        },
        headers=s.auth("operator"),
    )
    assert r.status_code == 201, r.text
    [advice] = [x for x in r.json()["data"]["recommendations"] if x["kind"] == "cheaper_model"]
    evidence = advice["evidence"]
    # tiny-model has no evidence at all: not recommended although cheaper
    assert evidence["candidate"] == "mid-model"
    checks = {c["metric"]: c for c in evidence["ruleChecks"]}
    assert checks["latency"]["basis"] == "model_switch"
    assert checks["latency"]["actionId"] == switch["id"]
    assert checks["latency"]["value"] == pytest.approx(switch["measuredValue"])
    assert checks["accuracy"]["basis"] == "history"
    cost = 10 * IN_TOKENS * 10.0 / 1e6
    mid = 10 * IN_TOKENS * 2.0 / 1e6
    assert evidence["periodSaving"] == pytest.approx(cost - mid)
