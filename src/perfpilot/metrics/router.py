"""/metrics: push one sample, push a batch, list samples."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Body, Query, Request, Response, status

from perfpilot.core.deps import ContextDep, IngestAuth, SessionDep, ViewerAuth
from perfpilot.core.errors import InvalidField
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.metrics import idempotency, service
from perfpilot.metrics.batch_route import BatchRoute
from perfpilot.metrics.canonical import IngestBatch, canonical
from perfpilot.metrics.idempotency import IdempotencyKeyHeader
from perfpilot.metrics.labels import (
    LABEL_NAME_PATTERN,
    MAX_LABELS,
    valid_label_name,
    valid_label_value,
)
from perfpilot.metrics.repository import SampleFilter
from perfpilot.metrics.sample_route import request_key, sample_body
from perfpilot.metrics.schemas import BatchResult, MetricIn, MetricOut
from perfpilot.metrics.stream import SampleRow
from perfpilot.metrics.units import MetricType

router = APIRouter(prefix="/metrics", tags=["metrics"])


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past the last UTC datetime
        message = f"{field} is outside the representable range of UTC times"
        raise InvalidField(
            message,
            details=[{"field": field, "message": message, "type": "value_error", "in": "query"}],
        ) from None


_LABEL_PARAM = re.compile(r"^labels\[(.*)\]$")


def label_filters(request: Request) -> tuple[tuple[str, str], ...]:
    """The `labels[name]=value` query parameters, checked like sample labels (422 naming the
    parameter when a name or value could not be a label)."""
    found: dict[str, str] = {}
    problems: list[dict[str, Any]] = []
    for key, value in request.query_params.multi_items():
        match = _LABEL_PARAM.match(key)
        if match is None:
            continue
        name = match.group(1)
        if not valid_label_name(name):
            problem = f"label name must match {LABEL_NAME_PATTERN}"
        elif not valid_label_value(value):
            problem = "label value must be 1-256 characters without NUL"
        elif found.get(name, value) != value:
            problem = "a label can only equal one value"
        else:
            found[name] = value
            continue
        problems.append({"field": key, "message": problem, "type": "value_error", "in": "query"})
    if len(found) > MAX_LABELS and not problems:
        message = f"at most {MAX_LABELS} label filters"
        problems.append(
            {"field": "labels", "message": message, "type": "value_error", "in": "query"}
        )
    if problems:
        fields = ", ".join(sorted({p["field"] for p in problems}))
        raise InvalidField(f"Invalid request: {fields}", details=problems)
    return tuple(sorted(found.items()))


LABELS_PARAMETER = {
    "name": "labels",
    "in": "query",
    "style": "deepObject",
    "explode": True,
    "required": False,
    "description": "Label filters, `labels[name]=value`, repeatable for different names: "
    "exact match, all of them (AND). Only labelled samples match a label filter.",
    "schema": {
        "type": "object",
        "maxProperties": MAX_LABELS,
        "propertyNames": {"pattern": LABEL_NAME_PATTERN},
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 256},
    },
    "example": {"model": "gpt-4"},
}


def _batch_body(rows: list[SampleRow]) -> bytes:
    # Envelope[BatchResult] as FastAPI would render it, without 10,000 ids through pydantic
    return orjson.dumps(
        {
            "success": True,
            "data": {"accepted": len(rows), "ids": [r["id"] for r in rows]},
            "message": f"{len(rows)} performance metrics recorded successfully",
        }
    )


async def post_metric(
    body: MetricIn,
    ctx: ContextDep,
    principal: IngestAuth,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    result = await service.record_once(
        ctx.ingest,
        ctx.read_engine,  # the key lookup only reads
        [canonical(body)],
        key=await request_key(request, principal, idempotency_key),
        render=sample_body,
    )
    return result.response()


router.add_api_route(
    "",
    post_metric,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[MetricOut],
    responses=idempotency.RESPONSES,
    summary="Record one performance sample",
    description="Validates, converts to the canonical unit, commits, then returns the stored "
    "sample. A 201 means the sample is committed and will be evaluated by the rules. Send an "
    "`Idempotency-Key` to make a retry safe.",
)


async def post_metric_batch(
    body: Annotated[IngestBatch, Body()],
    ctx: ContextDep,
    principal: IngestAuth,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Response:
    result = await service.record_once(
        ctx.ingest,
        ctx.read_engine,
        body.samples,
        key=await request_key(request, principal, idempotency_key),
        render=_batch_body,
    )
    return result.response()


router.add_api_route(
    "/batch",
    post_metric_batch,
    methods=["POST"],
    route_class_override=BatchRoute,
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[BatchResult],
    responses=idempotency.RESPONSES,
    summary="Record up to 10,000 samples at once",
    description="All or nothing: one invalid item rejects the batch and the error names its "
    "index (`details[].index`, field `samples.<i>.<field>`). Send an `Idempotency-Key` to make "
    "a retry after a timeout safe: the batch is stored once.",
)


_ListPage = ListEnvelope[MetricOut]


@router.get(
    "",
    response_model=_ListPage,
    summary="List samples, newest first",
    description="Filters combine; page with `cursor` = the previous response's `nextCursor`. "
    "`labels[name]=value` (repeatable) keeps the samples whose labels hold every such pair; "
    "each sample's `labels` are in the response.",
    openapi_extra={"parameters": [LABELS_PARAMETER]},
)
async def get_metrics(
    session: SessionDep,
    _: ViewerAuth,
    request: Request,
    service_name: Annotated[str | None, Query(alias="serviceName", max_length=100)] = None,
    metric_type: Annotated[MetricType | None, Query(alias="metricType")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    filters = SampleFilter(
        service_name=service_name,
        metric_type=metric_type,
        since=_aware(since, "since"),
        until=_aware(until, "until"),
        labels=label_filters(request),
    )
    items, next_cursor = await service.list_metrics(session, filters, limit=limit, cursor=cursor)
    # validated and rendered once, as FastAPI renders the response model (not a second time)
    page = _ListPage.model_validate(
        {
            "data": items,
            "count": len(items),
            "next_cursor": next_cursor,
            "message": "Performance metrics retrieved successfully",
        }
    )
    return Response(page.model_dump_json(by_alias=True), media_type="application/json")
