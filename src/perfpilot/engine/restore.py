"""Rebuilds the evaluation core from the database at start: rules, open alerts, pending
timers and recent windows. A restart loses no timer and duplicates no alert."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.alerts import repository as alert_repo
from perfpilot.engine.core import EvaluationCore, Pair
from perfpilot.engine.histograms import Histogram
from perfpilot.engine.state_machine import Phase
from perfpilot.engine.windows import Sample
from perfpilot.metrics import histogram_repository
from perfpilot.metrics import repository as metrics_repo
from perfpilot.metrics.labels import group_of
from perfpilot.models import MetricSeries, OptimizationRule, PerformanceAlert, PerformanceMetric
from perfpilot.rules.service import InvalidStoredRule, rule_spec

log = structlog.get_logger("perfpilot.engine")


async def restore_core(
    core: EvaluationCore,
    session: AsyncSession,
    *,
    now: float,
    no_data_after: float,
    max_samples: int,
) -> dict[Pair, uuid.UUID]:
    """Load everything into `core`; returns the open alert of each (rule, service)."""
    await restore_rules(core, session)
    open_alerts = await restore_states(core, session)
    await load_windows(core, session, now=now, no_data_after=no_data_after, max_samples=max_samples)
    return open_alerts


async def restore_rules(core: EvaluationCore, session: AsyncSession) -> None:
    for rule in (await session.execute(select(OptimizationRule))).scalars().all():
        try:
            spec = rule_spec(rule)
        except InvalidStoredRule as exc:
            # one unusable rule must not keep the server down: skip it, GET /rules says why
            log.warning("rule_invalid_skipped", rule_id=str(rule.id), reason=str(exc))
            continue
        core.upsert_rule(spec)


async def restore_states(
    core: EvaluationCore, session: AsyncSession, owns: Callable[[str], bool] | None = None
) -> dict[Pair, uuid.UUID]:
    """Open alerts and pending/firing states (of the services `owns` accepts, default all);
    returns the open alert of each pair."""
    open_alerts: dict[Pair, uuid.UUID] = {}
    for alert in await alert_repo.open_alerts(session):
        if alert.rule_id is not None and (owns is None or owns(alert.service_name)):
            open_alerts[(str(alert.rule_id), alert.service_name, group_of(alert.labels))] = alert.id
    restored: set[Pair] = set()
    for row in await alert_repo.load_states(session):
        if owns is not None and not owns(row.service_name):
            continue
        state = dict(row.state)
        try:
            pair = (str(row.rule_id), row.service_name, group_of(orjson.loads(row.labels)))
            if state.get("phase") == Phase.FIRING and pair not in open_alerts:
                continue  # resolved by hand while we were down: re-arm from inactive
            if core.restore(pair[0], pair[1], state, pair[2]):
                restored.add(pair)
        except (TypeError, ValueError) as exc:  # a hand-edited state: start that pair afresh
            log.warning(
                "rule_state_invalid_skipped",
                rule_id=str(row.rule_id),
                service=row.service_name,
                reason=str(exc),
            )
    for pair, alert_id in open_alerts.items():
        if pair in restored:
            continue
        alert_row = await session.get(PerformanceAlert, alert_id)
        if alert_row is not None:  # open alert without a saved state: firing since it triggered
            fired = alert_row.triggered_at.timestamp()
            core.restore(
                pair[0],
                pair[1],
                {
                    "phase": "firing",
                    "pending_since": fired,
                    "fired_at": fired,
                    "acknowledged": alert_row.status == "acknowledged",
                },
                pair[2],
            )
    return open_alerts


async def load_windows(
    core: EvaluationCore,
    session: AsyncSession,
    *,
    now: float,
    no_data_after: float,
    max_samples: int,
) -> None:
    """Recent samples of the metrics rules watch, back to the widest rule window or the
    no-data horizon, whichever is older, so a quiet series is not taken for a missing one."""
    specs = [s for s in core.rules() if s.is_active]
    if not specs:
        return
    horizon = max(max(s.window for s in specs), no_data_after)
    start = datetime.fromtimestamp(now - horizon, UTC)
    query = (
        select(
            PerformanceMetric.service_name,
            PerformanceMetric.metric_type,
            PerformanceMetric.value,
            PerformanceMetric.timestamp,
            MetricSeries.labels,
        )
        .outerjoin(MetricSeries, MetricSeries.id == PerformanceMetric.series_id)
        .where(
            PerformanceMetric.timestamp >= start,
            PerformanceMetric.metric_type.in_(sorted({s.metric for s in specs})),
        )
        .order_by(PerformanceMetric.timestamp.desc())
        .limit(max_samples)
    )
    rows = (await session.execute(query)).all()
    parsed: dict[str, dict[str, str]] = {}  # labels JSON -> labels, parsed once per series
    samples = [
        Sample(
            r[0],
            r[1],
            r[2],
            r[3].timestamp(),
            None
            if r[4] is None
            else parsed.get(r[4]) or parsed.setdefault(r[4], orjson.loads(r[4])),
        )
        for r in reversed(rows)
    ]
    metrics = sorted({s.metric for s in specs})
    recent = await histogram_repository.recent_histograms(session, metrics, start, max_samples)
    labelled = await metrics_repo.series_labels(
        session, {h.series_id for h in recent if h.series_id is not None}
    )
    for h in recent:
        if h.count:  # as ingestion publishes them: an empty interval is not evaluated
            histogram = Histogram(tuple(h.bounds), tuple(h.counts), h.sum, h.count)
            samples.append(
                Sample(
                    h.service_name,
                    h.metric_type,
                    h.sum / h.count,
                    h.timestamp.timestamp(),
                    None
                    if h.series_id is None or h.series_id not in labelled
                    else parsed.get(labelled[h.series_id])
                    or parsed.setdefault(
                        labelled[h.series_id], orjson.loads(labelled[h.series_id])
                    ),
                    histogram,
                )
            )
    core.load_samples(samples)
