"""GET /series from the per-minute rollups and split by label (both stores).

The rollups are kept by the ingest writer as samples commit; a chart read from them must be
the chart the raw samples give: the same buckets, counts, minima, maxima and averages.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import LiveServer
from tests.envelope import assert_error

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MODELS = ("gpt-4", "llama-3")


def at(seconds: float) -> str:
    return (START + timedelta(seconds=seconds)).isoformat()


def sample(value: float, seconds: float, **labels: str) -> dict[str, Any]:
    body: dict[str, Any] = {
        "serviceName": "chat",
        "metricType": "latency",
        "value": value,
        "timestamp": at(seconds),
    }
    if labels:
        body["labels"] = labels
    return body


async def series(s: LiveServer, **params: Any) -> dict[str, Any]:
    query = {"serviceName": "chat", "metricType": "latency", **params}
    response = await s.client.get(s.api("/series"), params=query, headers=s.auth("viewer"))
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def push_history(s: LiveServer) -> list[dict[str, Any]]:
    """Two hours of samples, some on exact minute and bucket edges, some labelled, in several
    batches (so minutes are merged into rollups more than once). Values are multiples of 1/4:
    every sum is exact, whichever order it is added in."""
    rng = random.Random(12)
    pushed = [sample(rng.randrange(0, 40_000) / 4, rng.uniform(0, 7200)) for _ in range(900)]
    pushed += [sample(1000 + k, k * 60.0) for k in range(0, 121, 5)]  # on minute edges
    pushed += [sample(2000 + k, k * 60.0 - 0.0001) for k in range(1, 121, 7)]  # a hair before
    pushed += [
        sample(rng.randrange(0, 4000) / 4, rng.uniform(0, 7200), model=rng.choice(MODELS))
        for _ in range(300)
    ]
    rng.shuffle(pushed)
    for start in range(0, len(pushed), 200):
        await s.push(*pushed[start : start + 200])
    return pushed


async def test_rollups_give_the_buckets_the_samples_give(live_server: LiveServer) -> None:
    s = live_server
    await push_history(s)
    for points, since, until in [
        (120, 0, 7200),  # one-minute buckets
        (24, 0, 7200),  # five-minute buckets
        (7, 600, 7200 - 300),  # 15-minute buckets, not from the first sample
        (1, 0, 7200),
    ]:
        window = {"since": at(since), "until": at(until), "points": points}
        raw = await series(s, **window, source="samples")
        rolled = await series(s, **window, source="rollups")
        auto = await series(s, **window)
        assert raw["source"] == "samples"
        assert rolled["source"] == "rollups" and auto["source"] == "rollups"
        assert rolled["buckets"] == raw["buckets"], (points, since, until)
        assert auto["buckets"] == raw["buckets"]
        assert sum(b["count"] for b in raw["buckets"]) > 0
    # everything pushed is counted once: 1,243 samples over the two hours
    whole = await series(s, since=at(0), until=at(7260), points=121)
    assert sum(b["count"] for b in whole["buckets"]) == 900 + 25 + 18 + 300


async def test_rollups_split_by_label_match_the_samples(live_server: LiveServer) -> None:
    s = live_server
    pushed = await push_history(s)
    window = {"since": at(0), "until": at(7200), "points": 24}
    for source in ("samples", "rollups"):
        gpt = await series(s, **window, source=source, **{"labels[model]": "gpt-4"})
        expected = [p for p in pushed if p.get("labels") == {"model": "gpt-4"}]
        assert gpt["labels"] == {"model": "gpt-4"}
        assert sum(b["count"] for b in gpt["buckets"]) == len(expected)
        assert max(b["max"] for b in gpt["buckets"]) == max(p["value"] for p in expected)
        split = await series(s, **window, source=source, groupBy="model")
        assert [g["labels"] for g in split["groups"]] == [{"model": m} for m in MODELS]
        assert split["groups"][0]["buckets"] == gpt["buckets"]
        # the whole series still holds every sample, labelled or not (until is exclusive)
        inside = [p for p in pushed if p["timestamp"] < at(7200)]
        assert sum(b["count"] for b in split["buckets"]) == len(inside)
    raw = await series(s, **window, source="samples", groupBy="model")
    rolled = await series(s, **window, source="rollups", groupBy="model")
    assert raw["groups"] == rolled["groups"] and raw["buckets"] == rolled["buckets"]


async def test_a_label_nobody_has_gives_no_buckets(live_server: LiveServer) -> None:
    s = live_server
    await s.push(sample(5, 10, model="gpt-4"))
    window = {"since": at(0), "until": at(3600), "points": 60}
    data = await series(s, **window, **{"labels[model]": "nope"})
    assert data["buckets"] == []
    data = await series(s, **window, groupBy="region")
    assert data["groups"] == [] and data["buckets"][0]["count"] == 1


async def test_bad_label_parameters_are_422_naming_the_field(live_server: LiveServer) -> None:
    s = live_server
    base = {"serviceName": "chat", "metricType": "latency", "since": at(0), "until": at(3600)}
    for params, field in [
        ({"labels[1model]": "x"}, "labels[1model]"),
        ({"labels[model]": ""}, "labels[model]"),
        ({"groupBy": "no-dashes"}, "groupBy"),
        ({"source": "disk"}, "source"),
        ({"source": "rollups", "points": 7}, "source"),  # 514.3 s buckets: not whole minutes
    ]:
        response = await s.client.get(
            s.api("/series"), params={**base, **params}, headers=s.auth("viewer")
        )
        details = assert_error(response, 422, "validation_error")["details"]
        assert field in [d["field"] for d in details], (params, details)
