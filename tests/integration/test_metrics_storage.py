"""The batch path stores what the single-sample path stores, in the form SQLAlchemy would.

Batches skip SQLAlchemy's per-row bind processing (repository.bind_rows) and are validated by
a fast path (metrics/canonical.py): both must be invisible to a client, on each backend.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.exc import IntegrityError

from perfpilot.core.schemas import Envelope
from perfpilot.metrics import repository
from perfpilot.metrics.canonical import CanonicalSample
from perfpilot.metrics.schemas import BatchResult
from perfpilot.metrics.service import build_rows
from perfpilot.models import PerformanceMetric
from tests.conftest import LiveServer
from tests.envelope import assert_error

BASE = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
METADATA = {
    "model": "gpt-4o",
    "unicode": "日本語 é \u2028 🚀",
    "nested": {"list": [1, 2.5, None, True, {"deep": "x"}], "empty": {}},
    "float": 0.1 + 0.2,
    "tiny": 1e-300,
    "big": 2**53 + 1,
    "negative": -7,
    "": "empty key",
}
# (sample without serviceName, expected canonical value, expected unit)
SAMPLES: list[tuple[dict[str, Any], float, str]] = [
    (
        {
            "metricType": "latency",
            "value": 0.1 + 0.2,
            "timestamp": (BASE + timedelta(microseconds=1)).isoformat(),
        },
        0.1 + 0.2,
        "ms",
    ),
    (
        {
            "metricType": "latency",
            "value": 1.5,
            "unit": "s",
            "timestamp": (BASE + timedelta(seconds=1, microseconds=999999))
            .astimezone(timezone(timedelta(hours=5, minutes=30)))
            .isoformat(),
        },
        1500.0,
        "ms",
    ),
    (
        {
            "metricType": "throughput",
            "value": 7,
            "unit": "rpm",
            "timestamp": (BASE + timedelta(seconds=2)).replace(tzinfo=None).isoformat() + "Z",
        },
        7 * (1 / 60),
        "rps",
    ),
    (
        {
            "metricType": "accuracy",
            "value": 99.9,
            "unit": "percent",
            "timestamp": (BASE + timedelta(seconds=3, microseconds=123456))
            .replace(tzinfo=None)
            .isoformat(),
            "metadata": METADATA,
        },
        99.9 * 0.01,
        "ratio",
    ),
    (
        {
            "metricType": "cost",
            "value": 0.00002,
            "timestamp": (BASE + timedelta(seconds=4)).isoformat(),
        },
        0.00002,
        "usd",
    ),
    (
        {
            "metricType": "memory",
            "value": 1.5,
            "unit": "gb",
            "timestamp": (BASE + timedelta(seconds=5)).isoformat(),
        },
        1536.0,
        "mb",
    ),
    (
        {
            "metricType": "cpu",
            "value": 0.455,
            "unit": "ratio",
            "timestamp": (BASE + timedelta(seconds=6)).timestamp(),
        },
        0.455 * 100.0,
        "percent",
    ),
]


async def _list(s: LiveServer, service: str) -> list[dict[str, Any]]:
    response = await s.client.get(
        s.api("/metrics"), params={"serviceName": service, "limit": 100}, headers=s.auth("viewer")
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["data"]))  # oldest first, like SAMPLES


async def test_batch_and_single_posts_store_and_read_back_the_same_samples(
    live_server: LiveServer,
) -> None:
    s = live_server
    batch = [{"serviceName": "svc-rt-batch", **sample} for sample, _, _ in SAMPLES]
    created = await s.client.post(
        s.api("/metrics/batch"), json={"samples": batch}, headers=s.auth("operator")
    )
    assert created.status_code == 201, created.text
    for sample, _, _ in SAMPLES:
        single = await s.client.post(
            s.api("/metrics"),
            json={"serviceName": "svc-rt-single", **sample},
            headers=s.auth("operator"),
        )
        assert single.status_code == 201, single.text

    from_batch = await _list(s, "svc-rt-batch")
    from_single = await _list(s, "svc-rt-single")
    Envelope[BatchResult].model_validate_json(created.content)  # the declared response model
    assert [item["id"] for item in from_batch] == created.json()["data"]["ids"]
    assert len(from_batch) == len(from_single) == len(SAMPLES)
    for got_batch, got_single, (sent, value, unit) in zip(
        from_batch, from_single, SAMPLES, strict=True
    ):
        assert got_batch["value"] == value  # exact: the same float, not an approximation
        assert got_batch["unit"] == unit
        assert got_batch["metadata"] == sent.get("metadata", {})
        raw_ts = sent["timestamp"]
        expected = (
            datetime.fromtimestamp(raw_ts, UTC)
            if isinstance(raw_ts, float)
            else datetime.fromisoformat(raw_ts.replace("Z", "+00:00"))
        )
        if expected.tzinfo is None:
            expected = expected.replace(tzinfo=UTC)
        assert datetime.fromisoformat(got_batch["timestamp"]) == expected
        assert got_batch["timestamp"].endswith("Z")
        del got_batch["id"], got_single["id"], got_batch["serviceName"], got_single["serviceName"]
        assert got_batch == got_single


async def test_batch_rows_are_stored_as_sqlalchemy_column_types_store_them(
    live_server: LiveServer,
) -> None:
    s = live_server
    ts = BASE + timedelta(seconds=7, microseconds=42)
    sample = CanonicalSample(
        "svc-form-new", "latency", 12.5, "ms", ts, METADATA, json.dumps(METADATA)
    )
    [new_row] = build_rows([sample])
    [old_row] = build_rows([sample._replace(service_name="svc-form-old")])
    engine = s.ctx.engine
    async with engine.begin() as conn:
        # as before: SQLAlchemy binds every value through its column type
        await conn.execute(
            PerformanceMetric.__table__.insert(), [dict(old_row, id=uuid.UUID(old_row["id"]))]
        )
        await repository.insert_samples(
            conn,
            repository.bind_rows([new_row], [sample.metadata_json], dialect=engine.dialect.name),
        )
    cast = "::text" if engine.dialect.name == "postgresql" else ""
    query = (
        f"SELECT id{cast}, value, unit, timestamp{cast}, metadata{cast} "
        "FROM ai_performance_metrics WHERE service_name = '{name}'"
    )
    async with engine.connect() as conn:
        [old] = (await conn.exec_driver_sql(query.format(name="svc-form-old"))).all()
        [new] = (await conn.exec_driver_sql(query.format(name="svc-form-new"))).all()
    if engine.dialect.name == "sqlite":  # Uuid on SQLite: 32 hex digits
        assert (old[0], new[0]) == (uuid.UUID(old_row["id"]).hex, uuid.UUID(new_row["id"]).hex)
    else:
        assert (old[0], new[0]) == (old_row["id"], new_row["id"])
    assert old[1:4] == new[1:4]  # value, unit and the stored timestamp text are identical
    assert json.loads(old[4]) == json.loads(new[4]) == METADATA


async def test_batch_body_errors_keep_their_order_and_shape(live_server: LiveServer) -> None:
    s = live_server
    url = s.api("/metrics/batch")
    json_type = {"Content-Type": "application/json"}
    invalid = {"samples": [{"serviceName": "svc", "metricType": "latency", "value": -1}]}
    # authentication comes before the body is read: no token is a 401 even for bad JSON
    assert_error(await s.client.post(url, content=b"{bad", headers=json_type), 401, "unauthorized")
    assert_error(
        await s.client.post(url, content=b"{bad", headers=s.auth("operator") | json_type),
        400,
        "malformed_json",
    )
    assert_error(await s.client.post(url, json=invalid), 401, "unauthorized")
    assert_error(await s.client.post(url, json=invalid, headers=s.auth("viewer")), 403, "forbidden")
    error = assert_error(
        await s.client.post(url, content=b"", headers=s.auth("operator") | json_type),
        422,
        "validation_error",
    )
    assert error["details"] == [
        {"field": "body", "message": "Field required", "type": "missing", "in": "body"}
    ]
    error = assert_error(
        await s.client.post(url, json=invalid, headers=s.auth("operator")), 422, "validation_error"
    )
    assert error["details"][0]["field"] == "samples.0.value"
    assert error["details"][0]["index"] == 0
    # json.loads accepts a UTF-8 byte order mark; so does the batch path
    bom = (
        b"\xef\xbb\xbf"
        + json.dumps(
            {"samples": [{"serviceName": "svc-bom", "metricType": "cpu", "value": 3}]}
        ).encode()
    )
    accepted = await s.client.post(url, content=bom, headers=s.auth("operator") | json_type)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["data"]["accepted"] == 1


async def test_a_row_the_database_refuses_fails_only_its_own_request(
    live_server: LiveServer,
) -> None:
    s = live_server
    writer = s.ctx.ingest
    sample = CanonicalSample("svc-isolation", "latency", 1.0, "ms", None, {}, "{}")
    first, again, other = build_rows([sample]), build_rows([sample]), build_rows([sample])
    # a duplicate primary key: refused at commit (PostgreSQL's is (id, timestamp): the samples
    # table is partitioned by time, migration 5f2a8c7d3e61)
    again[0]["id"], again[0]["timestamp"] = first[0]["id"], first[0]["timestamp"]
    # submitted together, so they form one group commit
    results = await asyncio.gather(
        writer.submit(first, ["{}"]),
        writer.submit(again, ["{}"]),
        writer.submit(other, ["{}"]),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None, results
    assert isinstance(results[1], IntegrityError), results
    stored = await _list(s, "svc-isolation")
    assert sorted(item["id"] for item in stored) == sorted(rows[0]["id"] for rows in (first, other))


async def test_a_group_larger_than_one_statement_is_stored_exactly(
    live_server: LiveServer,
) -> None:
    """SQLite writes a group in multi-row INSERTs of up to 1,024 rows (core/bulk.py): 2,500
    samples span six statements; every one is stored once, with its exact value."""
    s = live_server
    rng = random.Random(5)
    values = [rng.uniform(0, 5_000) for _ in range(2_500)]
    values[:3] = [0.1 + 0.2, 1e-300, 2.0**40 + 0.5]
    batch = [
        {"serviceName": "svc-many", "metricType": "latency", "value": v, "unit": "ms"}
        for v in values
    ]
    created = await s.client.post(
        s.api("/metrics/batch"), json={"samples": batch}, headers=s.auth("operator")
    )
    assert created.status_code == 201, created.text
    ids = created.json()["data"]["ids"]
    engine = s.ctx.engine
    cast = "::text" if engine.dialect.name == "postgresql" else ""
    async with engine.connect() as conn:
        rows = (
            await conn.exec_driver_sql(
                f"SELECT id{cast}, value FROM ai_performance_metrics "
                "WHERE service_name = 'svc-many'"
            )
        ).all()
    stored = {str(uuid.UUID(row_id)): value for row_id, value in rows}
    assert len(rows) == len(stored) == 2_500
    assert stored == dict(zip(ids, values, strict=True))
