"""How the simulated service follows its desired state (GET /services/:name `state`).

Pure: every method takes the simulated time it happens at. The rules of convergence:
- instances: new instances serve `startup_seconds` after they are asked for (loading a model
  takes time); removals are immediate (starting instances go first, then ready ones);
- model: `model` null keeps the service's own model; an active fallback serves with the first
  fallback model the simulator knows; an unknown model name is ignored (and said so);
- retry policy: `maxRetries` and `backoffMs` apply at once;
- cache: a higher `cacheEpoch` clears the cache (its hit rate refills from zero, see
  model.cache_hit_rate); the epoch seen first is adopted without a clear;
- a state older than the last one applied (webhooks may arrive out of order) is ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from perfpilot.simulator.model import MODELS, Conditions, ModelSpec, cache_hit_rate

NEVER = float("-inf")


@dataclass(frozen=True, slots=True)
class TargetState:
    """The desired state as the API returns it (`state` of GET /services/:name)."""

    version: int
    instances: int
    model: str | None = None
    fallback_models: tuple[str, ...] = ()
    fallback_active: bool = False
    max_retries: int = 0
    backoff_ms: float = 0.0
    cache_epoch: int = 0

    @classmethod
    def from_api(cls, data: Mapping[str, Any], *, version: int | None = None) -> TargetState:
        """From the API's camelCase state (webhooks carry the version next to it)."""
        retry = data.get("retryPolicy") or {}
        return cls(
            version=int(data["version"] if version is None else version),
            instances=int(data["instances"]),
            model=data.get("model"),
            fallback_models=tuple(data.get("fallbackModels") or ()),
            fallback_active=bool(data.get("fallbackActive", False)),
            max_retries=int(retry.get("maxRetries", 0)),
            backoff_ms=float(retry.get("backoffMs", 0)),
            cache_epoch=int(data.get("cacheEpoch", 0)),
        )


@dataclass
class ServiceRuntime:
    """The running service: its instances (ready or starting), model, retries and cache."""

    base_model: str
    instances: int
    startup_seconds: float = 5.0
    base_cache_hit_rate: float = 0.2
    cache_recovery_seconds: float = 60.0
    queue_timeout_ms: float = 10_000.0
    tokens_per_request: float = 500.0
    version: int = 0
    model_name: str = field(init=False)
    max_retries: int = 0
    backoff_ms: float = 0.0
    cache_epoch: int | None = None
    cache_cleared_at: float | None = None
    _ready_at: list[float] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        if self.base_model not in MODELS:
            raise ValueError(f"unknown model {self.base_model!r}: use one of {', '.join(MODELS)}")
        if self.instances < 1:
            raise ValueError("instances must be >= 1")
        self.model_name = self.base_model
        self._ready_at = [NEVER] * self.instances

    @property
    def model(self) -> ModelSpec:
        return MODELS[self.model_name]

    @property
    def desired_instances(self) -> int:
        return len(self._ready_at)

    def ready_instances(self, now: float) -> int:
        return sum(1 for ready in self._ready_at if ready <= now)

    def apply(self, target: TargetState, now: float) -> list[str]:
        """Converge to `target` from `now` on; returns what changed, in words."""
        if target.version <= self.version:
            return []
        self.version = target.version
        changes = self._scale(target.instances, now)
        model = self._serving_model(target)
        if model is None:
            wanted = target.fallback_models if target.fallback_active else (target.model,)
            changes.append(f"unknown model {', '.join(str(m) for m in wanted)}: ignored")
        elif model != self.model_name:
            changes.append(f"model {self.model_name} -> {model}")
            self.model_name = model
        if (target.max_retries, target.backoff_ms) != (self.max_retries, self.backoff_ms):
            changes.append(f"retries {target.max_retries} (backoff {target.backoff_ms:g} ms)")
            self.max_retries, self.backoff_ms = target.max_retries, target.backoff_ms
        if self.cache_epoch is not None and target.cache_epoch > self.cache_epoch:
            changes.append(f"cache cleared (epoch {target.cache_epoch})")
            self.cache_cleared_at = now
        self.cache_epoch = target.cache_epoch
        return changes

    def _scale(self, wanted: int, now: float) -> list[str]:
        wanted = max(0, wanted)
        have = len(self._ready_at)
        if wanted > have:
            self._ready_at.extend([now + self.startup_seconds] * (wanted - have))
        elif wanted < have:
            self._ready_at.sort()  # the newest (still starting) instances stop first
            del self._ready_at[wanted:]
        return [f"instances {have} -> {wanted}"] if wanted != have else []

    def _serving_model(self, target: TargetState) -> str | None:
        if target.fallback_active:
            return next((m for m in target.fallback_models if m in MODELS), None)
        if target.model is None:
            return self.base_model
        return target.model if target.model in MODELS else None

    def cache_hit_rate(self, now: float) -> float:
        since = None if self.cache_cleared_at is None else now - self.cache_cleared_at
        return cache_hit_rate(
            self.base_cache_hit_rate, since_clear=since, recovery_s=self.cache_recovery_seconds
        )

    def conditions(self, now: float, arrival_rps: float) -> Conditions:
        """The model's inputs at `now`."""
        hit = self.cache_hit_rate(now)
        base = self.base_cache_hit_rate
        return Conditions(
            arrival_rps=arrival_rps,
            instances=self.ready_instances(now),
            model=self.model,
            max_retries=self.max_retries,
            backoff_ms=self.backoff_ms,
            cache_hit_rate=hit,
            cache_fill=hit / base if base > 0 else 1.0,
            queue_timeout_ms=self.queue_timeout_ms,
            tokens_per_request=self.tokens_per_request,
        )
