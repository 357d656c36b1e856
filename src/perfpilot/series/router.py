"""GET /series: chart data, downsampled on the server (DESIGN §11)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from perfpilot.core.deps import SessionDep, ViewerAuth
from perfpilot.core.errors import InvalidField
from perfpilot.core.schemas import Envelope
from perfpilot.metrics.labels import LabelName
from perfpilot.metrics.router import LABELS_PARAMETER, label_filters
from perfpilot.metrics.schemas import ServiceName
from perfpilot.metrics.units import MetricType
from perfpilot.series import service
from perfpilot.series.schemas import SeriesOut

router = APIRouter(tags=["metrics"])


def _invalid(field: str, message: str) -> InvalidField:
    return InvalidField(
        message, details=[{"field": field, "message": message, "type": "value_error"}]
    )


def _utc(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise _invalid(field, f"{field} is outside the representable range of UTC times") from None


@router.get(
    "/series",
    response_model=Envelope[SeriesOut],
    summary="A series downsampled for charts: min/max/avg/count per time bucket",
    description="[since, until) (default: the last hour up to now) is cut into `points` "
    "buckets of equal width; each bucket that holds samples reports count, min, max and avg. "
    "Computed in the database in one grouped query, so a 30-day range over millions of "
    "samples answers with at most `points` rows. When the buckets are whole minutes on a "
    "whole-minute grid (since on a minute, (until - since) / points a multiple of 60 s) the "
    "answer is read from per-minute rollups: the same figures, one row per series-minute. "
    "`labels[name]=value` keeps the labelled series holding every pair; `groupBy=<label>` "
    "adds `groups`, the buckets per value of that label (e.g. model).",
    openapi_extra={"parameters": [LABELS_PARAMETER]},
)
async def get_series(
    request: Request,
    session: SessionDep,
    _: ViewerAuth,
    service_name: Annotated[ServiceName, Query(alias="serviceName")],
    metric_type: Annotated[MetricType, Query(alias="metricType")],
    since: datetime | None = None,
    until: datetime | None = None,
    points: Annotated[int, Query(ge=1, le=service.MAX_POINTS)] = service.DEFAULT_POINTS,
    group_by: Annotated[LabelName | None, Query(alias="groupBy")] = None,
    source: Annotated[
        service.SourceChoice,
        Query(description="auto (default): rollups when the grid allows; samples: always raw"),
    ] = "auto",
) -> Envelope[SeriesOut]:
    end = _utc(until, "until") or datetime.now(UTC)
    start = _utc(since, "since") or end - service.DEFAULT_SPAN
    if start >= end:
        raise _invalid("since", "since must be before until")
    if end - start > service.MAX_SPAN:
        raise _invalid("since", f"the range may span at most {service.MAX_SPAN.days} days")
    labels = label_filters(request)
    width = (end - start).total_seconds() / points
    if source == "rollups" and not service.whole_minute_grid(start, width):
        raise _invalid(
            "source",
            "rollups need since on a whole minute and (until - since) / points a multiple of 60 s",
        )
    data = await service.downsampled(
        session,
        service_name=service_name,
        metric_type=metric_type,
        since=start,
        until=end,
        points=points,
        labels=labels,
        group_by=group_by,
        source=source,
    )
    return Envelope(data=data, message=f"{len(data.buckets)} buckets")
