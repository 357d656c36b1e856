"""Rows to API shapes for actions and desired states."""

from __future__ import annotations

import uuid

from perfpilot.actions.effects import DesiredState
from perfpilot.actions.schemas import ActionOut, GuardOut, ServiceStateOut
from perfpilot.models import OptimizationAction, ServiceState


def state_of_row(row: ServiceState) -> DesiredState:
    return DesiredState(
        instances=row.instances,
        model=row.model,
        fallback_models=tuple(row.fallback_models or ()),
        fallback_active=row.fallback_active,
        retry_policy=dict(row.retry_policy or {}),
        cache_epoch=row.cache_epoch,
    )


def state_out(row: ServiceState) -> ServiceStateOut:
    return ServiceStateOut(
        service_name=row.service_name,
        instances=row.instances,
        model=row.model,
        fallback_models=list(row.fallback_models or []),
        fallback_active=row.fallback_active,
        retry_policy=dict(row.retry_policy or {}),
        cache_epoch=row.cache_epoch,
        version=row.version,
        updated_at=row.updated_at,
    )


def action_out(action: OptimizationAction) -> ActionOut:
    return ActionOut(
        id=action.id,
        service_name=action.service_name,
        type=action.action_type,
        parameters=action.parameters or {},
        source=action.source,
        rule_id=action.rule_id,
        alert_id=action.alert_id,
        status=action.status,
        reason=action.reason,
        state_before=action.state_before,
        state_after=action.state_after,
        metric_type=action.metric_type,
        aggregation=action.aggregation,
        baseline=action.baseline,
        baseline_samples=action.baseline_samples,
        predicted_impact=action.predicted_impact,
        prediction_basis=action.prediction_basis,
        measured_value=action.measured_value,
        measured_samples=action.measured_samples,
        measured_impact=action.measured_impact,
        outcome=action.outcome,
        measurement_note=action.measurement_note,
        guard=GuardOut.model_validate(action.guard) if action.guard else None,
        overlaps_with=[uuid.UUID(str(i)) for i in action.overlaps_with or []],
        credited=action.credited is not False,
        sizing=action.sizing,
        revert_on_resolve=bool(action.revert_on_resolve),
        executed_at=action.executed_at,
        measure_due_at=action.measure_due_at,
        measured_at=action.measured_at,
    )
