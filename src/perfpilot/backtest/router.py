"""POST /rules/backtest: what a rule would have done over stored samples (read-only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from perfpilot.backtest import service
from perfpilot.backtest.schemas import BacktestIn, BacktestOut
from perfpilot.core.auth import Principal, Role
from perfpilot.core.deps import Authorize, ContextDep
from perfpilot.core.errors import PerfpilotError
from perfpilot.core.schemas import Envelope, ErrorEnvelope

router = APIRouter(tags=["rules"])

# read-only, so a viewer may run it; heavier than a read, so it counts as a write
BacktestAuth = Annotated[Principal, Depends(Authorize(Role.viewer, "write"))]
TIME_LIMIT_SECONDS = 10.0


@router.post(
    "/rules/backtest",
    response_model=Envelope[BacktestOut],
    summary="Backtest a rule over stored samples",
    description="Runs the rule (the body of POST /rules; nothing is stored) through the real "
    "evaluation engine over the stored samples of [since, until) (default: the last 24 h), "
    "in time order, with the engine's periodic ticks. Returns when it would have been "
    "pending and firing, how each ended, and the actions it would have taken (the first "
    f"{service.MAX_ACTIONS_LISTED} listed; actionCount counts all). At most 7 days and "
    f"{TIME_LIMIT_SECONDS:g} s of work: beyond, 422.",
    responses={422: {"model": ErrorEnvelope, "description": "Invalid rule or period"}},
)
async def backtest_rule(
    body: BacktestIn, ctx: ContextDep, _: BacktestAuth
) -> Envelope[BacktestOut]:
    since, until = service.period(body.since, body.until)
    # its own read session: a long read never holds the (SQLite) write connection
    async with ctx.readers() as session:
        result = await service.run_backtest(
            session,
            body.rule,
            since=since,
            until=until,
            tick_seconds=ctx.settings.engine_tick_seconds,
            no_data_after=ctx.settings.no_data_after_seconds,
            time_limit=TIME_LIMIT_SECONDS,
        )
    return Envelope(
        data=result,
        message=f"Backtest over {result.samples} samples: fired {result.fired} times",
    )


class _PostOnly(PerfpilotError):
    status_code = 405
    code = "method_not_allowed"


@router.api_route(
    "/rules/backtest", methods=["GET", "PUT", "DELETE", "PATCH"], include_in_schema=False
)
async def backtest_other_methods() -> None:
    """Without this, GET/PUT/DELETE would reach /rules/{rule_id} and answer 404 ("backtest"
    is no rule id): the path exists, only POST is offered."""
    raise _PostOnly("Method Not Allowed", headers={"Allow": "POST"})
