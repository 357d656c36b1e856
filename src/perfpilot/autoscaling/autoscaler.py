"""The autoscaler loop's decision step: HPA recommendation per service, stabilised."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.actions import repository as actions_repo
from perfpilot.actions.executor import Proposal
from perfpilot.actions.impact import autoscaler_guard
from perfpilot.autoscaling import repository
from perfpilot.autoscaling.calibration import Calibration
from perfpilot.autoscaling.policy import ScalingPolicy, Stabilizer, hpa_desired
from perfpilot.autoscaling.predictive import PredictiveScaler
from perfpilot.autoscaling.service import policy_of
from perfpilot.core.config import Settings
from perfpilot.models import GLOBAL_SCOPE, AutoscalingConfig
from perfpilot.sizing.estimate import SATURATED
from perfpilot.sizing.service import SizingDecision, config_target, size_service


class Autoscaler:
    def __init__(self, settings: Settings) -> None:
        self.window = settings.autoscaler_window_seconds
        self.stabilizer = Stabilizer()
        self.predictive = PredictiveScaler()
        self.calibration = Calibration()

    async def proposals(
        self, session: AsyncSession, *, now: float, owns: Callable[[str], bool] | None = None
    ) -> list[Proposal]:
        """Scale proposals for every service with fresh data of its autoscaling metric."""
        configs = {c.service_name: c for c in await repository.all_configs(session)}
        default = configs.get(GLOBAL_SCOPE) or repository.default_config()
        metrics = {c.metric for c in configs.values() if c.enabled} | (
            {default.metric} if default.enabled else set()
        )
        start = datetime.fromtimestamp(now - self.window, UTC)
        end = datetime.fromtimestamp(now, UTC)
        out: list[Proposal] = []
        for metric in sorted(metrics):
            rows = await actions_repo.utilization_by_service(
                session, metric_type=metric, start=start, end=end
            )
            for service, utilization, samples in rows:
                if owns is not None and not owns(service):
                    continue  # another replica's engine scales it (scale-out)
                config = configs.get(service, default)
                if not config.enabled or config.metric != metric:
                    continue
                policy = policy_of(config)
                state = await actions_repo.get_state(session, service)
                current = state.instances if state is not None else policy.min_instances
                recommended = hpa_desired(current, utilization, policy)
                basis, extra = "HPA", {}
                sized: SizingDecision | None = None
                if config.mode == "model":
                    sized = await self._size(session, service, now, current, policy, config)
                    if sized.desired is not None:
                        recommended, basis = sized.desired, sized.reason
                        extra = {"sizing": sized.record}
                    else:
                        basis = f"HPA (model mode could not size: {sized.reason})"
                foreseen = ""
                if config.predictive:  # never below the reactive recommendation
                    prediction = await self.predictive.recommend(
                        session,
                        service,
                        now=now,
                        current=current,
                        utilization=utilization,
                        reactive=recommended,
                        policy=policy,
                        lead=config.lead_time_seconds,
                        window=self.window,
                        queue=sized.model if sized is not None else None,
                        target=config_target(config),
                    )
                    recommended = max(recommended, prediction.instances)
                    foreseen = f"; {prediction.note}"
                desired = self.stabilizer.decide(
                    service,
                    current=current,
                    recommended=recommended,
                    now=now,
                    window=policy.cooldown_period,
                )
                if desired == current:
                    continue
                kind = "scale_up" if desired > current else "scale_down"
                out.append(
                    Proposal(
                        service_name=service,
                        action_type=kind,
                        parameters={"instances": abs(desired - current)},
                        source="autoscaler",
                        at=now,
                        metric_type=metric,
                        aggregation="avg",
                        window=self.window,
                        guard=autoscaler_guard(
                            metric,
                            scale_up_threshold=policy.scale_up_threshold,
                            target=policy.target_utilization,
                        )
                        if kind == "scale_down"
                        else None,
                        note=(
                            f"{metric} avg {utilization:.1f} over {self.window:g}s "
                            f"({samples} samples) vs target {policy.target_utilization:g}: "
                            f"{basis} recommends {recommended}, stabilised {desired} "
                            f"(from {current}){foreseen}"
                        ),
                        extra=extra,
                        from_instances=current,
                    )
                )
        return out

    async def _size(
        self,
        session: AsyncSession,
        service: str,
        now: float,
        current: int,
        policy: ScalingPolicy,
        config: AutoscalingConfig,
    ) -> SizingDecision:
        """Model sizing, with μ and S from the last window at a steady instance count when
        this one spans a change (calibration.py); a steady, unsaturated window updates them."""
        steady = self.calibration.steady(service, instances=current, now=now, window=self.window)
        known = None if steady else self.calibration.get(service)
        sized = await size_service(
            session,
            service_name=service,
            at=now,
            window=self.window,
            current=current,
            min_instances=policy.min_instances,
            max_instances=policy.max_instances,
            target=config_target(config),
            steady=(
                known.model,
                f"measured at {known.instances} steady instances {now - known.at:.0f}s ago "
                "(this window spans a change of instances)",
            )
            if known is not None
            else None,
        )
        fitted = sized.measured
        calm = fitted is not None and fitted.arrival < SATURATED * current * fitted.service_rate
        if steady and fitted is not None and calm:
            self.calibration.remember(service, fitted, instances=current, at=now)
        return sized
