"""GET /stats: store-wide counts in the seed's shape, cheap to poll on a large store.

Counting a multi-million-row metrics table is a full index pass however it is written
(neither SQLite nor PostgreSQL keeps exact counts), so the figures are computed by the
database and cached: fresh for `FRESH_SECONDS`; after that the cached figures are still
served while one background refresh recomputes them (stale-while-revalidate), up to
`MAX_STALE_SECONDS`, beyond which a request waits for the recount. A poller therefore never
pays for the count, and the figures are never older than its polling interval plus one count.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from perfpilot.metrics.units import REGISTRY
from perfpilot.monitoring import live_repository as repo
from perfpilot.monitoring.live_schemas import (
    AlertStats,
    MetricStats,
    OptimizationStats,
    RuleStats,
    StatsOut,
)

log = structlog.get_logger("perfpilot.stats")

ACTION_TYPES = ("scale_up", "scale_down", "cache_clear", "model_switch", "retry", "fallback")
SEVERITIES = ("low", "medium", "high", "critical")
FRESH_SECONDS = 2.0
MAX_STALE_SECONDS = 60.0


async def compute_stats(session: AsyncSession) -> StatsOut:
    by_type = {t: 0 for t in REGISTRY.names()} | await repo.metric_counts(session)
    rules = await repo.rule_counts(session)
    rules_by_type = {t: 0 for t in ACTION_TYPES}
    for action_type, _, n in rules:
        rules_by_type[action_type] = rules_by_type.get(action_type, 0) + n
    alerts = await repo.alert_counts(session)
    by_severity = {s: 0 for s in SEVERITIES}
    for _, severity, n in alerts:
        by_severity[severity] = by_severity.get(severity, 0) + n
    actions = await repo.action_counts(session)
    return StatsOut(
        metrics=MetricStats(total=sum(by_type.values()), by_type=by_type),
        rules=RuleStats(
            total=sum(n for _, _, n in rules),
            active=sum(n for _, active, n in rules if active),
            by_type=rules_by_type,
        ),
        alerts=AlertStats(
            total=sum(n for _, _, n in alerts),
            active=sum(n for status, _, n in alerts if status != "resolved"),
            resolved=sum(n for status, _, n in alerts if status == "resolved"),
            by_severity=by_severity,
        ),
        optimizations=OptimizationStats(
            total=actions.executed,
            successful=actions.improved,
            failed=actions.failed,
            average_improvement=actions.mean_impact,
        ),
    )


@dataclass(frozen=True, slots=True)
class Snapshot:
    stats: StatsOut
    computed_at: datetime
    monotonic: float


class StatsCache:
    """Stale-while-revalidate cache of one computation; one recount at a time."""

    def __init__(
        self,
        compute: Callable[[], Awaitable[StatsOut]],
        *,
        fresh_seconds: float = FRESH_SECONDS,
        max_stale_seconds: float = MAX_STALE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._compute = compute
        self._fresh = fresh_seconds
        self._max_stale = max_stale_seconds
        self._clock = clock
        self._snapshot: Snapshot | None = None
        self._refresh: asyncio.Task[Snapshot] | None = None

    async def get(self) -> Snapshot:
        snapshot = self._snapshot
        if snapshot is not None:
            age = self._clock() - snapshot.monotonic
            if age <= self._fresh:
                return snapshot
            if age <= self._max_stale:
                self._start_refresh()
                return snapshot
        return await asyncio.shield(self._start_refresh())

    def _start_refresh(self) -> asyncio.Task[Snapshot]:
        if self._refresh is None or self._refresh.done():
            self._refresh = asyncio.create_task(self._recount(), name="perfpilot-stats")
            # a background recount nobody awaits: its failure is logged in _recount
            self._refresh.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self._refresh

    async def _recount(self) -> Snapshot:
        started = self._clock()
        try:
            stats = await self._compute()
        except Exception:
            log.warning("stats_recount_failed", exc_info=True)
            raise
        snapshot = Snapshot(stats, datetime.now(UTC), started)
        self._snapshot = snapshot
        return snapshot


def session_compute(
    sessionmaker: async_sessionmaker[AsyncSession],
) -> Callable[[], Awaitable[StatsOut]]:
    """compute_stats in a session of its own (a background refresh outlives the request)."""

    async def compute() -> StatsOut:
        async with sessionmaker() as session:
            return await compute_stats(session)

    return compute
