from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Double, ForeignKey, Index, String, Text, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from perfpilot.core.db import Base, JSONType, UTCDateTime, new_id, utcnow


class PerformanceMetric(Base):
    """One sample, its value in the canonical unit of its type.

    On PostgreSQL the table is partitioned by range of `timestamp`, a partition per UTC day
    and a default one (migration 5f2a8c7d3e61, metrics/partition_repository.py), and its
    primary key is (id, timestamp): PostgreSQL wants the partition key in it. Ids are random
    UUIDs made by the app, so `id` alone stays unique; partitions are not in the models.
    """

    __tablename__ = "ai_performance_metrics"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    service_name: Mapped[str] = mapped_column(String(100))
    metric_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[float] = mapped_column(Double)
    unit: Mapped[str] = mapped_column(String(16))
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    # The labelled series (MetricSeries.id) the sample belongs to; NULL: no labels. No foreign
    # key: the id is a hash the writer registers before the samples, and a per-row key check
    # would cost ingestion.
    series_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    # GET /metrics pages newest first on (timestamp, id) under any mix of service and type:
    # one index per mix, each ending in (timestamp, id), so a page is one index range with no
    # sort (tests/integration/test_query_plans.py). Four is the least that covers the mixes.
    __table_args__ = (
        # value included: a series' aggregates read the index alone (reports, live views)
        Index(
            "ix_metrics_service_type_ts",
            "service_name",
            "metric_type",
            "timestamp",
            "id",
            "value",
        ),
        Index("ix_metrics_service_ts", "service_name", "timestamp", "id"),
        Index("ix_metrics_type_ts", "metric_type", "timestamp", "id"),
        # no service or type filter, and retention by age
        Index("ix_metrics_ts", "timestamp", "id"),
        # label filters: each matching series is one range in (timestamp, id) order. Partial:
        # unlabelled samples (the bulk of the seed's traffic) do not pay for this index.
        Index(
            "ix_metrics_series_ts",
            "series_id",
            "timestamp",
            "id",
            sqlite_where=text("series_id IS NOT NULL"),
            postgresql_where=text("series_id IS NOT NULL"),
        ),
    )


class MetricSeries(Base):
    """A labelled series: (service, metric type, label set), registered on first sample.

    `id` and `labels_hash` are stable 64-bit hashes computed by the app (metrics/labels.py);
    `labels` is the canonical JSON text of the set (keys sorted), equal sets equal text.
    """

    __tablename__ = "ai_metric_series"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    service_name: Mapped[str] = mapped_column(String(100))
    metric_type: Mapped[str] = mapped_column(String(32))
    labels: Mapped[str] = mapped_column(Text)
    labels_hash: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # the series of a service (and type): label filters with serviceName/metricType
        Index("ix_metric_series_service_type", "service_name", "metric_type"),
        # a service's distinct label sets: the cardinality limit
        Index("ix_metric_series_service_labels", "service_name", "labels_hash"),
    )


class MetricSeriesLabel(Base):
    """One label pair of a series: `labels[name]=value` is a seek on (name, value)."""

    __tablename__ = "ai_metric_series_labels"

    series_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("ai_metric_series.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))

    __table_args__ = (Index("ix_metric_series_labels_pair", "name", "value", "series_id"),)


class MetricRollup(Base):
    """count/sum/min/max of a series' samples per UTC minute, kept in the transaction that
    commits the samples (metrics/ingest.py), so GET /series can answer a coarse chart from a
    minute per row instead of every sample. `series_id` 0: the unlabelled samples."""

    __tablename__ = "ai_metric_rollups_1m"

    service_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    metric_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    minute: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    series_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    count: Mapped[int] = mapped_column(BigInteger)
    sum: Mapped[float] = mapped_column(Double)
    min: Mapped[float] = mapped_column(Double)
    max: Mapped[float] = mapped_column(Double)

    # retention deletes by age
    __table_args__ = (Index("ix_metric_rollups_1m_minute", "minute"),)
