"""Every filter combination and cursor page of GET /metrics, /alerts and /actions reads one
index range in (timestamp, id) order: no full scan, no sort (issue 10, "reads that seek").

Each test stores enough rows that the planner's choice means something (the value a filter
asks for is a minority, like one service among many), sends the real requests over HTTP,
records the SQL each one sent (tests/integration/query_plans.py) and reads its plan:
- SQLite as production runs it (no statistics), then again after ANALYZE;
- PostgreSQL after ANALYZE, with sorts priced out (enable_sort=off): for a handful of rows
  (every filter at once) it rightly fetches them by bitmap and sorts them, so the test asks
  whether the ordered range exists. A missing index still shows: then the only plans left
  sort (the Sort node stays, at its penalty) or walk the time index seeking on no filter.
The pages are also checked end to end against one big page: the row-value cursor skips and
repeats nothing, ties in timestamp included.
"""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from perfpilot.core.db import create_engine
from perfpilot.core.pagination import encode_cursor
from perfpilot.models import OptimizationAction
from tests.conftest import LiveServer
from tests.integration.query_plans import Sent, explain, seek_problems, sent_statements
from tests.integration.seed_rows import add_rows, alert

Case = tuple[str, Sent, dict[str, Any]]


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def ordered_query(seen: list[Sent], table: str, ts: str) -> Sent:
    """The list query among what one request sent: the one ordered newest first."""
    order = f"ORDER BY {table}.{ts} DESC, {table}.id DESC"
    found = [s for s in seen if order in s.statement]
    assert len(found) == 1, [s.statement for s in seen]
    return found[0]


async def pages(
    s: LiveServer, path: str, params: dict[str, Any], *, table: str, ts: str, count: int
) -> list[tuple[Sent, bool]]:
    """Up to `count` pages of `limit` rows, each page's SQL and whether it had a cursor.

    When all pages are there they must be the head of one page of count x limit rows. When the
    rows run out first, one page after an invented cursor stands in for the cursor pages.
    """
    sent: list[tuple[Sent, bool]] = []
    ids: list[str] = []
    cursor: str | None = None
    for _ in range(count):
        query = params | ({"cursor": cursor} if cursor else {})
        with sent_statements() as seen:
            response = await s.client.get(s.api(path), params=query, headers=s.auth("viewer"))
        assert response.status_code == 200, response.text
        sent.append((ordered_query(seen, table, ts), cursor is not None))
        ids += [item["id"] for item in response.json()["data"]]
        cursor = response.json()["nextCursor"]
        if cursor is None:
            break
    if cursor is None:
        query = params | {"cursor": encode_cursor(now(), uuid.uuid4())}
        with sent_statements() as seen:
            response = await s.client.get(s.api(path), params=query, headers=s.auth("viewer"))
        assert response.status_code == 200, response.text
        sent.append((ordered_query(seen, table, ts), True))
        return sent
    whole = await s.client.get(
        s.api(path), params=params | {"limit": params["limit"] * count}, headers=s.auth("viewer")
    )
    assert ids == [item["id"] for item in whole.json()["data"]], f"{path} {params}: pages differ"
    return sent


async def plan_failures(database_url: str, table: str, cases: list[Case]) -> list[str]:
    """Explain every case (see the module's docstring for the settings); one entry per bad
    plan, with the plan."""
    failures: list[str] = []
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            postgres = connection.dialect.name == "postgresql"
            for stage in ["ANALYZE"] if postgres else ["no statistics", "ANALYZE"]:
                if stage == "ANALYZE":
                    await connection.execute(text(f"ANALYZE {table}"))
                    await connection.commit()
                if postgres:
                    await connection.execute(text("SET enable_sort = off"))
                for label, sent, expect in cases:
                    plan = await explain(connection, sent, table)
                    if problems := seek_problems(plan, **expect):
                        failures.append(f"[{stage}] {label}: {problems}\n{plan.text}")
    finally:
        await engine.dispose()
    return failures


SERVICES = [f"svc-{i}" for i in range(10)]
TYPES = ["latency", "throughput", "cpu", "memory", "cost", "ttft", "tpot", "queue_depth"]
MINUTES = 1000


def stored(minute: int, service: str, metric: str) -> bool:
    """Whether the seed has this sample. The filtered values are rare, as one service among
    many and one type among a service's are in production: svc-3 reports every 2nd minute,
    latency every 3rd (both: every 6th), so each is under 6 % of the rows and of the other's
    rows (~69,700 samples in all). Where a filter kept one row in eight, walking the time
    index and filtering cost PostgreSQL about what the seek did, and it chose either way from
    one ANALYZE sample to the next; the test asks for a seek where a seek clearly pays."""
    return (service != "svc-3" or minute % 2 == 0) and (metric != "latency" or minute % 3 == 0)


async def test_every_metrics_filter_and_cursor_page_is_an_index_range(
    live_server: LiveServer, database_url: str
) -> None:
    s = live_server
    newest = now() - timedelta(minutes=1)
    samples = [
        {
            "serviceName": service,
            "metricType": metric,
            "value": float(minute % 97),
            # every series shares the timestamps: ties the cursor must break by id
            "timestamp": (newest - timedelta(minutes=minute)).isoformat(),
        }
        for minute in range(MINUTES)
        for service in SERVICES
        for metric in TYPES
        if stored(minute, service, metric)
    ]
    for start in range(0, len(samples), 10_000):
        batch = {"samples": samples[start : start + 10_000]}
        response = await s.client.post(s.api("/metrics/batch"), json=batch, headers=s.auth())
        assert response.status_code == 201, response.text
    await s.settle()

    since = (newest - timedelta(minutes=800)).isoformat()
    until = (newest - timedelta(minutes=200)).isoformat()
    cases: list[Case] = []
    for service, metric, low, high in itertools.product(
        [None, "svc-3"], [None, "latency"], [None, since], [None, until]
    ):
        given = {"serviceName": service, "metricType": metric, "since": low, "until": high}
        params: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        equal = [c for c, v in (("service_name", service), ("metric_type", metric)) if v]
        read = await pages(
            s,
            "/metrics",
            params | {"limit": 20},  # three pages of even svc-3's latency in 600 minutes
            table="ai_performance_metrics",
            ts="timestamp",
            count=3,
        )
        assert [cursor for _, cursor in read] == [False, True, True], params
        for page, (sent, cursor) in enumerate(read, start=1):
            expect = {
                "equal_all": equal,
                "ts": "timestamp",
                "ranged": bool(low or high or cursor),
                "cursor": cursor,
            }
            cases.append((f"GET /metrics {params} page {page}", sent, expect))

    failures = await plan_failures(database_url, "ai_performance_metrics", cases)
    assert not failures, "\n\n".join(failures)


MODELS = ["gpt-4", "llama", "mistral", "claude"]
REGIONS = ["eu", "us", "ap"]


async def test_every_label_filter_reads_one_index_range_per_series(
    live_server: LiveServer, database_url: str
) -> None:
    """`labels[name]=value` finds the matching series by a seek on (name, value), then reads
    each series as one range of ix_metrics_series_ts in (timestamp, id) order; the pages are
    merged, so every statement is a seek, never a scan or a sort."""
    s = live_server
    newest = now() - timedelta(minutes=1)
    samples = [
        {
            "serviceName": service,
            "metricType": metric,
            "value": float(minute),
            "timestamp": (newest - timedelta(minutes=minute)).isoformat(),
            **({"labels": {"model": model, "region": region}} if model else {}),
        }
        for minute in range(200)
        for service in SERVICES[:4]
        for metric in TYPES[:2]
        for model, region in [(None, None), *itertools.product(MODELS, REGIONS)]
    ]  # 4 services x 2 types x 200 minutes x 13 series, one unlabelled
    for start in range(0, len(samples), 10_000):
        batch = {"samples": samples[start : start + 10_000]}
        response = await s.client.post(s.api("/metrics/batch"), json=batch, headers=s.auth())
        assert response.status_code == 201, response.text
    await s.settle()

    since = (newest - timedelta(minutes=150)).isoformat()
    order = "ORDER BY ai_performance_metrics.timestamp DESC, ai_performance_metrics.id DESC"
    cases: list[Case] = []
    for labels, service, metric, low in itertools.product(
        [{"labels[model]": "llama"}, {"labels[model]": "llama", "labels[region]": "eu"}],
        [None, "svc-3"],
        [None, "latency"],
        [None, since],
    ):
        given = {"serviceName": service, "metricType": metric, "since": low}
        params: dict[str, Any] = labels | {k: v for k, v in given.items() if v is not None}
        expected_series = (3 if len(labels) == 1 else 1) * (1 if service else 4)
        expected_series *= 1 if metric else 2
        cursor = None
        for page in (1, 2):
            query = params | {"limit": 20} | ({"cursor": cursor} if cursor else {})
            with sent_statements() as seen:
                response = await s.client.get(
                    s.api("/metrics"), params=query, headers=s.auth("viewer")
                )
            assert response.status_code == 200, response.text
            data = response.json()["data"]
            assert len(data) == 20
            assert all(item["labels"]["model"] == "llama" for item in data)
            reads = [sent for sent in seen if order in sent.statement]
            assert len(reads) == expected_series, (params, [r.statement for r in reads])
            for sent in reads:
                expect = {
                    "equal_all": ["series_id"],
                    "ts": "timestamp",
                    "ranged": bool(low or cursor),
                    "cursor": cursor is not None,
                }
                cases.append((f"GET /metrics {params} page {page}", sent, expect))
            cursor = response.json()["nextCursor"]

    failures = await plan_failures(database_url, "ai_performance_metrics", cases)
    assert not failures, "\n\n".join(failures[:5])


async def make_rule(s: LiveServer, name: str) -> str:
    body = {
        "name": name,
        "condition": {"metric": "latency", "operator": "gt", "threshold": 1e12},
        "action": {"type": "cache_clear"},
    }
    response = await s.client.post(s.api("/rules"), json=body, headers=s.auth())
    assert response.status_code == 201, response.text
    return str(response.json()["data"]["id"])


def pick(rng: random.Random, values: dict[str, list[str]]) -> dict[str, str]:
    """One row's value of each filter: the first value (the one the test asks for) one time
    in eight, another the rest of the time, each filter independently."""
    return {
        key: choices[0] if rng.random() < 1 / 8 else rng.choice(choices[1:])
        for key, choices in values.items()
    }


async def filter_cases(
    s: LiveServer,
    path: str,
    values: dict[str, list[str]],
    columns: dict[str, str],
    *,
    table: str,
    ts: str,
) -> list[Case]:
    """Page 1 and cursor pages of every combination of the filters (each asking for the
    first of its values). Each filter alone must be a seek on its own index; given several,
    the planner may seek any one or read the time index in order (PostgreSQL does when the
    rows lie in time order, as they do), but never sort or scan the table."""
    cases: list[Case] = []
    for chosen in itertools.product([False, True], repeat=len(values)):
        params = {key: values[key][0] for key, on in zip(values, chosen, strict=True) if on}
        read = await pages(s, path, params | {"limit": 10}, table=table, ts=ts, count=2)
        for page, (sent, cursor) in enumerate(read, start=1):
            expect = {
                "equal_any": [columns[key] for key in params] if len(params) == 1 else [],
                "ts": ts,
                "ranged": cursor,
                "cursor": cursor,
            }
            cases.append((f"GET {path} {params} page {page}", sent, expect))
    return cases


ALERT_COLUMNS = {
    "status": "status",
    "severity": "severity",
    "serviceName": "service_name",
    "ruleId": "rule_id",
}


async def test_every_alerts_filter_and_cursor_page_is_an_index_range(
    live_server: LiveServer, database_url: str
) -> None:
    s = live_server
    values = {
        "status": ["active", "resolved"],
        "severity": ["critical", "low", "medium", "high"],
        "serviceName": [f"svc-{i}" for i in range(10)],
        "ruleId": [await make_rule(s, f"never fires {i}") for i in range(4)],
    }
    rng = random.Random(10)
    base = now() - timedelta(days=1)
    rows = []
    for i in range(3000):
        row = pick(rng, values)
        rows.append(
            alert(
                row["serviceName"],
                at=base - timedelta(seconds=30 * (i // 3)),  # three at a time: ties
                severity=row["severity"],
                rule_id=row["ruleId"],
                status=row["status"],
            )
        )
    await add_rows(s, *rows)

    cases = await filter_cases(
        s, "/alerts", values, ALERT_COLUMNS, table="ai_performance_alerts", ts="triggered_at"
    )
    failures = await plan_failures(database_url, "ai_performance_alerts", cases)
    assert not failures, "\n\n".join(failures)


ACTION_COLUMNS = {
    "serviceName": "service_name",
    "type": "action_type",
    "source": "source",
    "status": "status",
    "outcome": "outcome",
    "ruleId": "rule_id",
    "alertId": "alert_id",
}


async def test_every_actions_filter_and_cursor_page_is_an_index_range(
    live_server: LiveServer, database_url: str
) -> None:
    s = live_server
    alerts = [alert("svc-0", at=now(), severity="low", resolved_after=1) for _ in range(4)]
    await add_rows(s, *alerts)
    values = {
        "serviceName": [f"svc-{i}" for i in range(10)],
        "type": ["scale_down", "scale_up", "cache_clear", "model_switch"],
        "source": ["manual", "rule", "autoscaler"],
        "status": ["skipped", "executed"],
        "outcome": ["worsened", "improved", "no_change"],
        "ruleId": [await make_rule(s, f"never fires {i}") for i in range(4)],
        "alertId": [str(a.id) for a in alerts],
    }
    rng = random.Random(11)
    base = now() - timedelta(days=1)
    rows = []
    for i in range(3000):
        row = pick(rng, values)
        rows.append(
            OptimizationAction(
                id=uuid.uuid4(),
                service_name=row["serviceName"],
                action_type=row["type"],
                parameters={},
                source=row["source"],
                status=row["status"],
                outcome=row["outcome"],
                rule_id=uuid.UUID(row["ruleId"]),
                alert_id=uuid.UUID(row["alertId"]),
                metric_type="latency",
                executed_at=base - timedelta(seconds=30 * (i // 3)),  # ties
            )
        )
    await add_rows(s, *rows)

    cases = await filter_cases(
        s, "/actions", values, ACTION_COLUMNS, table="ai_optimization_actions", ts="executed_at"
    )
    failures = await plan_failures(database_url, "ai_optimization_actions", cases)
    assert not failures, "\n\n".join(failures)
