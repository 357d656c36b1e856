"""Health endpoints and the Prometheus exposition."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from perfpilot.core.auth import Role
from perfpilot.core.deps import Authorize, ContextDep, ViewerAuth, bearer_scheme
from perfpilot.core.schemas import Envelope, ErrorEnvelope
from perfpilot.monitoring.health import check_health, database_ok
from perfpilot.monitoring.schemas import HealthOut

router = APIRouter(tags=["monitoring"])
probes = APIRouter(tags=["probes"])


@router.get(
    "/health",
    response_model=Envelope[HealthOut],
    summary="Service health",
    description="database, monitoring (engine loops alive) and alerts (webhook outbox "
    "delivering). 503 when the database is down.",
    responses={503: {"description": "Unhealthy: the database is unreachable"}},
)
async def get_health(ctx: ContextDep, _: ViewerAuth) -> Any:
    health = await check_health(ctx)
    envelope: Envelope[HealthOut] = Envelope(data=health, message=f"Service is {health.status}")
    if health.status == "unhealthy":
        body = envelope.model_dump(mode="json", by_alias=True)
        body["success"] = False
        body["error"] = {
            "code": "unhealthy",
            "message": "The database is unreachable",
            "details": [],
        }
        return JSONResponse(body, status_code=503)
    return envelope


@probes.get("/healthz", summary="Liveness probe", include_in_schema=True)
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@probes.get(
    "/readyz",
    summary="Readiness probe: the database answers",
    responses={503: {"description": "Not ready: the database does not answer"}},
)
async def readyz(ctx: ContextDep) -> Response:
    if await database_ok(ctx.read_engine):
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready", "database": False}, status_code=503)


@probes.get(
    "/metrics",
    summary="Prometheus exposition",
    description="Perfpilot's own metrics and the latest value per service and metric type. "
    "Needs a viewer token unless PERFPILOT_METRICS_PUBLIC=true.",
    response_class=Response,
    responses={
        200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}},
        401: {"model": ErrorEnvelope, "description": "No valid token (unless public)"},
        429: {"model": ErrorEnvelope, "description": "Rate limited"},
    },
)
async def prometheus_metrics(ctx: ContextDep, request: Request) -> Response:
    if not ctx.settings.metrics_public:
        await Authorize(Role.viewer, "read")(request, await bearer_scheme(request))
    return Response(generate_latest(ctx.telemetry.registry), media_type=CONTENT_TYPE_LATEST)
