"""Model-based sizing over HTTP: a rule with `instances: "auto"` sizes an overloaded service
in one step, records the model's inputs and prediction, and the impact check later sets the
measured latency beside the prediction. The autoscaler's `mode: model` does the same."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from perfpilot.sizing.erlang import QueueModel, erlang_c, fewest_instances
from tests.conftest import LiveServer

SERVICE = "chat-sized"
MU = 4.0  # requests/s one instance completes
SERVICE_MS = 1210.0  # latency when nothing queues
ARRIVAL = 20.0  # requests/s offered during the spike


def sample(base: datetime, second: float, metric: str, value: float) -> dict[str, Any]:
    return {
        "serviceName": SERVICE,
        "metricType": metric,
        "value": value,
        "timestamp": (base + timedelta(seconds=second)).isoformat(),
    }


def overloaded(base: datetime, start: int, stop: int, instances: int) -> list[dict[str, Any]]:
    """What an overloaded M/M/c service reports: it carries c x mu, fails the rest."""
    carried = instances * MU
    return [
        s
        for t in range(start, stop, 5)
        for s in (
            sample(base, t, "throughput", carried),
            sample(base, t, "cpu", 100.0),
            sample(base, t, "error_rate", 1 - carried / ARRIVAL),
        )
    ]


async def get(s: LiveServer, path: str, **params: Any) -> Any:
    response = await s.client.get(s.api(path), params=params, headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    return response.json()["data"]


@pytest.mark.settings(impact_settle_seconds=10.0, impact_window_seconds=30.0)
async def test_rule_with_auto_instances_sizes_in_one_step_and_is_checked(
    live_server: LiveServer,
) -> None:
    s = live_server
    config = await s.client.put(
        s.api("/autoscaling/config"),
        params={"serviceName": SERVICE},
        json={"minInstances": 2, "maxInstances": 20, "enabled": False},
        headers=s.auth(),
    )
    assert config.status_code == 200, config.text
    rule = await s.client.post(
        s.api("/rules"),
        json={
            "name": "Slow answers",
            "serviceName": SERVICE,
            "condition": {
                "metric": "latency",
                "operator": "gt",
                "threshold": 3000,
                "aggregation": "avg",
                "window": 60,
                "duration": 50,
            },
            "action": {"type": "scale_up", "parameters": {"instances": "auto"}},
        },
        headers=s.auth(),
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["data"]["action"]["parameters"] == {"instances": "auto"}

    base = datetime.now(UTC) - timedelta(seconds=600)
    # quiet history: latency at low load is the service time
    await s.push(*(sample(base, t, "latency", SERVICE_MS + t % 3 * 20) for t in range(0, 100, 10)))
    # the spike at 2 instances (the service's min): latency at the queue's cap
    await s.push(*overloaded(base, 200, 260, 2))
    await s.push(*(sample(base, t, "latency", 9000.0) for t in range(200, 260, 5)))

    [action] = await get(s, "/actions", serviceName=SERVICE)
    assert (action["type"], action["status"]) == ("scale_up", "executed")
    assert action["parameters"] == {"instances": "auto"}
    executed = 250  # pending from the spike's first latency sample, for `duration`
    assert datetime.fromisoformat(action["executedAt"]) == base + timedelta(seconds=executed)
    sizing = action["sizing"]
    inputs, prediction = sizing["inputs"], sizing["prediction"]
    # the model's inputs, read back from what was pushed
    assert inputs["arrivalRps"] == pytest.approx(ARRIVAL)
    assert inputs["serviceRatePerInstance"] == pytest.approx(MU)
    assert inputs["serviceTimeMs"] == pytest.approx(SERVICE_MS)
    assert (inputs["targetLatencyMs"], inputs["statistic"]) == (3000, "mean")
    assert inputs["currentInstances"] == 2
    # one step to the fewest instances meeting 3 s: c > lambda/mu = 5, and at c = 6 the mean
    # wait is C(6, 5) / (6 mu - lambda)
    expected = fewest_instances(
        QueueModel(ARRIVAL, MU, "fixed", SERVICE_MS / 1000),
        target_s=3.0,
        statistic="mean",
        min_instances=2,
        max_instances=20,
    )
    assert expected.instances == 6
    assert action["stateAfter"]["instances"] == 6
    predicted_ms = SERVICE_MS + 1000 * erlang_c(6, ARRIVAL / MU) / (6 * MU - ARRIVAL)
    assert prediction["latencyMs"] == pytest.approx(predicted_ms)
    assert prediction["meetsTarget"] is True
    assert "M/M/c" in action["reason"]

    # the service at 6 instances: latency near the prediction; the measurement window passes
    after = [predicted_ms * f for f in (0.97, 1.02, 1.05, 0.99, 1.01, 0.96, 1.03, 1.0)]
    await s.push(
        *(sample(base, executed + 12 + 4 * i, "latency", v) for i, v in enumerate(after)),
        sample(base, executed + 45, "latency", predicted_ms),
    )
    [measured] = await get(s, "/actions", serviceName=SERVICE)
    check = measured["sizing"]["verification"]
    window_values = after  # every sample within (executed + 10, executed + 40]
    mean = sum(window_values) / len(window_values)
    assert check["samples"] == len(window_values)
    assert check["measuredLatencyMs"] == pytest.approx(mean)
    assert check["relativeError"] == pytest.approx((mean - predicted_ms) / predicted_ms)
    assert check["metTarget"] is True
    assert measured["outcome"] == "improved"


async def test_auto_without_the_data_is_a_skip_that_says_why(live_server: LiveServer) -> None:
    s = live_server
    rule = await s.client.post(
        s.api("/rules"),
        json={
            "name": "Slow",
            "serviceName": SERVICE,
            "condition": {"metric": "latency", "operator": "gt", "threshold": 1000},
            "action": {"type": "scale_up", "parameters": {"instances": "auto"}},
        },
        headers=s.auth(),
    )
    assert rule.status_code == 201, rule.text
    await s.push(sample(datetime.now(UTC) - timedelta(seconds=5), 0, "latency", 5000.0))
    [action] = await get(s, "/actions", serviceName=SERVICE)
    assert action["status"] == "skipped"
    assert "no throughput samples" in action["reason"]
    assert action["stateAfter"]["instances"] == action["stateBefore"]["instances"]


@pytest.mark.parametrize("bad", ["many", 0, 1001, 2.5])
async def test_bad_instances_parameter_is_a_422_naming_it(
    live_server: LiveServer, bad: Any
) -> None:
    s = live_server
    r = await s.client.post(
        s.api("/rules"),
        json={
            "name": "x",
            "condition": {"metric": "latency", "operator": "gt", "threshold": 1},
            "action": {"type": "scale_up", "parameters": {"instances": bad}},
        },
        headers=s.auth(),
    )
    assert r.status_code == 422, r.text
    fields = {d["field"] for d in r.json()["error"]["details"]}
    assert any(f.startswith("action.parameters.instances") for f in fields), fields


async def test_autoscaler_mode_model_sizes_in_one_step(live_server: LiveServer) -> None:
    s = live_server
    missing = await s.client.put(
        s.api("/autoscaling/config"),
        params={"serviceName": SERVICE},
        json={"mode": "model"},
        headers=s.auth(),
    )
    assert missing.status_code == 422
    assert "targetLatency" in missing.text
    config = await s.client.put(
        s.api("/autoscaling/config"),
        params={"serviceName": SERVICE},
        json={
            "minInstances": 2,
            "maxInstances": 20,
            "mode": "model",
            "targetLatency": 2000,
            "latencyStatistic": "mean",
        },
        headers=s.auth(),
    )
    assert config.status_code == 200, config.text
    data = config.json()["data"]
    assert (data["mode"], data["targetLatency"], data["latencyStatistic"]) == (
        "model",
        2000,
        "mean",
    )
    base = datetime.now(UTC) - timedelta(seconds=300)
    await s.push(*(sample(base, t, "latency", SERVICE_MS) for t in range(0, 60, 10)))
    await s.push(*overloaded(base, 200, 260, 2))
    await s.push(*(sample(base, t, "latency", 9000.0) for t in range(200, 260, 5)))
    s.runner.tick_now((base + timedelta(seconds=260)).timestamp())
    await s.settle()
    [action] = await get(s, "/actions", source="autoscaler")
    expected = fewest_instances(
        QueueModel(ARRIVAL, MU, "fixed", SERVICE_MS / 1000),
        target_s=2.0,
        statistic="mean",
        min_instances=2,
        max_instances=20,
    )
    # HPA would give ceil(2 x 100 / 70) = 3; the model goes to the right size at once
    assert action["stateAfter"]["instances"] == expected.instances == 6
    assert action["sizing"]["prediction"]["instances"] == expected.instances
    assert "M/M/c" in action["reason"]
