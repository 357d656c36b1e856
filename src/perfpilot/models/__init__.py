"""Table definitions (SQLAlchemy). API schemas live apart, in each feature's schemas.py."""

from perfpilot.core.db import Base
from perfpilot.models.actions import OptimizationAction, ServiceState
from perfpilot.models.alertmanager import AlertmanagerBinding, AlertmanagerNotice
from perfpilot.models.alerts import PerformanceAlert, RuleEvaluationState
from perfpilot.models.autoscaling import GLOBAL_SCOPE, AutoscalingConfig
from perfpilot.models.histograms import PerformanceHistogram
from perfpilot.models.idempotency import IDEMPOTENCY_KEY_TTL, IdempotencyKey
from perfpilot.models.metric_types import UserMetricType
from perfpilot.models.metrics import (
    MetricRollup,
    MetricSeries,
    MetricSeriesLabel,
    PerformanceMetric,
)
from perfpilot.models.prices import ModelPrice
from perfpilot.models.reports import OptimizationReport
from perfpilot.models.rules import OptimizationRule
from perfpilot.models.shards import EngineShard
from perfpilot.models.silences import Silence
from perfpilot.models.targets import ScrapeTarget
from perfpilot.models.webhooks import Webhook, WebhookDelivery, WebhookGroup

__all__ = [
    "GLOBAL_SCOPE",
    "IDEMPOTENCY_KEY_TTL",
    "AlertmanagerBinding",
    "AlertmanagerNotice",
    "AutoscalingConfig",
    "Base",
    "EngineShard",
    "IdempotencyKey",
    "MetricRollup",
    "MetricSeries",
    "MetricSeriesLabel",
    "ModelPrice",
    "OptimizationAction",
    "OptimizationReport",
    "OptimizationRule",
    "PerformanceAlert",
    "PerformanceHistogram",
    "PerformanceMetric",
    "RuleEvaluationState",
    "ScrapeTarget",
    "ServiceState",
    "Silence",
    "UserMetricType",
    "Webhook",
    "WebhookDelivery",
    "WebhookGroup",
]
