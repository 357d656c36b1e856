from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from pydantic.json_schema import SkipJsonSchema

from perfpilot.core.schemas import CamelModel
from perfpilot.metrics.schemas import MetricIn


class OptimizeIn(MetricIn):
    """A sample with a value (no histogram), plus `dryRun`: plan only, store and change
    nothing."""

    histogram: SkipJsonSchema[None] = None
    interval_seconds: SkipJsonSchema[None] = None
    value: float = Field(
        strict=True,
        examples=[1500],
        description="A JSON number, in `unit`; once canonical, finite and in the type's range",
    )
    dry_run: bool = False


class PlannedAction(CamelModel):
    type: str
    parameters: dict[str, Any]
    impact: float | None = Field(description="Predicted relative improvement (null: no basis)")
    basis: Literal["history", "model"] | None
    basis_samples: int = Field(description="Measured actions behind a history prediction")
    status: str = Field(description="executed, skipped, dry_run, or not_triggered")
    description: str
    rule_id: str | None = None
    action_id: str | None = None


class Recommendation(CamelModel):
    kind: str
    message: str
    evidence: dict[str, Any]


class OptimizeMetrics(CamelModel):
    before: float
    after: float | None
    improvement: float | None


class OptimizeOut(CamelModel):
    optimized: bool
    actions: list[PlannedAction]
    recommendations: list[str]
    recommendation_details: list[Recommendation]
    metrics: OptimizeMetrics
