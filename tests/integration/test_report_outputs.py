"""Exact percentiles over many samples, and the report's CSV and HTML renderings."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from perfpilot.reports import series_repository as series
from perfpilot.reports.percentiles import (
    PROBES,
    QUANTILES,
    RankPlan,
    choose_bands,
    plan_ranks,
    rank_target,
)
from tests.conftest import LiveServer
from tests.envelope import assert_error
from tests.integration.report_data import (
    SERVICE,
    base_minute,
    custom,
    post_report,
    sample,
    seed_alerts_and_actions,
    seed_period,
)


def _reference_percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    first = int(position)
    if first == position:
        return ordered[first]
    return ordered[first] + (position - first) * (ordered[first + 1] - ordered[first])


@pytest.mark.parametrize("layout", ["even", "burst"])
async def test_percentiles_over_many_samples_are_exact(
    live_server: LiveServer, layout: str
) -> None:
    """30,000 samples: above the SQLite full-sort threshold, so the banded method runs (and,
    for the burst layout whose time-spread probes mislead the bands, falls back)."""
    s = live_server
    t0 = base_minute()
    n = 30_000
    values = [float((i * 7919) % n + 1) for i in range(n)]  # a permutation of 1..n
    if layout == "even":
        times = [t0 + timedelta(seconds=i * 0.1) for i in range(n)]
    else:  # most samples in the first second, the large ones spread over the hour
        values = sorted(values)
        times = [
            t0 + timedelta(microseconds=30 * i)
            if i < 29_000
            else t0 + timedelta(seconds=1 + 3.5 * (i - 29_000))
            for i in range(n)
        ]
    for lo in range(0, n, 10_000):
        await s.push(*(sample("latency", values[i], times[i]) for i in range(lo, lo + 10_000)))
    summary = (await post_report(s, custom(t0, t0 + timedelta(hours=1)))).json()["data"]["summary"]
    assert summary["sampleCounts"]["latency"] == n
    assert summary["averageLatency"] == (n + 1) / 2
    assert summary["latencyP50"] == _reference_percentile(values, 0.5)
    assert summary["latencyP95"] == _reference_percentile(values, 0.95)
    assert summary["latencyP99"] == _reference_percentile(values, 0.99)
    if s.ctx.settings.is_sqlite:  # and the method was the one the layout calls for
        plan = await _sqlite_rank_plan(s, t0, t0 + timedelta(hours=1), n)
        assert plan.full_sort is (layout == "burst")


async def _sqlite_rank_plan(s: LiveServer, start: datetime, end: datetime, n: int) -> RankPlan:
    async with s.ctx.sessionmaker() as session:
        sample = await series.probe_sample(session, SERVICE, "latency", start, end, probes=PROBES)
        bands = choose_bands(sample)
        buckets = await series.bucket_stats(session, SERVICE, "latency", [start, end], bands)
    [bucket] = buckets
    return plan_ranks(n, [rank_target(q, n) for q in QUANTILES], bands, bucket.below)


async def test_csv_and_html_formats(live_server: LiveServer) -> None:
    s = live_server
    t0 = base_minute()
    start, end = await seed_period(s, t0)
    await seed_alerts_and_actions(s, t0)
    report = (await post_report(s, custom(start, end))).json()["data"]
    url = s.api(f"/reports/{report['id']}")

    csv_response = await s.client.get(url, params={"format": "csv"}, headers=s.auth("viewer"))
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in csv_response.headers["content-disposition"]
    rows = dict(line.split(",", 1) for line in csv_response.text.strip().split("\r\n"))
    assert rows["field"] == "value"
    assert rows["reportId"] == report["id"]
    assert rows["totalRequests"] == "13200"
    assert rows["latencyP50"] == "1050.0"
    assert rows["averageCpu"] == "19.0"
    assert rows["sampleCounts.error_rate"] == "2"
    assert rows["alertCounts.bySeverity.medium"] == "5"
    assert float(rows["latencyP95"]) == report["summary"]["latencyP95"]
    assert not any(key.startswith("latencyTimeline") for key in rows)

    html = await s.client.get(url, params={"format": "html"}, headers=s.auth("viewer"))
    assert html.status_code == 200
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    page = html.text
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<svg") == 1 and "<polyline" in page
    for text in ("13,200", "1,050 ms", "Flappy latency", "idle_capacity", "cache_clear"):
        assert text in page, text
    # self-contained: nothing to fetch, nothing to run
    for forbidden in ("http://", "https://", "<script", "<link", "<img", "<iframe", "@import"):
        assert forbidden not in page, forbidden
    assert "style-src 'sha256-" in html.headers["content-security-policy"]

    bad = await s.client.get(url, params={"format": "pdf"}, headers=s.auth("viewer"))
    assert_error(bad, 422, "validation_error")
