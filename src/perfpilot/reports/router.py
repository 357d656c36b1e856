"""/reports: generate (operator), list and read (viewer), as JSON, CSV or HTML."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from perfpilot.core.deps import ContextDep, OperatorAuth, SessionDep, ViewerAuth
from perfpilot.core.schemas import Envelope, ListEnvelope
from perfpilot.reports import service
from perfpilot.reports.render import HTML_CSP, to_csv, to_html
from perfpilot.reports.schemas import ReportFormat, ReportIn, ReportOut, ReportType

router = APIRouter(prefix="/reports", tags=["reports"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Envelope[ReportOut],
    summary="Generate and store a report",
    description="daily/weekly/monthly cover the last 1/7/30 days ending now unless a period "
    "of that length is given; custom needs a period (end > start, at most 366 days). "
    "Everything is aggregated by the database: exact p50/p95/p99 (PostgreSQL's "
    "percentile_cont definition on both stores), throughput integrated on a one-minute grid.",
)
async def create_report(
    body: ReportIn, session: SessionDep, ctx: ContextDep, _: OperatorAuth
) -> Envelope[ReportOut]:
    report = await service.create_report(
        session,
        body,
        readers=ctx.readers,
        max_gap_seconds=ctx.settings.no_data_after_seconds,
    )
    return Envelope(
        data=service.report_out(report), message="Optimization report generated successfully"
    )


@router.get("", response_model=ListEnvelope[ReportOut], summary="List reports, newest first")
async def list_reports(
    session: SessionDep,
    _: ViewerAuth,
    service_name: Annotated[str | None, Query(alias="serviceName", max_length=100)] = None,
    report_type: Annotated[ReportType | None, Query(alias="reportType")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> ListEnvelope[ReportOut]:
    items, next_cursor = await service.list_reports(
        session, service_name=service_name, report_type=report_type, limit=limit, cursor=cursor
    )
    return ListEnvelope(
        data=items,
        count=len(items),
        next_cursor=next_cursor,
        message="Optimization reports retrieved successfully",
    )


@router.get(
    "/{report_id}",
    response_model=Envelope[ReportOut],
    summary="Read one report",
    description="`format=csv`: the summary as `field,value` rows. `format=html`: a "
    "self-contained page (latency chart as inline SVG, summary, actions, recommendations).",
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
async def get_report(
    report_id: uuid.UUID,
    session: SessionDep,
    _: ViewerAuth,
    format: ReportFormat = "json",
) -> Any:
    report = await service.get_report(session, report_id)
    if format == "csv":
        return Response(
            to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="report-{report.id}.csv"'},
        )
    if format == "html":
        return Response(
            to_html(report),
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": HTML_CSP},
        )
    return Envelope(data=report, message="Optimization report retrieved successfully")
