"""Metric ingestion and listing: rows from validated input, cursors, the group-commit hand-off."""

from __future__ import annotations

import heapq
import itertools
import os
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

import orjson
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from perfpilot.core.errors import InvalidField
from perfpilot.core.pagination import decode_cursor, encode_cursor
from perfpilot.metrics import histogram_repository, repository
from perfpilot.metrics.canonical import CanonicalSample, canonical
from perfpilot.metrics.histogram_schemas import HistogramOut
from perfpilot.metrics.idempotency import IngestResponse, RequestKey, earlier_response
from perfpilot.metrics.ingest import IngestWriter
from perfpilot.metrics.labels import labelled_series_id
from perfpilot.metrics.schemas import MetricIn, MetricOut
from perfpilot.metrics.stream import SampleRow
from perfpilot.models import PerformanceHistogram

# A label filter reads each matching series as one index range: at most this many ranges.
MAX_FILTER_SERIES = 500

# version 4 UUIDs: 4 in the version nibble, 8, 9, a or b in the variant nibble (RFC 9562)
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def new_ids(count: int) -> list[str]:
    """`count` random version 4 UUIDs as text, like str(uuid.uuid4()), from one read of the
    OS's random source for all of them (uuid4 reads it, and builds an object, per id)."""
    h = os.urandom(16 * count).hex()
    v = _VARIANT
    return [
        f"{h[k : k + 8]}-{h[k + 8 : k + 12]}-4{h[k + 13 : k + 16]}-{v[h[k + 16]]}"
        f"{h[k + 17 : k + 20]}-{h[k + 20 : k + 32]}"
        for k in range(0, 32 * count, 32)
    ]


_HISTOGRAM = attrgetter("histogram")


def has_histograms(samples: Sequence[CanonicalSample]) -> bool:
    return any(map(_HISTOGRAM, samples))  # C-level: a 10,000-sample batch pays well under 1 ms


def build_rows(
    samples: Sequence[CanonicalSample],
    *,
    now: datetime | None = None,
    histograms: bool | None = None,
) -> list[SampleRow]:
    """Stored rows for validated samples (values already canonical); missing time = now.
    `histograms`: whether any sample is a histogram sample, when the caller knows."""
    received = now or datetime.now(UTC)
    rows: list[SampleRow] = [
        {
            "id": sample_id,
            "service_name": s.service_name,
            "metric_type": s.metric_type,
            "value": s.value,
            "unit": s.unit,
            "timestamp": s.timestamp or received,
            "metadata": s.metadata,
            "labels": s.labels,
            "series_id": (
                labelled_series_id(s.service_name, s.metric_type, s.labels) if s.labels else None
            ),
        }
        for sample_id, s in zip(new_ids(len(samples)), samples, strict=True)
    ]
    if has_histograms(samples) if histograms is None else histograms:
        for row, s in zip(rows, samples, strict=True):
            if s.histogram is not None:
                row["histogram"] = s.histogram
                row["interval_seconds"] = s.interval_seconds
    return rows


async def record_canonical(
    writer: IngestWriter, samples: Sequence[CanonicalSample]
) -> list[SampleRow]:
    """Commit the samples (group commit) and return them as stored."""
    histograms = has_histograms(samples)
    rows = build_rows(samples, histograms=histograms)
    await writer.submit(rows, [s.metadata_json for s in samples], histograms=histograms)
    return rows


async def record_samples(writer: IngestWriter, samples: Sequence[MetricIn]) -> list[SampleRow]:
    """Commit samples validated by MetricIn (group commit) and return them as stored."""
    return await record_canonical(writer, [canonical(s) for s in samples])


async def record_once(
    writer: IngestWriter,
    engine: AsyncEngine,
    samples: Sequence[CanonicalSample],
    *,
    key: RequestKey | None,
    render: Callable[[list[SampleRow]], bytes],
) -> IngestResponse:
    """Commit the samples and answer with `render(rows)` (201); with a key, once only: a
    repeat of a committed request gets the recorded response and commits nothing."""
    if key is not None:
        earlier = await earlier_response(engine, key)
        if earlier is not None:
            return earlier
    histograms = has_histograms(samples)
    rows = build_rows(samples, histograms=histograms)
    response = IngestResponse(201, render(rows))
    try:
        await writer.submit(
            rows,
            [s.metadata_json for s in samples],
            key=response.key_row(key) if key is not None else None,
            histograms=histograms,
        )
    except IntegrityError:
        if key is None:
            raise
        # the same key was committed meanwhile (a concurrent repeat): answer as it was answered
        earlier = await earlier_response(engine, key)
        if earlier is None:
            raise
        return earlier
    return response


def row_out(row: SampleRow) -> MetricOut:
    h = row.get("histogram")
    if h is not None:
        return MetricOut(
            id=row["id"],
            service_name=row["service_name"],
            metric_type=row["metric_type"],
            value=h.mean,
            histogram=HistogramOut(
                bounds=list(h.bounds), counts=list(h.counts), sum=h.sum, count=h.count
            ),
            interval_seconds=row.get("interval_seconds"),
            unit=row["unit"],
            timestamp=row["timestamp"],
            metadata=row["metadata"],
            labels=dict(row["labels"]),
        )
    return MetricOut(
        id=row["id"],
        service_name=row["service_name"],
        metric_type=row["metric_type"],
        value=row["value"],
        unit=row["unit"],
        timestamp=row["timestamp"],
        metadata=row["metadata"],
        labels=dict(row["labels"]),
    )


def listed(row: repository.ListedRow, labels: dict[str, str]) -> dict[str, Any]:
    """A listed sample's fields (MetricOut's names), as read, with its labels."""
    sample = row._asdict()
    del sample["series_id"]
    if sample["metadata"] is None:
        sample["metadata"] = {}
    sample["labels"] = labels
    return sample


def histogram_listed(row: PerformanceHistogram, labels: dict[str, str]) -> dict[str, Any]:
    """A listed histogram sample's fields (MetricOut's names); its value is the interval's
    mean (None when it counted nothing)."""
    return {
        "id": row.id,
        "service_name": row.service_name,
        "metric_type": row.metric_type,
        "value": row.sum / row.count if row.count else None,
        "histogram": HistogramOut(
            bounds=row.bounds, counts=row.counts, sum=row.sum, count=row.count
        ),
        "interval_seconds": row.interval_seconds,
        "unit": row.unit,
        "timestamp": row.timestamp,
        "metadata": row.meta or {},
        "labels": labels,
    }


async def list_metrics(
    session: AsyncSession,
    filters: repository.SampleFilter,
    *,
    limit: int,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of samples (MetricOut's fields, validated once, when the page is rendered)
    and the cursor of the next page."""
    after = decode_cursor(cursor) if cursor else None
    if filters.since and filters.until and filters.since > filters.until:
        raise InvalidField(
            "since must not be after until",
            details=[
                {
                    "field": "since",
                    "message": "since is after until",
                    "type": "value_error",
                    "in": "query",
                }
            ],
        )
    histograms: Sequence[PerformanceHistogram] = ()
    if filters.labels:
        series = await repository.matching_series(session, filters)
        if len(series) > MAX_FILTER_SERIES:
            message = (
                f"the label filters match {len(series)} series, more than {MAX_FILTER_SERIES}: "
                "narrow them with serviceName, metricType or another label"
            )
            detail = {"field": "labels", "message": message, "type": "value_error", "in": "query"}
            raise InvalidField(message, details=[detail])
        rows = await _merged_series_pages(session, series, filters, limit=limit + 1, after=after)
        histograms = await histogram_repository.list_series_histograms(
            session, list(series), filters, limit=limit + 1, after=after
        )
    else:
        rows = list(await repository.list_samples(session, filters, limit=limit + 1, after=after))
        # histogram samples live in their own table: a page merges both by (timestamp, id)
        histograms = await histogram_repository.list_histograms(
            session, filters, limit=limit + 1, after=after
        )
    merged: list[repository.ListedRow | PerformanceHistogram] = [*rows, *histograms]
    if histograms:
        merged.sort(key=lambda m: (m.timestamp, m.id), reverse=True)
    page = merged[:limit]
    last = page[-1] if page else None
    next_cursor = encode_cursor(last.timestamp, last.id) if last and len(merged) > limit else None
    if not filters.labels:
        series = await repository.series_labels(
            session,
            {m.series_id for m in page if m.series_id is not None},
        )
    parsed = {sid: orjson.loads(text) for sid, text in series.items()}
    return [
        histogram_listed(m, parsed.get(m.series_id, {}) if m.series_id is not None else {})
        if isinstance(m, PerformanceHistogram)
        else listed(m, parsed.get(m.series_id, {}) if m.series_id is not None else {})
        for m in page
    ], next_cursor


async def _merged_series_pages(
    session: AsyncSession,
    series: dict[int, str],
    filters: repository.SampleFilter,
    *,
    limit: int,
    after: tuple[datetime, uuid.UUID] | None,
) -> list[repository.ListedRow]:
    """The newest `limit` samples of several series: one index range per series (each read
    at most `limit` rows deep), merged newest first on (timestamp, id)."""
    pages = [
        await repository.list_series_samples(session, sid, filters, limit=limit, after=after)
        for sid in sorted(series)
    ]
    merged = heapq.merge(*pages, key=lambda m: (m.timestamp, m.id), reverse=True)
    return list(itertools.islice(merged, limit))
