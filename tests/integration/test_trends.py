"""GET /trends over HTTP on a real database: a stored series with a known cycle and trend."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import LiveServer

SERVICE = "trend-chat"


def series(
    end: datetime, minutes: int, *, labels: dict[str, str] | None = None, seed: int = 1
) -> list[dict[str, Any]]:
    """One latency sample a minute: 500 ms + 2 ms/min + a 60-min cycle of ±100 ms + noise."""
    rng = random.Random(seed)
    out = []
    for i in range(minutes):
        value = 500 + 2 * i + 100 * math.sin(2 * math.pi * i / 60) + rng.gauss(0, 10)
        sample: dict[str, Any] = {
            "serviceName": SERVICE,
            "metricType": "latency",
            "value": value,
            "timestamp": (end - timedelta(minutes=minutes - i)).isoformat(),
        }
        if labels:
            sample["labels"] = labels
        out.append(sample)
    return out


async def trends(s: LiveServer, **params: Any) -> Any:
    query = {"serviceName": SERVICE, "metricType": "latency"} | params
    return await s.client.get(s.api("/trends"), params=query, headers=s.auth("viewer"))


async def test_trend_season_forecast_and_error_are_reported(live_server: LiveServer) -> None:
    s = live_server
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    await s.push(*series(end, 350))
    r = await trends(s, period="24h", horizon="1h")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["stepSeconds"] == 60  # 24 h in at most 1,440 buckets
    [season] = data["seasonality"]
    assert abs(season["periodSeconds"] - 3600) <= 120 and season["kind"] == "cycle"
    low, high = data["trend"]["interval95"]
    assert low <= 2 * 1440 <= high  # 2 ms a minute is 2,880 ms a day
    assert data["changePoints"] == []
    assert data["trend"]["significant"] is True
    points = data["forecast"]["points"]
    assert data["forecast"]["horizonSeconds"] == 3600 and len(points) == 60
    assert all(p["lo95"] <= p["lo80"] <= p["mean"] <= p["hi80"] <= p["hi95"] for p in points)
    fit = data["fit"]
    assert fit["model"].startswith("STL(") and "ETS(A,A,N)" in fit["model"]
    assert fit["samples"] == 350 and "over the last 24h" in fit["basis"]
    assert 0 <= fit["holdoutMape"] < 0.1 and fit["holdoutPoints"] > 0


async def test_label_filter_selects_the_labelled_series(live_server: LiveServer) -> None:
    s = live_server
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    await s.push(*series(end, 100, labels={"model": "gpt-4"}))
    r = await trends(s, period="2h", **{"labels[model]": "gpt-4"})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["labels"] == {"model": "gpt-4"}
    assert r.json()["data"]["fit"]["samples"] == 100
    other = await trends(s, period="2h", **{"labels[model]": "other"})
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "insufficient_history"


async def test_short_history_says_so(live_server: LiveServer) -> None:
    s = live_server
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    await s.push(*series(end, 10))
    r = await trends(s, period="1h")
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "insufficient_history"
    assert "History too short" in error["message"] and "at least 24" in error["message"]
    assert error["details"][0]["field"] == "period"


async def test_bad_input_is_a_422_naming_the_field(live_server: LiveServer) -> None:
    s = live_server
    for params, field in (
        ({"period": "7 days"}, "period"),
        ({"period": "500d"}, "period"),
        ({"period": "1h", "horizon": "30d"}, "horizon"),
        ({"metricType": "nope"}, "metricType"),
        ({"labels[bad-name]": "x"}, "labels[bad-name]"),
    ):
        r = await trends(s, **params)
        assert r.status_code == 422, (params, r.text)
        fields = [d["field"] for d in r.json()["error"]["details"]]
        assert any(field in f for f in fields), (params, fields)
    missing = await s.client.get(s.api("/trends"), headers=s.auth("viewer"))
    assert missing.status_code == 422


async def test_report_trend_section_cites_the_trend_figures(live_server: LiveServer) -> None:
    s = live_server
    end = datetime.now(UTC).replace(second=0, microsecond=0)
    await s.push(*series(end, 350))
    period = {"start": (end - timedelta(hours=6)).isoformat(), "end": end.isoformat()}
    r = await s.client.post(
        s.api("/reports"),
        json={"serviceName": SERVICE, "reportType": "custom", "period": period},
        headers=s.auth(),
    )
    assert r.status_code == 201, r.text
    [latency] = r.json()["data"]["summary"]["trends"]
    assert latency["metricType"] == "latency"
    low, high = latency["interval95"]
    assert low <= 2880 <= high and latency["significant"] is True
    assert abs(latency["seasonPeriodSeconds"] - 3600) <= 120
    assert latency["samples"] == 350 and latency["holdoutMape"] < 0.1
    # the sentence cites the figures it rests on
    assert f"{latency['perDay']:+.4g}/day" in latency["statement"]
    assert "rising" in latency["statement"] and latency["model"] in latency["statement"]
    html = await s.client.get(
        s.api(f"/reports/{r.json()['data']['id']}"),
        params={"format": "html"},
        headers=s.auth("viewer"),
    )
    assert html.status_code == 200
    assert "<h2>Trends</h2>" in html.text and "latency: rising" in html.text
