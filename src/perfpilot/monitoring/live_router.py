"""/realtime, /realtime/stream (server-sent events) and /stats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from perfpilot.core.context import AppContext
from perfpilot.core.deps import ContextDep, SessionDep, ViewerAuth
from perfpilot.core.errors import InvalidField
from perfpilot.core.schemas import Envelope, ErrorEnvelope, ListEnvelope
from perfpilot.metrics.labels import LabelName
from perfpilot.monitoring import realtime
from perfpilot.monitoring.live_schemas import RealtimeOut, StatsOut
from perfpilot.monitoring.live_stream import live_events
from perfpilot.monitoring.stats import StatsCache, session_compute
from perfpilot.services.paging import DEFAULT_LIMIT, MAX_LIMIT, render_off_loop

router = APIRouter(tags=["monitoring"])


@router.get(
    "/realtime",
    response_model=Envelope[RealtimeOut] | ListEnvelope[RealtimeOut],
    summary="Latest value of each metric type, and a status",
    description="With serviceName: that service (404 when unknown). Without: every service "
    "(with samples, a desired state or an open alert) by name, in pages: `limit` per page, "
    "`cursor` = the previous response's `nextCursor` (null on the last page). A value is "
    "null when its newest sample is older than 300 s. Status: critical (open high/critical "
    "alert), degraded (open low/medium alert), unknown (no fresh sample), healthy. "
    "`groupBy=<label>` (with serviceName) adds `groups`: the latest values per value of that "
    "label.",
    responses={404: {"model": ErrorEnvelope, "description": "serviceName names no known service"}},
)
async def get_realtime(
    session: SessionDep,
    ctx: ContextDep,
    _: ViewerAuth,
    service_name: Annotated[str | None, Query(alias="serviceName", max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    group_by: Annotated[
        LabelName | None,
        Query(alias="groupBy", description="A label: figures per value of it (needs serviceName)"),
    ] = None,
) -> Envelope[RealtimeOut] | Response:
    now = datetime.now(UTC)
    fresh = ctx.settings.no_data_after_seconds
    if service_name is not None:
        view = await realtime.service_view(session, service_name, now=now, fresh_seconds=fresh)
        if group_by is not None:
            view.groups = await realtime.group_views(
                session, service_name, group_by, now=now, fresh_seconds=fresh
            )
        return Envelope(data=view, message="Realtime metrics retrieved successfully")
    if group_by is not None:
        message = "groupBy needs serviceName: the groups of one service"
        detail = {"field": "groupBy", "message": message, "type": "value_error", "in": "query"}
        raise InvalidField(message, details=[detail])
    rows, next_cursor = await realtime.views_page(session, limit=limit, cursor=cursor)
    return await render_off_loop(
        lambda: ListEnvelope(
            data=realtime.views(rows, now=now, fresh_seconds=fresh),
            count=len(rows),
            next_cursor=next_cursor,
            message="Realtime metrics retrieved successfully",
        )
    )


@router.get(
    "/realtime/stream",
    summary="Server-sent events: samples per second, alert and action changes",
    description="`text/event-stream`. Events: `ready` (subscribed), `metrics` (each second, "
    "per service: count/avg/min/max/last per type of the samples committed in that second), "
    "`alert.fired`, `alert.resolved`, `action.*` (the committed change), and a `: heartbeat` "
    "comment after `heartbeat` idle seconds. Optional serviceName filter.",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_realtime(
    ctx: ContextDep,
    _: ViewerAuth,
    service_name: Annotated[str | None, Query(alias="serviceName", max_length=100)] = None,
    heartbeat: Annotated[float, Query(ge=1, le=60)] = 15.0,
) -> StreamingResponse:
    return StreamingResponse(
        live_events(ctx, service_name=service_name, heartbeat=heartbeat),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )


def _stats_cache(request: Request, ctx: AppContext) -> StatsCache:
    """One cache per app (tests run many apps in one process)."""
    cache = getattr(request.app.state, "stats_cache", None)
    if not isinstance(cache, StatsCache):
        cache = StatsCache(session_compute(ctx.readers))
        request.app.state.stats_cache = cache
    return cache


@router.get(
    "/stats",
    response_model=Envelope[StatsOut],
    summary="Store-wide statistics (the seed's shape)",
    description="Counted by the database and cached: fresh for 2 s, then served while one "
    "background recount runs (at most 60 s old). The message says when it was counted.",
)
async def get_stats(request: Request, ctx: ContextDep, _: ViewerAuth) -> Envelope[StatsOut]:
    snapshot = await _stats_cache(request, ctx).get()
    return Envelope(
        data=snapshot.stats,
        message=f"Statistics computed at {snapshot.computed_at.isoformat()}",
    )
