"""Table definitions (SQLAlchemy). API schemas live apart, in each feature's schemas.py."""

from perfpilot.core.db import Base
from perfpilot.models.actions import OptimizationAction, ServiceState
from perfpilot.models.alerts import PerformanceAlert, RuleEvaluationState
from perfpilot.models.autoscaling import GLOBAL_SCOPE, AutoscalingConfig
from perfpilot.models.idempotency import IDEMPOTENCY_KEY_TTL, IdempotencyKey
from perfpilot.models.metrics import PerformanceMetric
from perfpilot.models.reports import OptimizationReport
from perfpilot.models.rules import OptimizationRule
from perfpilot.models.webhooks import Webhook, WebhookDelivery

__all__ = [
    "GLOBAL_SCOPE",
    "IDEMPOTENCY_KEY_TTL",
    "AutoscalingConfig",
    "Base",
    "IdempotencyKey",
    "OptimizationAction",
    "OptimizationReport",
    "OptimizationRule",
    "PerformanceAlert",
    "PerformanceMetric",
    "RuleEvaluationState",
    "ServiceState",
    "Webhook",
    "WebhookDelivery",
]
