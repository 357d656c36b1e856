"""Run a backtest: validate the rule as POST /rules would, stream samples into a Replay."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.backtest import repository
from perfpilot.backtest.replay import Replay, ReplayTooLong, summary
from perfpilot.backtest.schemas import BacktestAction, BacktestInterval, BacktestOut
from perfpilot.core.errors import InvalidField
from perfpilot.models import OptimizationRule
from perfpilot.rules.schemas import RuleIn
from perfpilot.rules.service import read_rule, rule_from_body

MAX_PERIOD = timedelta(days=7)
DEFAULT_PERIOD = timedelta(hours=24)
CHUNK = 5_000
MAX_ACTIONS_LISTED = 1_000


class BacktestTooLarge(InvalidField):
    code = "backtest_too_large"


def _invalid(field: str, message: str) -> InvalidField:
    return InvalidField(
        message, details=[{"field": field, "message": message, "type": "value_error"}]
    )


def period(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The checked period: until defaults to now, since to until - 24 h; at most 7 days."""
    end = _utc(until) if until is not None else datetime.now(UTC)
    start = _utc(since) if since is not None else end - DEFAULT_PERIOD
    if start >= end:
        raise _invalid("since", "since must be before until")
    if end - start > MAX_PERIOD:
        raise _invalid("since", f"a backtest covers at most {MAX_PERIOD.days} days")
    return start, end


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _transient_rule(body: RuleIn) -> OptimizationRule:
    """The rule as POST /rules would store it, never added to a session."""
    return rule_from_body(body, is_active=True)


async def run_backtest(
    session: AsyncSession,
    body: RuleIn,
    *,
    since: datetime,
    until: datetime,
    tick_seconds: float,
    no_data_after: float,
    time_limit: float,
) -> BacktestOut:
    """What the rule would have done over [since, until) of stored samples."""
    rule = _transient_rule(body)
    stored = read_rule(rule)
    if stored.spec is None or stored.action is None:
        raise _invalid("rule", stored.problem or "invalid rule")
    spec = stored.spec
    if spec.anomaly is not None:  # its interval is fitted live (forecast/anomaly.py)
        raise _invalid(
            "condition.operator", "a backtest replays fixed thresholds: not anomalous rules"
        )
    started = time.monotonic()

    def over_budget() -> bool:
        return time.monotonic() - started > time_limit

    replay = Replay(
        spec=spec,
        cooldown=stored.action.cooldown,
        tick_seconds=tick_seconds,
        no_data_after=no_data_after,
        over_budget=over_budget,
    )
    chunks = repository.samples_in_order(
        session,
        metric_type=spec.metric,
        service_name=spec.service_name,
        since=since,
        until=until,
        chunk=CHUNK,
    )
    try:
        async for chunk in chunks:
            replay.add(chunk)
            if over_budget():
                raise ReplayTooLong
            await asyncio.sleep(0)  # let the event loop serve others between chunks
        replay.finish(until.timestamp())
    except ReplayTooLong:
        raise BacktestTooLarge(
            f"The backtest replayed {replay.samples} samples in {time_limit:g} s without "
            "finishing; choose a shorter period",
            details=[
                {
                    "field": "since",
                    "message": f"the period needs more than {time_limit:g} s to replay",
                    "type": "value_error",
                }
            ],
        ) from None
    counts = summary(replay)
    return BacktestOut(
        since=since,
        until=until,
        samples=replay.samples,
        services=sorted(replay.services),
        fired=counts["fired"],
        resolved=counts["resolved"],
        intervals=[
            BacktestInterval(
                service_name=i.service_name,
                state="pending" if i.state == "pending" else "firing",
                start=_at(i.start),
                end=None if i.end is None else _at(i.end),
                ended_by=i.ended_by,
                peak_value=i.peak,
            )
            for i in replay.intervals
        ],
        actions=[
            BacktestAction(
                at=_at(a.at),
                service_name=a.service_name,
                type=stored.action.type,
                parameters=stored.action.parameters,
                repeat=a.repeat,
            )
            for a in replay.actions[:MAX_ACTIONS_LISTED]
        ],
        action_count=len(replay.actions),
        elapsed_ms=round((time.monotonic() - started) * 1000, 1),
    )


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
