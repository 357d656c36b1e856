"""The statement behind a page of GET /services and GET /realtime reads every table through
index seeks, never a scan from the start, on each store: the database's own plan says so.

The store holds a realistic alert history (one alert per service): on a table of a few hundred
rows PostgreSQL rightly prefers reading it whole to an index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert, text

from perfpilot.metrics.units import REGISTRY
from perfpilot.models import (
    PerformanceAlert,
    PerformanceHistogram,
    PerformanceMetric,
    ServiceState,
)
from perfpilot.services import repository
from tests.conftest import LiveServer
from tests.integration.query_plans import partitions_with_few_rows

SERVICES = 5_000


async def seed(s: LiveServer, *, histograms: bool = False) -> None:
    now = datetime.now(UTC)
    if histograms:  # every service's latency also as histograms, 3 intervals each
        rows = [
            {
                "id": uuid.uuid4(),
                "service_name": f"svc-{i:05d}",
                "metric_type": "latency",
                "unit": "ms",
                "timestamp": now - timedelta(seconds=k),
                "bounds": [100.0, 200.0],
                "counts": [1, 2, 0],
                "sum": 300.0,
                "count": 3,
                "meta": {},
            }
            for i in range(SERVICES)
            for k in range(3)
        ]
        async with s.ctx.sessionmaker() as session, session.begin():
            await session.execute(insert(PerformanceHistogram), rows)
    samples = [
        {
            "id": uuid.uuid4(),
            "service_name": f"svc-{i:05d}",
            "metric_type": metric,
            "value": float(k),
            "unit": "ms",
            "timestamp": now - timedelta(seconds=k),
            "meta": {},
        }
        for i in range(SERVICES)
        for metric in ("latency", "cpu")
        for k in range(3)
    ]
    alerts = [
        {
            "id": uuid.uuid4(),
            "service_name": f"svc-{i:05d}",
            "fingerprint": uuid.uuid4().hex,
            "metric_type": "latency",
            "current_value": 1.0,
            "threshold": 1.0,
            "severity": "high",
            "status": ("active", "acknowledged", "resolved")[i % 3],
            "triggered_at": now,
            "message": "",
            "meta": {},
        }
        for i in range(SERVICES)
    ]
    async with s.ctx.sessionmaker() as session, session.begin():
        await session.execute(insert(PerformanceMetric), samples)
        await session.execute(
            insert(ServiceState),
            [{"service_name": f"svc-{i:05d}", "instances": 2} for i in range(0, SERVICES, 3)],
        )
        await session.execute(insert(PerformanceAlert), alerts)
    if not s.ctx.settings.is_sqlite:
        async with s.ctx.engine.connect() as connection:  # the statistics autovacuum keeps
            await connection.execute(text("COMMIT"))
            await connection.execute(text("ANALYZE"))


def pg_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from pg_nodes(child)


@pytest.mark.parametrize("histograms", [False, True], ids=["values", "histograms"])
@pytest.mark.parametrize("include_alerting", [False, True], ids=["services", "realtime"])
async def test_a_page_is_index_seeks_only(
    live_server: LiveServer,
    include_alerting: bool,
    histograms: bool,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    s = live_server
    await seed(s, histograms=histograms)
    # once a type has histogram samples, pages also seek the histogram table
    monkeypatch.setattr(REGISTRY, "histogram_types", ("latency",) if histograms else ())
    statement = repository.page_statement(include_alerting=include_alerting)
    for after in ("", "svc-02500"):
        sql = str(
            statement.params(after=after, limit=101).compile(
                s.ctx.engine.sync_engine, compile_kwargs={"literal_binds": True}
            )
        )
        async with s.ctx.engine.connect() as connection:
            if s.ctx.settings.is_sqlite:
                plan = [
                    row[3] for row in await connection.execute(text("EXPLAIN QUERY PLAN " + sql))
                ]
                tables = [step for step in plan if " ai_" in step]
                assert tables and all(step.startswith("SEARCH ai_") for step in tables), plan
                # no range read whole to be grouped by sorting (e.g. every open alert)
                assert not [step for step in plan if "FOR GROUP BY" in step], plan
            else:
                [raw] = (await connection.execute(text("EXPLAIN (FORMAT JSON) " + sql))).one()
                nodes = list(pg_nodes(raw[0]["Plan"]))
                # the samples' day partitions are read each; an empty or nearly empty one (a
                # day ahead) costs nothing however the planner reads it (query_plans.FEW_ROWS)
                few = await partitions_with_few_rows(connection, "ai_performance_metrics")
                reads = [
                    n
                    for n in nodes
                    if str(n.get("Relation Name", "")).startswith("ai_")
                    and n["Relation Name"] not in few
                ]
                assert reads, nodes
                for node in reads:  # an index with a condition: a seek, not a full pass
                    assert node["Node Type"] in ("Index Scan", "Index Only Scan"), node
                    assert "Index Cond" in node, node
        # and the page is right: 100 names from the cursor on
        async with s.ctx.sessionmaker() as session:
            rows = await repository.service_page(
                session, after=after, limit=100, include_alerting=include_alerting
            )
        start = int(after[4:]) + 1 if after else 0
        assert [r.service_name for r in rows] == [f"svc-{i:05d}" for i in range(start, start + 100)]
        assert all(set(r.latest) == {"latency", "cpu"} for r in rows)
