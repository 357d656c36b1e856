"""POST /rules/backtest: a rule (as for POST /rules) and a period of stored samples."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from perfpilot.core.schemas import CamelModel
from perfpilot.rules.schemas import RuleIn


class BacktestIn(CamelModel):
    rule: RuleIn
    since: datetime | None = Field(default=None, description="Default: until - 24 h")
    until: datetime | None = Field(default=None, description="Default: now")


class BacktestInterval(CamelModel):
    """A time the (rule, service) pair spent pending or firing. end null: still so at until."""

    service_name: str
    state: Literal["pending", "firing"]
    start: datetime
    end: datetime | None
    # pending: fired | cleared | no_data; firing: recovered | no_data (the resolve reason)
    ended_by: str | None
    peak_value: float | None


class BacktestAction(CamelModel):
    """An action the rule would have taken: when its alert fired, then every cooldown while
    the alert stayed open and the condition held (as the engine does, never acknowledged)."""

    at: datetime
    service_name: str
    type: str
    parameters: dict[str, Any]
    repeat: bool


class BacktestOut(CamelModel):
    since: datetime
    until: datetime
    samples: int
    services: list[str]
    fired: int
    resolved: int
    intervals: list[BacktestInterval]
    actions: list[BacktestAction]
    action_count: int
    elapsed_ms: float
