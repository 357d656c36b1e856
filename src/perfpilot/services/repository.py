"""SQL for the service catalog: pages of known services with their latest values, open-alert
counts and desired state, in one statement per page (GET /services, GET /realtime).

Every part is an index seek, so a page costs the same with 20 services or 20,000:
- the services with samples come from a loose index scan of (service_name, metric_type,
  timestamp, value): one `min(service_name) > previous` seek per name, `limit` of them;
- desired states by their primary key, and services with open alerts by
  `ix_alerts_status_service` (one range per open status), each read from the cursor on,
  `limit` rows at most;
- per service of the page, the newest sample of each type is one backward seek into its series,
  and the open-alert counts a seek per open status into `ix_alerts_status_service`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    CTE,
    Integer,
    String,
    bindparam,
    func,
    literal,
    select,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.metrics.units import REGISTRY
from perfpilot.models import PerformanceAlert, PerformanceHistogram, PerformanceMetric, ServiceState
from perfpilot.models.alerts import OPEN_STATUSES
from perfpilot.services.status import SEVERE_SEVERITIES

SEVERE = tuple(sorted(SEVERE_SEVERITIES))


@dataclass(frozen=True, slots=True)
class Latest:
    value: float
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class ServiceRow:
    """One service of a page: its newest sample per type, open alerts and desired state."""

    service_name: str
    latest: dict[str, Latest]
    open_alerts: int
    severe_alerts: int
    has_state: bool
    instances: int | None
    model: str | None


# Bound at execution: the statements are built (and compiled) once, not per request.
_AFTER = bindparam("after", type_=String)
_LIMIT = bindparam("limit", type_=Integer)
_SERVICE = bindparam("service_name", type_=String)


def _names_with_samples(
    m: type[PerformanceMetric] | type[PerformanceHistogram] = PerformanceMetric,
) -> CTE:
    """Up to :limit distinct service names > :after among the samples (or the histogram
    samples), in order: a loose index scan (a recursive step per name, each one seek)."""
    smallest = select(func.min(m.service_name)).where(m.service_name > _AFTER)
    first = select(smallest.scalar_subquery().label("name"), literal(1, Integer).label("n")).cte(
        "sample_names" if m is PerformanceMetric else "histogram_names", recursive=True
    )
    following = (
        select(func.min(m.service_name))
        .where(m.service_name > first.c.name)
        .correlate(first)
        .scalar_subquery()
    )
    step = select(following, first.c.n + 1).where(first.c.name.is_not(None), first.c.n < _LIMIT)
    return first.union_all(step)


def _page(*, include_alerting: bool, histograms: bool = False) -> CTE:
    """The :limit smallest names > :after among services with samples (and, with
    `histograms`, histogram samples) or a desired state (and, with `include_alerting`, an
    open alert)."""
    a, st = PerformanceAlert, ServiceState
    sampled = _names_with_samples()
    states = (
        select(st.service_name.label("name"))
        .where(st.service_name > _AFTER)
        .order_by(st.service_name)
        .limit(_LIMIT)
        .subquery()
    )
    arms = [select(sampled.c.name).where(sampled.c.name.is_not(None)), select(states.c.name)]
    if histograms:
        hist = _names_with_samples(PerformanceHistogram)
        arms.append(select(hist.c.name).where(hist.c.name.is_not(None)))
    if include_alerting:
        for status in OPEN_STATUSES:  # one ordered range each: (status, service_name, ...)
            alerting = (
                select(a.service_name.label("name"))
                .where(a.status == status, a.service_name > _AFTER)
                .group_by(a.service_name)
                .order_by(a.service_name)
                .limit(_LIMIT)
                .subquery()
            )
            arms.append(select(alerting.c.name))
    names = union(*arms).subquery("names")
    return select(names.c.name).order_by(names.c.name).limit(_LIMIT).cte("page")


def _summaries(page: CTE, types: tuple[str, ...], hist_types: tuple[str, ...] = ()) -> Any:
    """One row per service of `page`, by name: newest value and time of each of `types` (then
    the newest histogram mean and time of each of `hist_types`), open and severe alert
    counts, and the desired state (NULL when none)."""
    m, a, st, h = PerformanceMetric, PerformanceAlert, ServiceState, PerformanceHistogram

    def newest_histogram(column: Any, metric: str) -> Any:
        return (
            select(column)
            .where(h.service_name == page.c.name, h.metric_type == metric, h.count > 0)
            .order_by(h.timestamp.desc(), h.id.desc())
            .limit(1)
            .correlate(page)
            .scalar_subquery()
        )

    def newest(column: Any, metric: str) -> Any:
        return (
            select(column)
            .where(m.service_name == page.c.name, m.metric_type == metric)
            .order_by(m.timestamp.desc(), m.value.desc())
            .limit(1)
            .correlate(page)
            .scalar_subquery()
        )

    def open_count(*conditions: Any) -> Any:
        return (
            select(func.count())
            .select_from(a)
            .where(a.status.in_(OPEN_STATUSES), a.service_name == page.c.name, *conditions)
            .correlate(page)
            .scalar_subquery()
        )

    def state(column: Any) -> Any:  # a seek per row (a join may scan from the first state)
        return (
            select(column).where(st.service_name == page.c.name).correlate(page).scalar_subquery()
        )

    columns: list[Any] = [page.c.name]
    for metric in types:
        columns.append(newest(m.value, metric).label(f"{metric}_value"))
        columns.append(newest(m.timestamp, metric).label(f"{metric}_ts"))
    for metric in hist_types:  # the interval's mean stands for a histogram sample's value
        columns.append(newest_histogram(h.sum / h.count, metric).label(f"{metric}_hvalue"))
        columns.append(newest_histogram(h.timestamp, metric).label(f"{metric}_hts"))
    columns += [
        open_count().label("open_alerts"),
        open_count(a.severity.in_(SEVERE)).label("severe_alerts"),
        state(st.instances).label("instances"),
        state(st.model).label("model"),
    ]
    return select(*columns).select_from(page).order_by(page.c.name)


def page_statement(*, include_alerting: bool) -> Any:
    """The one statement behind a page of services (see the module's docstring); parameters
    `after` (the last name of the previous page, "" for the first) and `limit`."""
    return _page_statement(include_alerting, REGISTRY.names(), REGISTRY.histogram_types)


@cache
def _page_statement(
    include_alerting: bool, types: tuple[str, ...], hist_types: tuple[str, ...]
) -> Any:
    # cached per registry content: a new user type, or the first histogram sample of a
    # type, gets a statement with its columns; none at all while no histogram was sent
    page = _page(include_alerting=include_alerting, histograms=bool(hist_types))
    return _summaries(page, types, hist_types)


@cache
def _one_statement(types: tuple[str, ...], hist_types: tuple[str, ...]) -> Any:
    return _summaries(select(_SERVICE.label("name")).cte("page"), types, hist_types)


def _rows(
    result: Sequence[Any], types: tuple[str, ...], hist_types: tuple[str, ...] = ()
) -> list[ServiceRow]:
    out = []
    width = 2 * (len(types) + len(hist_types))
    for row in result:
        latest = {}
        for i, metric in enumerate(types):
            value, ts = row[1 + 2 * i], row[2 + 2 * i]
            if ts is not None:
                latest[metric] = Latest(float(value), ts)
        for i, metric in enumerate(hist_types, start=len(types)):
            value, ts = row[1 + 2 * i], row[2 + 2 * i]
            current = latest.get(metric)
            if ts is not None and (current is None or ts > current.timestamp):
                latest[metric] = Latest(float(value), ts)
        open_alerts, severe, instances, model = row[1 + width :]
        out.append(
            ServiceRow(
                service_name=str(row[0]),
                latest=latest,
                open_alerts=int(open_alerts),
                severe_alerts=int(severe),
                has_state=instances is not None,  # NOT NULL in a state row
                instances=instances,
                model=model,
            )
        )
    return out


async def service_page(
    session: AsyncSession, *, after: str, limit: int, include_alerting: bool
) -> list[ServiceRow]:
    """Known services with names > `after`, by name, at most `limit`: one statement.

    The rows arrive buffered; turning 1,000 of them (two typed columns per metric type) into
    ServiceRows is tens of ms of CPU, done in a worker thread so the event loop keeps serving."""
    types, hist_types = REGISTRY.names(), REGISTRY.histogram_types
    statement = _page_statement(include_alerting, types, hist_types)
    connection = await session.connection()
    result = await connection.execute(statement, {"after": after, "limit": limit})
    return await asyncio.to_thread(lambda: _rows(result.all(), types, hist_types))


async def service_summary(session: AsyncSession, service_name: str) -> ServiceRow:
    """The same summary for one service (empty when nothing is known about it)."""
    params = {"service_name": service_name}
    types, hist_types = REGISTRY.names(), REGISTRY.histogram_types
    statement = _one_statement(types, hist_types)
    [row] = _rows((await session.execute(statement, params)).all(), types, hist_types)
    return row


async def open_alerts_of(session: AsyncSession, service_name: str) -> Sequence[PerformanceAlert]:
    """A service's open alerts, newest first."""
    a = PerformanceAlert
    query = (
        select(a)
        .where(a.status.in_(OPEN_STATUSES), a.service_name == service_name)
        .order_by(a.triggered_at.desc(), a.id)
    )
    return (await session.execute(query)).scalars().all()
