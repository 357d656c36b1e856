"""A report as CSV (its summary, one field per row) and as a self-contained HTML page."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Iterator
from datetime import datetime
from html import escape
from typing import Any

from perfpilot.metrics.units import REGISTRY
from perfpilot.reports.chart import latency_svg
from perfpilot.reports.schemas import ReportOut

# summary field -> (label, unit) for the HTML table
_SUMMARY_ROWS: list[tuple[str, str, str]] = [
    ("total_requests", "Total requests", ""),
    ("throughput_seconds", "Throughput integrated over", "s"),
    ("average_throughput", "Average throughput", "rps"),
    ("average_latency", "Average latency", "ms"),
    ("latency_p50", "Latency p50", "ms"),
    ("latency_p95", "Latency p95", "ms"),
    ("latency_p99", "Latency p99", "ms"),
    ("error_rate", "Error rate", "ratio"),
    ("success_rate", "Success rate", "ratio"),
    ("average_accuracy", "Average accuracy", "ratio"),
    ("total_cost", "Total cost", "usd"),
    ("average_cpu", "Average CPU", "percent"),
    ("average_memory", "Average memory", "mb"),
]
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;color:#111827;"
    "padding:0 1rem}h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}"
    "table{border-collapse:collapse}td,th{border:1px solid #d1d5db;padding:.3rem .6rem;"
    "text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}"
    ".muted{color:#6b7280}li{margin:.6rem 0}code{font-size:.85em}"
)
STYLE_HASH = "sha256-" + base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()
# what the HTML page needs and nothing more: its own style block, inline SVG
HTML_CSP = f"default-src 'none'; style-src '{STYLE_HASH}'; frame-ancestors 'none'"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _summary_fields(report: ReportOut) -> Iterator[tuple[str, Any]]:
    summary = report.summary.model_dump(mode="json", by_alias=True, exclude={"latency_timeline"})
    for key, value in summary.items():
        if key == "trends":  # one row per figure: trends.<type>.<field>
            for trend in value:
                for leaf, leaf_value in trend.items():
                    if leaf != "metricType":
                        yield f"trends.{trend['metricType']}.{leaf}", leaf_value
        elif isinstance(value, dict):
            for sub, inner in value.items():
                if isinstance(inner, dict):
                    for leaf, leaf_value in inner.items():
                        yield f"{key}.{sub}.{leaf}", leaf_value
                else:
                    yield f"{key}.{sub}", inner
        else:
            yield key, value


def to_csv(report: ReportOut) -> str:
    """`field,value` rows: the report's identity and period, then every summary figure."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["field", "value"])
    writer.writerow(["reportId", str(report.id)])
    writer.writerow(["serviceName", report.service_name])
    writer.writerow(["reportType", report.report_type])
    writer.writerow(["periodStart", report.period.start.isoformat()])
    writer.writerow(["periodEnd", report.period.end.isoformat()])
    writer.writerow(["generatedAt", report.generated_at.isoformat()])
    for field, value in _summary_fields(report):
        writer.writerow([field, _cell(value)])
    return out.getvalue()


def _number(value: float | int | None, unit: str = "") -> str:
    if value is None:
        return '<span class="muted">no data</span>'
    if unit == "ratio":
        text = f"{value:.2%}"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif unit == "usd":
        text = f"{value:,.4f} USD"
    else:
        text = f"{value:,.6g} {unit}".strip()
    return escape(text)


def _when(value: datetime) -> str:
    return escape(value.strftime("%Y-%m-%d %H:%M:%S UTC"))


def _summary_table(report: ReportOut) -> str:
    s = report.summary
    rows = []
    for field, label, unit in _SUMMARY_ROWS:
        value = getattr(s, field)
        if field == "total_requests":
            label += f" <span class='muted'>({escape(s.total_requests_basis)})</span>"
        if field.startswith("latency_p") and s.latency_percentile_basis:  # of what: say it
            label += f" <span class='muted'>(from {escape(s.latency_percentile_basis)})</span>"
        rows.append(
            f'<tr><th>{label}</th><td class="n" align="right">{_number(value, unit)}</td></tr>'
        )
    counts = ", ".join(f"{escape(k)} {v:,}" for k, v in s.sample_counts.items() if v)
    rows.append(f"<tr><th>Samples</th><td>{counts or 'none'}</td></tr>")
    by_severity = ", ".join(f"{escape(k)} {v}" for k, v in s.alert_counts.by_severity.items())
    rows.append(f"<tr><th>Alerts</th><td>{s.alert_counts.total} ({by_severity})</td></tr>")
    return f'<table border="1" cellpadding="4">{"".join(rows)}</table>'


def _optimizations(report: ReportOut) -> str:
    if not report.optimizations:
        return '<p class="muted">No actions in this period.</p>'
    head = (
        "<tr><th>Action</th><th>Executed</th><th>Measured</th><th>Mean impact</th>"
        "<th>What happened</th><th>Recommendation</th></tr>"
    )
    rows = [
        f"<tr><td><code>{escape(o.type)}</code></td><td align='right'>{o.executed}</td>"
        f"<td align='right'>{o.measured}</td><td align='right'>"
        f"{'—' if o.impact is None else escape(f'{o.impact:+.1%}')}</td>"
        f"<td>{escape(o.description)}</td><td>{escape(o.recommendation or '—')}</td></tr>"
        for o in report.optimizations
    ]
    return f'<table border="1" cellpadding="4">{head}{"".join(rows)}</table>'


def _evidence(evidence: dict[str, Any]) -> str:
    items = []
    for key, value in evidence.items():
        shown = (
            _cell(value)
            if not isinstance(value, dict)
            else ", ".join(f"{k} {v}" for k, v in value.items())
        )
        items.append(f"<code>{escape(key)}</code> {escape(shown or '—')}")
    return "; ".join(items)


def _recommendations(report: ReportOut) -> str:
    if not report.recommendations:
        return '<p class="muted">The data of this period calls for nothing.</p>'
    items = [
        f"<li><strong>{escape(r.kind)}</strong>: {escape(r.message)}<br>"
        f'<small class="muted">Evidence: {_evidence(r.evidence)}</small></li>'
        for r in report.recommendations
    ]
    return f"<ol>{''.join(items)}</ol>"


def _trends(report: ReportOut) -> str:
    if not report.summary.trends:
        return '<p class="muted">No trend: no samples of the main types in the period.</p>'
    items = [f"<li>{escape(t.statement)}</li>" for t in report.summary.trends]
    return f"<ul>{''.join(items)}</ul>"


def to_html(report: ReportOut) -> str:
    """One self-contained page: chart, summary, actions, recommendations. Every dynamic text
    is escaped; nothing is fetched from the network."""
    s = report.summary
    chart = latency_svg(
        s.latency_timeline,
        end=report.period.end,
        marks={"p50": s.latency_p50, "p95": s.latency_p95, "p99": s.latency_p99},
    )
    title = f"{report.service_name} — {report.report_type} report"
    unit = REGISTRY["latency"].canonical
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f'<p class="muted">{_when(report.period.start)} → {_when(report.period.end)} · '
        f"generated {_when(report.generated_at)} · report <code>{report.id}</code></p>"
        f"<h2>Latency ({unit})</h2>{chart}"
        f"<h2>Summary</h2>{_summary_table(report)}"
        f"<h2>Trends</h2>{_trends(report)}"
        f"<h2>Optimizations</h2>{_optimizations(report)}"
        f"<h2>Recommendations</h2>{_recommendations(report)}"
        "</body></html>"
    )
