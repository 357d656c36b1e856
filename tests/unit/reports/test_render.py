"""CSV and HTML renderings: complete, escaped, self-contained."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree

from perfpilot.reports.chart import latency_svg, nice_ceiling
from perfpilot.reports.render import HTML_CSP, STYLE_HASH, to_csv, to_html
from perfpilot.reports.schemas import (
    AlertCounts,
    LatencyTimeline,
    OptimizationOut,
    PeriodOut,
    RecommendationOut,
    ReportOut,
    ReportSummary,
    TimelinePoint,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(hours=2)


def report(points: list[TimelinePoint] | None = None) -> ReportOut:
    timeline = LatencyTimeline(
        bucket_seconds=3600.0,
        points=points
        if points is not None
        else [
            TimelinePoint(start=START, count=2, average=150.0, max=200.0),
            TimelinePoint(start=START + timedelta(hours=1), count=0, average=None, max=None),
        ],
    )
    summary = ReportSummary(
        total_requests=1234,
        total_requests_basis="throughput",
        throughput_seconds=60.0,
        average_latency=150.0,
        average_throughput=20.5,
        average_accuracy=None,
        total_cost=0.1,
        error_rate=0.015,
        success_rate=None,
        latency_p50=150.0,
        latency_p95=195.0,
        latency_p99=199.0,
        average_memory=None,
        average_cpu=None,
        sample_counts={"latency": 2, "throughput": 1},
        alert_counts=AlertCounts(total=1, by_severity={"low": 0, "high": 1}),
        latency_timeline=timeline,
    )
    return ReportOut(
        id=uuid.UUID(int=5),
        service_name="svc",
        report_type="custom",
        period=PeriodOut(start=START, end=END),
        summary=summary,
        optimizations=[
            OptimizationOut(
                type="scale_up",
                impact=0.25,
                description="1 scale_up executed <b>",
                recommendation=None,
                executed=1,
                skipped=0,
                failed=0,
                dry_run=0,
                measured=1,
                improved=1,
                worsened=0,
                no_change=0,
                capacity_saved=0,
                unmeasured=0,
                pending=0,
                overlapped=0,
                metrics=["latency"],
            )
        ],
        recommendations=[
            RecommendationOut(
                kind="noisy_rule",
                message="Rule '<script>alert(1)</script>' fired",
                evidence={"ruleName": "<script>", "previousPeriod": {"start": "a&b"}},
            )
        ],
        generated_at=END,
    )


def test_csv_has_every_summary_field_once() -> None:
    rows = list(csv.reader(io.StringIO(to_csv(report()))))
    assert rows[0] == ["field", "value"]
    fields = dict(rows[1:])
    assert fields["reportId"] == str(uuid.UUID(int=5))
    assert fields["periodStart"] == "2026-03-01T00:00:00+00:00"
    assert fields["totalRequests"] == "1234"
    assert fields["errorRate"] == "0.015"
    assert fields["averageAccuracy"] == ""  # no data: empty, not 0
    assert fields["sampleCounts.throughput"] == "1"
    assert fields["alertCounts.bySeverity.high"] == "1"
    assert len(rows) - 1 == len(fields)


def test_html_escapes_and_fetches_nothing() -> None:
    page = to_html(report())
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "executed &lt;b&gt;" in page and "a&amp;b" in page
    assert "http" not in page.replace("http-equiv", "")
    assert "1,234" in page and "1.50%" in page and "no data" in page
    assert f"'{STYLE_HASH}'" in HTML_CSP


def test_chart_breaks_the_line_where_there_is_no_data() -> None:
    points = [
        TimelinePoint(start=START + timedelta(minutes=i), count=c, average=a, max=a)
        for i, (c, a) in enumerate([(1, 10.0), (1, 20.0), (0, None), (1, 30.0), (1, 40.0)])
    ]
    timeline = LatencyTimeline(bucket_seconds=60.0, points=points)
    svg = latency_svg(timeline, end=START + timedelta(minutes=5), marks={"p95": 38.0})
    assert svg.count("<polyline") == 4  # two runs, average and max each
    ElementTree.fromstring(svg)  # well-formed
    assert "p95 38" in svg
    empty = latency_svg(LatencyTimeline(bucket_seconds=60.0, points=[]), end=END, marks={})
    assert "No latency samples" in empty


def test_axis_tops() -> None:
    assert [nice_ceiling(v) for v in (0, 0.7, 1, 3, 5001, 95)] == [
        1.0,
        1.0,
        1.0,
        5.0,
        10000.0,
        100.0,
    ]
