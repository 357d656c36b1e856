"""Metric ingestion and listing: rows from validated input, cursors, the group-commit hand-off."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from perfpilot.core.errors import InvalidField
from perfpilot.core.pagination import decode_cursor, encode_cursor
from perfpilot.metrics import repository
from perfpilot.metrics.canonical import CanonicalSample, canonical
from perfpilot.metrics.idempotency import IngestResponse, RequestKey, earlier_response
from perfpilot.metrics.ingest import IngestWriter
from perfpilot.metrics.schemas import MetricIn, MetricOut
from perfpilot.metrics.stream import SampleRow

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


def build_rows(
    samples: Sequence[CanonicalSample], *, now: datetime | None = None
) -> list[SampleRow]:
    """Stored rows for validated samples (values already canonical); missing time = now."""
    received = now or datetime.now(UTC)
    return [
        {
            "id": sample_id,
            "service_name": s.service_name,
            "metric_type": s.metric_type,
            "value": s.value,
            "unit": s.unit,
            "timestamp": s.timestamp or received,
            "metadata": s.metadata,
        }
        for sample_id, s in zip(new_ids(len(samples)), samples, strict=True)
    ]


async def record_canonical(
    writer: IngestWriter, samples: Sequence[CanonicalSample]
) -> list[SampleRow]:
    """Commit the samples (group commit) and return them as stored."""
    rows = build_rows(samples)
    await writer.submit(rows, [s.metadata_json for s in samples])
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
    rows = build_rows(samples)
    response = IngestResponse(201, render(rows))
    try:
        await writer.submit(
            rows,
            [s.metadata_json for s in samples],
            key=response.key_row(key) if key is not None else None,
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
    return MetricOut(
        id=row["id"],
        service_name=row["service_name"],
        metric_type=row["metric_type"],
        value=row["value"],
        unit=row["unit"],
        timestamp=row["timestamp"],
        metadata=row["metadata"],
    )


def listed(row: repository.ListedRow) -> dict[str, Any]:
    """A listed sample's fields (MetricOut's names), as read."""
    sample = row._asdict()
    if sample["metadata"] is None:
        sample["metadata"] = {}
    return sample


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
    rows = await repository.list_samples(session, filters, limit=limit + 1, after=after)
    page = list(rows[:limit])
    last = page[-1] if page else None
    next_cursor = encode_cursor(last.timestamp, last.id) if last and len(rows) > limit else None
    return [listed(row) for row in page], next_cursor
