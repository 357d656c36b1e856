"""/optimize: act on a sample now, or plan what would be done (dryRun)."""

from __future__ import annotations

from fastapi import APIRouter

from perfpilot.core.deps import ContextDep, OperatorAuth, SessionDep
from perfpilot.core.schemas import Envelope
from perfpilot.optimize import service
from perfpilot.optimize.schemas import OptimizeIn, OptimizeOut

router = APIRouter(tags=["optimize"])


@router.post(
    "/optimize",
    response_model=Envelope[OptimizeOut],
    summary="Optimize a service on a sample",
    description="Records the sample, evaluates the service's active rules on it at once and "
    "executes what fires (`dryRun`: stores and changes nothing, returns the plan). Predicted "
    "impact comes from measured history (>= 3 measured actions, basis `history`), else a "
    "stated model (basis `model`), else null. Recommendations cite their figures.",
)
async def post_optimize(
    body: OptimizeIn, session: SessionDep, ctx: ContextDep, _: OperatorAuth
) -> Envelope[OptimizeOut]:
    result = await service.optimize(session, ctx, body)
    return Envelope(data=result, message="Performance optimization completed")
