"""The rule engine: a pure evaluation core (windows, alert state machine) and its loops."""

from perfpilot.engine.core import EvaluationCore, rule_matches
from perfpilot.engine.state_machine import (
    AlertTransition,
    Phase,
    RuleSpec,
    RuleState,
    TransitionKind,
    condition_holds,
    resolve_threshold_error,
)
from perfpilot.engine.windows import AGGREGATIONS, Sample, SlidingWindow, percentile_cont

__all__ = [
    "AGGREGATIONS",
    "AlertTransition",
    "EvaluationCore",
    "Phase",
    "RuleSpec",
    "RuleState",
    "Sample",
    "SlidingWindow",
    "TransitionKind",
    "condition_holds",
    "percentile_cont",
    "resolve_threshold_error",
    "rule_matches",
]
