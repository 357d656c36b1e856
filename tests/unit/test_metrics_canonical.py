"""The fast batch path: whatever it accepts, the reference (MetricBatchIn) accepts the same way.

`parse_batch` may decline anything (the reference then decides); when it accepts a body, its
samples must equal what MetricBatchIn produces for that body, bit for bit. And the rows it
binds for the driver must be what SQLAlchemy's column types would have bound.
"""

from __future__ import annotations

import json
import math
import struct
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite

from perfpilot.core.errors import validation_details
from perfpilot.metrics.canonical import CanonicalSample, canonical, parse_batch, parse_sample
from perfpilot.metrics.repository import bind_rows
from perfpilot.metrics.sample_route import rendered_sample_body, sample_body
from perfpilot.metrics.schemas import MetricBatchIn, MetricIn
from perfpilot.metrics.service import build_rows, new_ids
from perfpilot.metrics.units import METRIC_SPECS
from perfpilot.models import PerformanceMetric

NOW = datetime.now(UTC)


def reference(raw: bytes) -> list[CanonicalSample] | None:
    """What the API did before the fast path: json.loads, then MetricBatchIn (None: rejected)."""
    try:
        batch = MetricBatchIn.model_validate(json.loads(raw), from_attributes=True)
    except (ValidationError, ValueError, OverflowError):
        return None
    return [canonical(s) for s in batch.samples]


def same_sample(fast: CanonicalSample, ref: CanonicalSample) -> None:
    assert fast.service_name == ref.service_name
    assert fast.metric_type == ref.metric_type
    assert struct.pack("<d", fast.value) == struct.pack("<d", ref.value)
    assert fast.unit == ref.unit
    if ref.timestamp is None:
        assert fast.timestamp is None
    else:
        assert fast.timestamp == ref.timestamp
        assert fast.timestamp is not None and fast.timestamp.tzinfo is ref.timestamp.tzinfo
    assert repr(fast.metadata) == repr(ref.metadata)  # repr: NaN equals NaN, 1 is not 1.0
    assert fast.metadata_json == ref.metadata_json


def units_for(metric_type: str) -> list[Any]:
    spec = METRIC_SPECS[metric_type]
    return [None, spec.canonical, *spec.factors, spec.canonical.upper(), "", "hours", 5]


# Valid text: no NUL (refused in metadata: PostgreSQL) and no lone surrogates (refused
# everywhere: not Unicode). With exclude_characters alone, hypothesis also draws surrogates.
NO_NUL = st.characters(codec="utf-8", exclude_characters="\x00")
LONE_SURROGATES = st.sampled_from(["\ud800", "\udfff", "a\udc00b", "\ude00\ud83d"])

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    LONE_SURROGATES,
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=8,
)
timestamps = st.one_of(
    st.none(),
    st.integers(min_value=1, max_value=10**7).map(
        lambda us: (NOW - timedelta(microseconds=us)).isoformat()
    ),
    st.integers(min_value=1, max_value=10**7).map(
        lambda us: (NOW - timedelta(microseconds=us)).replace(tzinfo=None).isoformat() + "Z"
    ),
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none()
    ).map(datetime.isoformat),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)).map(
        lambda d: d.replace(tzinfo=UTC).isoformat()
    ),
    st.integers(min_value=-48, max_value=48).map(
        lambda q: (
            (NOW - timedelta(minutes=15 * q))
            .astimezone(timezone(timedelta(hours=q / 4)))
            .isoformat()
        )
    ),
    st.sampled_from(
        [
            "2025-01-02T03:04:05Z",
            "2025-01-02",
            "2025-01-02 03:04:05",
            "yesterday",
            "0001-01-01T00:00:00+01:00",
        ]
    ),
    st.floats(min_value=0, max_value=4e9),
    st.integers(min_value=0, max_value=4_000_000_000_000),
)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """`good` nine times in ten: batches are valid often enough to exercise the fast path."""
    return st.integers(min_value=0, max_value=9).flatmap(lambda n: bad if n == 0 else good)


@st.composite
def samples(draw: st.DrawFn) -> dict[str, Any]:
    metric_type = draw(mostly(st.sampled_from(list(METRIC_SPECS)), st.just("nope")))
    spec = METRIC_SPECS.get(metric_type, METRIC_SPECS["latency"])
    item: dict[str, Any] = {
        "serviceName": draw(
            mostly(
                st.sampled_from(["ai-chat", "svc.1:a_b"]),
                st.sampled_from(["-bad", "", "x" * 101, 5, "svc\ud800"]),
            )
        ),
        "metricType": metric_type,
        "value": draw(
            mostly(
                st.floats(min_value=0, max_value=spec.maximum or 1e12) | st.integers(0, 10**6),
                st.one_of(
                    st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(min_value=-10, max_value=2**64),
                    st.sampled_from(["1.5", "100", "abc", True, False, None, 1e308]),
                    # around the finite bound (1e15 canonical), before and after conversion
                    st.sampled_from([1e15, 1e15 + 0.125, 1e12, 1e12 + 0.001, 1e13, 2**50, -1e15]),
                    st.floats(min_value=9e14, max_value=1.1e15),
                ),
            )
        ),
    }
    if draw(st.booleans()):
        accepted = [None, spec.canonical, *spec.factors]
        odd = [spec.canonical.upper(), "", "hours", 5, "\ud800", True]
        item["unit"] = draw(mostly(st.sampled_from(accepted), st.sampled_from(odd)))
    if draw(st.booleans()):
        item["timestamp"] = draw(timestamps)
    if draw(st.booleans()):
        item["metadata"] = draw(
            mostly(st.dictionaries(st.text(max_size=6), json_values, max_size=4), json_values)
        )
    if draw(st.integers(min_value=0, max_value=30)) == 0:
        item[draw(st.sampled_from(["extra", "service_name"]))] = "x"
    return item


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(samples(), min_size=0, max_size=3))
def test_what_the_fast_path_accepts_the_reference_accepts_identically(
    items: list[dict[str, Any]],
) -> None:
    raw = json.dumps({"samples": items}).encode()
    fast = parse_batch(raw)
    if fast is None:
        return
    ref = reference(raw)
    assert ref is not None, "the fast path accepted a batch the reference rejects"
    assert len(fast) == len(ref)
    for f, r in zip(fast, ref, strict=True):
        same_sample(f, r)


valid_samples = st.builds(
    lambda metric_type, unit_pick, fraction, ts, meta: {
        "serviceName": "ai-chat-service",
        "metricType": metric_type,
        "value": fraction * (METRIC_SPECS[metric_type].maximum or 5000.0),
        **(
            {"unit": [METRIC_SPECS[metric_type].canonical, None][unit_pick % 2]}
            if unit_pick < 2
            else {}
        ),
        **({"timestamp": ts.isoformat()} if ts is not None else {}),
        "metadata": meta,
    },
    st.sampled_from(list(METRIC_SPECS)),
    st.integers(min_value=0, max_value=2),
    st.floats(min_value=0, max_value=1),
    st.none()
    | st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ).filter(lambda d: d < NOW),
    st.dictionaries(
        st.text(NO_NUL, max_size=8),
        st.text(NO_NUL, max_size=8) | st.integers(-(2**53), 2**53),
        max_size=3,
    ),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(valid_samples, min_size=1, max_size=5))
def test_ordinary_valid_batches_take_the_fast_path(items: list[dict[str, Any]]) -> None:
    raw = json.dumps({"samples": items}).encode()
    fast = parse_batch(raw)
    assert fast is not None
    ref = reference(raw)
    assert ref is not None
    for f, r in zip(fast, ref, strict=True):
        same_sample(f, r)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + b'{"samples":[{"serviceName":"a","metricType":"latency","value":1}]}',
        b'{"samples":[{"serviceName":"a","metricType":"latency","value":NaN}]}',
        b'{"samples":[{"service_name":"a","metricType":"latency","value":1}]}',
        b'{"samples":[{"serviceName":"a","metricType":"latency","value":1,"unit":"MS"}]}',
        b'{"samples":[{"serviceName":"a","metricType":"latency","value":1,"metadata":{"n":123456789012345678901234567890}}]}',
        b'{"samples":[]}',
        b"[]",
        b"",
    ],
)
def test_unusual_bodies_are_left_to_the_reference(raw: bytes) -> None:
    assert parse_batch(raw) is None


def reference_errors(raw: bytes) -> list[dict[str, Any]]:
    """The reference's verdict on a body as the API reports it (empty: accepted)."""
    try:
        MetricBatchIn.model_validate(json.loads(raw))
    except ValidationError as exc:
        return validation_details(exc.errors())
    return []


def one_sample(**fields: Any) -> bytes:
    item = {"serviceName": "svc", "metricType": "latency", "value": 1} | fields
    return json.dumps({"samples": [{k: v for k, v in item.items() if v is not None}]}).encode()


@pytest.mark.parametrize("value", ["100", "1.5", True, False, [1], {"v": 1}])
def test_a_value_must_be_a_json_number_on_both_paths(value: Any) -> None:
    raw = one_sample(value=value)
    assert parse_batch(raw) is None
    [detail] = reference_errors(raw)
    assert detail["field"] == "samples.0.value"
    assert "number" in detail["message"]


@pytest.mark.parametrize(
    ("value", "unit", "accepted"),
    [
        (1e15, "ms", True),
        (1e12, "s", True),  # 1e15 ms exactly
        (1e15 + 0.125, "ms", False),
        (1e13, "s", False),  # 1e16 ms once converted
        (1e12 + 0.001, "s", False),
        (1.0000000000000002e12, "s", False),
        (1e18, "us", True),  # 1e15 ms
        (1e30, "b", False),
        (1e308, "s", False),  # inf once converted
        (2**60, None, False),
    ],
)
def test_canonical_values_beyond_the_finite_bound_are_rejected_on_both_paths(
    value: float, unit: str | None, accepted: bool
) -> None:
    metric_type = "memory" if unit == "b" else "latency"
    raw = one_sample(metricType=metric_type, value=value, unit=unit)
    fast = parse_batch(raw)
    errors = reference_errors(raw)
    assert (fast is not None) is accepted
    if accepted:
        assert not errors
        assert fast is not None and fast[0].value <= 1e15
        return
    [detail] = errors
    assert detail["field"] == "samples.0.value"
    assert "1e+15" in detail["message"], detail


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"serviceName": "svc\ud800"}, "samples.0.serviceName", "must be valid Unicode"),
        ({"metricType": "\udfff"}, "samples.0.metricType", "must be valid Unicode"),
        ({"unit": "m\ud800"}, "samples.0.unit", "must be valid Unicode"),
        ({"metadata": {"k": "\ud800"}}, "samples.0.metadata", "metadata.k must be valid Unicode"),
        ({"metadata": {"\udc00": 1}}, "samples.0.metadata", "key '\\udc00'"),
        ({"metadata": {"a": [{"b": "\ude00\ud83d"}]}}, "samples.0.metadata", "metadata.a.0.b"),
        ({"\ud800": 1}, "samples.0", "must be valid Unicode"),  # an unknown field's name
    ],
)
def test_lone_surrogates_are_refused_on_both_paths_naming_the_field(
    fields: dict[str, Any], field: str, says: str
) -> None:
    raw = one_sample(**fields)
    assert b"\\ud" in raw or b"\\ude" in raw  # json.dumps escapes them: valid JSON text
    assert parse_batch(raw) is None
    [detail] = reference_errors(raw)
    assert detail["field"] == field
    assert says in detail["message"], detail


def test_new_ids_are_random_version_4_uuids_in_canonical_text_form() -> None:
    ids = new_ids(5000)
    assert len(set(ids)) == 5000
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
    # every variant nibble (8, 9, a, b) turns up: the random bits are not biased away
    assert {text[19] for text in ids} == set("89ab")


def _sqlalchemy_bound(column: str, value: Any, dialect: Any) -> Any:
    """The value SQLAlchemy's column type hands the driver for `value`."""
    column_type = PerformanceMetric.__table__.c[column].type
    process = column_type.dialect_impl(dialect).bind_processor(dialect)
    return process(value) if process else value


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    ),
    st.dictionaries(
        st.text(max_size=5),
        json_scalars.filter(lambda v: not (isinstance(v, float) and not math.isfinite(v))),
        max_size=3,
    ).filter(lambda d: all(not isinstance(v, int) or abs(v) < 2**63 for v in d.values())),
)
def test_bound_rows_are_what_sqlalchemy_column_types_bind(
    ts: datetime, metadata: dict[str, Any]
) -> None:
    ts = ts.astimezone(UTC)  # validation hands over UTC
    [row] = build_rows(
        [CanonicalSample("svc", "latency", 1.25, "ms", ts, metadata, json.dumps(metadata))]
    )
    for dialect in (SQLiteDialect_aiosqlite(), PGDialect_asyncpg()):
        [stored] = bind_rows([row], [json.dumps(metadata)], dialect=dialect.name)
        assert str(stored[0]) == str(_sqlalchemy_bound("id", uuid.UUID(row["id"]), dialect))
        assert stored[1:5] == ("svc", "latency", 1.25, "ms")
        assert stored[5] == _sqlalchemy_bound("timestamp", ts, dialect)
        assert json.loads(stored[6]) == json.loads(_sqlalchemy_bound("metadata", metadata, dialect))


# POST /metrics (one sample): the same lean parse, through parse_sample (metrics/sample_route.py)


def reference_one(raw: bytes) -> CanonicalSample | None:
    """What FastAPI does for POST /metrics: json.loads, then MetricIn (None: rejected)."""
    try:
        return canonical(MetricIn.model_validate(json.loads(raw)))
    except (ValidationError, ValueError, OverflowError):
        return None


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(samples())
def test_what_the_single_sample_fast_path_accepts_the_reference_accepts_identically(
    item: dict[str, Any],
) -> None:
    raw = json.dumps(item).encode()
    fast = parse_sample(raw)
    if fast is None:
        return
    ref = reference_one(raw)
    assert ref is not None, "the fast path accepted a sample MetricIn rejects"
    same_sample(fast, ref)


@settings(max_examples=200, deadline=None)
@given(valid_samples)
def test_ordinary_valid_samples_take_the_fast_path(item: dict[str, Any]) -> None:
    raw = json.dumps(item).encode()
    fast = parse_sample(raw)
    assert fast is not None
    ref = reference_one(raw)
    assert ref is not None
    same_sample(fast, ref)


@pytest.mark.parametrize(
    "raw",
    [
        b"\xef\xbb\xbf" + b'{"serviceName":"a","metricType":"latency","value":1}',
        b'{"serviceName":"a","metricType":"latency","value":NaN}',
        b'{"serviceName":"a","metricType":"latency","value":"1"}',
        b'{"service_name":"a","metricType":"latency","value":1}',
        b'{"serviceName":"a","metricType":"latency","value":1,"unit":"MS"}',
        b'{"samples":[{"serviceName":"a","metricType":"latency","value":1}]}',
        b"[]",
        b"",
    ],
)
def test_unusual_single_bodies_are_left_to_the_reference(raw: bytes) -> None:
    assert parse_sample(raw) is None


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(samples(), valid_samples),
    st.dictionaries(st.sampled_from(["model", "region", "gpu"]), st.text(max_size=8), max_size=3),
)
def test_the_single_sample_answer_is_the_response_models_bytes(
    item: dict[str, Any], labels: dict[str, str]
) -> None:
    # POST /metrics writes its 201 with orjson; it must be what Envelope[MetricOut] renders
    sample = parse_sample(json.dumps(item | ({"labels": labels} if labels else {})).encode())
    if sample is None:
        return
    rows = build_rows([sample])
    assert sample_body(rows) == rendered_sample_body(rows)
