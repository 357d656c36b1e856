"""Generate, store and read optimization reports."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.actions import repository as actions_repo
from perfpilot.autoscaling.service import effective_config
from perfpilot.core.errors import NotFound
from perfpilot.core.pagination import decode_cursor, encode_cursor
from perfpilot.cost.advice import cheaper_model
from perfpilot.cost.service import cost_by_model
from perfpilot.metrics.units import REGISTRY, SEED_METRIC_TYPES
from perfpilot.models import OptimizationReport
from perfpilot.reports import repository
from perfpilot.reports import series_repository as series
from perfpilot.reports.aggregate import PeriodFigures, period_figures, rate, throughput_integral
from perfpilot.reports.groups import group_figures
from perfpilot.reports.histograms import histogram_figures
from perfpilot.reports.optimizations import optimizations
from perfpilot.reports.percentiles import QUANTILES
from perfpilot.reports.periods import resolve_period, seconds_between
from perfpilot.reports.recommendations import (
    NOISY_MIN_FIRINGS,
    SHORT_ALERT_SECONDS,
    CapacityFacts,
    ReportFacts,
    TypeFigures,
    recommend,
)
from perfpilot.reports.schemas import (
    AlertCounts,
    HistogramFigures,
    OptimizationOut,
    PercentileBasis,
    PeriodOut,
    RecommendationOut,
    ReportIn,
    ReportOut,
    ReportSummary,
)
from perfpilot.reports.trends import trend_section

SEVERITIES = ("low", "medium", "high", "critical")


def _summary(
    figures: PeriodFigures,
    alerts: dict[str, int],
    histograms: dict[str, HistogramFigures],
    *,
    silenced: int = 0,
) -> ReportSummary:
    s = figures.stats
    p = dict(zip(QUANTILES, figures.latency.percentiles or (None,) * len(QUANTILES), strict=True))
    basis: PercentileBasis | None = "samples" if figures.latency.percentiles else None
    average_latency = s["latency"].mean
    latency = histograms.get("latency")
    if latency is not None and latency.count:  # as rules: a histogram series is judged by them
        basis = "histogram"
        p = {0.5: latency.p50, 0.95: latency.p95, 0.99: latency.p99}
        if average_latency is None:
            average_latency = latency.average
    return ReportSummary(
        total_requests=figures.total_requests,
        total_requests_basis=figures.total_requests_basis,
        throughput_seconds=figures.throughput.seconds,
        average_latency=average_latency,
        average_throughput=figures.mean("throughput"),
        average_accuracy=s["accuracy"].mean,
        total_cost=s["cost"].total if s["cost"].count else None,
        error_rate=s["error_rate"].mean,
        success_rate=s["success_rate"].mean,
        latency_p50=p[0.5],
        latency_p95=p[0.95],
        latency_p99=p[0.99],
        average_memory=s["memory"].mean,
        average_cpu=s["cpu"].mean,
        sample_counts={  # the seed's eight always, every other registered type once it has data
            metric: s[metric].count
            for metric in REGISTRY.names()
            if metric in SEED_METRIC_TYPES or (metric in s and s[metric].count)
        },
        alert_counts=AlertCounts(
            total=sum(alerts.values()),
            by_severity={severity: alerts.get(severity, 0) for severity in SEVERITIES},
            silenced=silenced,
        ),
        latency_timeline=figures.latency.timeline,
        latency_percentile_basis=basis,
        histograms=histograms,
        averages={m: figures.mean(m) for m in REGISTRY.names() if m in s and s[m].count},
    )


async def _capacity(session: AsyncSession, service_name: str) -> CapacityFacts | None:
    config = await effective_config(session, service_name)
    if config.metric not in REGISTRY:
        return None
    state = await actions_repo.get_state(session, service_name)
    return CapacityFacts(
        metric=config.metric,
        scale_down_threshold=config.scale_down_threshold,
        target_utilization=config.target_utilization,
        min_instances=config.min_instances,
        instances=state.instances if state is not None else None,
    )


async def _previous_period(
    session: AsyncSession, service: str, start: datetime, end: datetime, *, max_gap_seconds: float
) -> dict[str, TypeFigures]:
    """The same figures for the period of equal length before, for trends."""
    stats = await series.series_stats(session, service, REGISTRY.names(), start, end)
    out = {m: TypeFigures(s.count, s.mean, s.maximum) for m, s in stats.items()}
    if "throughput" in stats:  # a rate: compared time-weighted, as in the report
        integral = await throughput_integral(
            session, service, start, end, max_gap_seconds=max_gap_seconds
        )
        out["throughput"] = TypeFigures(stats["throughput"].count, rate(integral), None)
    return out


async def _build(
    reader: AsyncSession,
    side: AsyncSession,
    body: ReportIn,
    start: datetime,
    end: datetime,
    *,
    max_gap_seconds: float,
) -> OptimizationReport:
    service = body.service_name
    figures = await period_figures(
        reader, service, start, end, max_gap_seconds=max_gap_seconds, side=side
    )
    alerts = await repository.alert_counts(reader, service, start, end)
    silenced = await repository.silenced_alert_count(reader, service, start, end)
    histograms = await histogram_figures(reader, service, start, end)
    groups = await repository.action_groups(reader, service, start, end)
    length = end - start
    facts = ReportFacts(
        service_name=service,
        period_seconds=seconds_between(start, end),
        previous_start=start - length,
        previous_end=start,
        current={
            m: TypeFigures(s.count, figures.mean(m), s.maximum) for m, s in figures.stats.items()
        },
        previous=await _previous_period(
            reader, service, start - length, start, max_gap_seconds=max_gap_seconds
        ),
        firings=await repository.rule_firings(
            reader,
            service,
            start,
            end,
            min_firings=NOISY_MIN_FIRINGS,
            short_seconds=SHORT_ALERT_SECONDS,
        ),
        actions=groups,
        capacity=await _capacity(reader, service),
        alerts=sum(alerts.values()),
    )
    summary = _summary(figures, alerts, histograms, silenced=silenced)
    if body.group_by is not None:
        summary.groups = await group_figures(reader, service, body.group_by, start, end)
    summary.cost_by_model = await cost_by_model(reader, service, start, end)
    state = await actions_repo.get_state(reader, service)
    advice = await cheaper_model(
        reader,
        service,
        summary.cost_by_model,
        current_model=state.model if state is not None else None,
        start=start,
        end=end,
    )
    recommendations = [r.model_dump(mode="json", by_alias=True) for r in recommend(facts)]
    if advice is not None:
        recommendations.append(
            RecommendationOut.model_validate(advice).model_dump(mode="json", by_alias=True)
        )
    with_data = {m for m, st in figures.stats.items() if st.count}
    summary.trends = await trend_section(reader, service, start, end, with_data=with_data)
    return OptimizationReport(
        id=uuid.uuid4(),
        service_name=service,
        report_type=body.report_type,
        period=PeriodOut(start=start, end=end).model_dump(mode="json", by_alias=True),
        summary=summary.model_dump(mode="json", by_alias=True),
        optimizations=[o.model_dump(mode="json", by_alias=True) for o in optimizations(groups)],
        recommendations=recommendations,
        generated_at=datetime.now(UTC),
    )


async def create_report(
    session: AsyncSession,
    body: ReportIn,
    *,
    readers: async_sessionmaker[AsyncSession],
    max_gap_seconds: float,
    now: datetime | None = None,
) -> OptimizationReport:
    """Aggregate the period in the database, derive optimizations and recommendations, store.

    The reads run on two connections of their own (`readers`), in parallel where they are
    independent; `session` only writes the report, so that write never depends on a read
    that took a second or more while samples kept arriving (SQLite refuses to turn a read
    snapshot that another commit has overtaken into a write).
    """
    requested = (body.period.start, body.period.end) if body.period else None
    start, end = resolve_period(body.report_type, requested, now=now or datetime.now(UTC))
    async with readers() as reader, readers() as side:
        await series.begin_snapshot(reader)
        await series.begin_snapshot(side)
        report = await _build(reader, side, body, start, end, max_gap_seconds=max_gap_seconds)
    await repository.add_report(session, report)
    return report


def report_out(report: OptimizationReport) -> ReportOut:
    return ReportOut(
        id=report.id,
        service_name=report.service_name,
        report_type=report.report_type,
        period=PeriodOut.model_validate(report.period),
        summary=ReportSummary.model_validate(report.summary),
        optimizations=[OptimizationOut.model_validate(o) for o in report.optimizations],
        recommendations=[RecommendationOut.model_validate(r) for r in report.recommendations],
        generated_at=report.generated_at,
    )


async def get_report(session: AsyncSession, report_id: uuid.UUID) -> ReportOut:
    report = await repository.get_report(session, report_id)
    if report is None:
        raise NotFound(f"Report {report_id} not found")
    return report_out(report)


async def list_reports(
    session: AsyncSession,
    *,
    service_name: str | None,
    report_type: str | None,
    limit: int,
    cursor: str | None,
) -> tuple[list[ReportOut], str | None]:
    rows = await repository.list_reports(
        session,
        service_name=service_name,
        report_type=report_type,
        limit=limit + 1,
        after=decode_cursor(cursor) if cursor else None,
    )
    page = list(rows[:limit])
    next_cursor = (
        encode_cursor(page[-1].generated_at, page[-1].id) if len(rows) > limit and page else None
    )
    return [report_out(r) for r in page], next_cursor
