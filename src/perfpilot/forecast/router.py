"""GET /trends: trend, seasonality, change points and a forecast of one series."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from perfpilot.core.deps import SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope
from perfpilot.forecast import service
from perfpilot.forecast.schemas import TrendsOut
from perfpilot.metrics.router import LABELS_PARAMETER, label_filters
from perfpilot.metrics.schemas import ServiceName
from perfpilot.metrics.units import MetricType

router = APIRouter(tags=["trends"])


@router.get(
    "/trends",
    response_model=Envelope[TrendsOut],
    summary="Trend, seasonality, change points and a forecast of one series",
    description="The period (default 7d) is cut into at most 1,440 buckets of equal width "
    "(bucket means). Reports the trend per day with its 95 % interval, the season found in "
    "the data (daily, weekly or a shorter cycle), level shifts, a forecast over `horizon` "
    "(default a quarter of the period) with 80 % and 95 % intervals, and the fit's error on "
    "a held-out tail. A history with fewer than 24 filled buckets is a 422 "
    "`insufficient_history` that says so. Fits run in a worker thread and are cached.",
    openapi_extra={"parameters": [LABELS_PARAMETER]},
)
async def get_trends(
    session: SessionDep,
    _: ViewerAuth,
    request: Request,
    service_name: Annotated[ServiceName, Query(alias="serviceName")],
    metric_type: Annotated[MetricType, Query(alias="metricType")],
    period: Annotated[str, Query(max_length=16, description="e.g. 6h, 7d, 2w")] = (
        service.DEFAULT_PERIOD
    ),
    horizon: Annotated[str | None, Query(max_length=16, description="e.g. 1h, 1d")] = None,
) -> Envelope[TrendsOut]:
    data = await service.trends(
        session,
        service_name=service_name,
        metric_type=metric_type,
        labels=label_filters(request),
        period=period,
        horizon=horizon,
    )
    return Envelope(data=data, message=f"Trend of {metric_type} for {service_name}")
