"""A report's figures per value of one label (`groupBy`): counts, means and maxima per type,
cost, and exact latency percentiles of the samples carrying that value."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.metrics import repository as metrics_repo
from perfpilot.metrics.units import REGISTRY
from perfpilot.reports import group_repository
from perfpilot.reports.percentiles import QUANTILES
from perfpilot.reports.schemas import ReportGroup


async def group_figures(
    session: AsyncSession, service_name: str, label: str, start: datetime, end: datetime
) -> list[ReportGroup]:
    """One entry per value of `label` among the service's series, by value."""
    by_value: dict[str, dict[str, list[int]]] = {}
    for series_id, metric_type, value in await metrics_repo.series_by_label(
        session, service_name, label
    ):
        by_value.setdefault(value, {}).setdefault(metric_type, []).append(series_id)
    groups = []
    for value, by_type in sorted(by_value.items()):
        ids = [sid for sids in by_type.values() for sid in sids]
        stats = await group_repository.group_stats(session, ids, start, end)
        latency = stats.get("latency")
        p: list[float | None] = [None] * len(QUANTILES)
        if latency is not None and latency.count:
            p = list(
                await group_repository.percentiles(
                    session,
                    by_type["latency"],
                    start,
                    end,
                    count=latency.count,
                    quantiles=QUANTILES,
                )
            )
        cost = stats.get("cost")
        groups.append(
            ReportGroup(
                labels={label: value},
                sample_counts={m: stats[m].count for m in REGISTRY.names() if m in stats},
                averages={m: stats[m].mean for m in REGISTRY.names() if m in stats},
                maxima={m: stats[m].maximum for m in REGISTRY.names() if m in stats},
                total_cost=cost.total if cost is not None and cost.count else None,
                latency_p50=p[0],
                latency_p95=p[1],
                latency_p99=p[2],
            )
        )
    return groups
