"""Per-action-type parameter validation (unknown keys rejected), with field paths in errors."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from perfpilot.core.errors import InvalidField, validation_details


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ScaleParams(_Params):
    instances: int | Literal["auto"] = Field(
        default=1,
        description='Step (1-1000), or "auto": one step to the size the M/M/c model gives '
        "for the rule's latency threshold (or the autoscaling targetLatency)",
    )

    @field_validator("instances")
    @classmethod
    def _step_range(cls, value: int | str) -> int | str:
        if isinstance(value, int) and not 1 <= value <= 1000:
            raise ValueError('must be a step of 1-1000 or "auto"')
        return value


class CacheClearParams(_Params):
    scope: str | None = Field(default=None, max_length=200)


class ModelSwitchParams(_Params):
    model: str = Field(min_length=1, max_length=200)
    from_model: str | None = Field(default=None, alias="fromModel", min_length=1, max_length=200)


class RetryParams(_Params):
    max_retries: int = Field(alias="maxRetries", ge=0, le=10)
    backoff_ms: int = Field(default=200, alias="backoffMs", ge=0, le=60_000)


class FallbackParams(_Params):
    models: list[str] | None = Field(default=None, min_length=1, max_length=5)
    model: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_of(self) -> FallbackParams:
        if self.models is None and self.model is None:
            raise ValueError("fallback needs `models` (1-5 names) or `model`")
        if self.models is not None and self.model is not None:
            raise ValueError("give either `models` or `model`, not both")
        if self.models is not None and any(not m or len(m) > 200 for m in self.models):
            raise ValueError("model names must be 1-200 characters")
        return self


PARAMETER_MODELS: dict[str, type[_Params]] = {
    "scale_up": ScaleParams,
    "scale_down": ScaleParams,
    "cache_clear": CacheClearParams,
    "model_switch": ModelSwitchParams,
    "retry": RetryParams,
    "fallback": FallbackParams,
}


def normalise_parameters(action_type: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """Validated parameters with defaults filled in, in camelCase; 422 naming the field."""
    model = PARAMETER_MODELS[action_type]
    try:
        parsed = model.model_validate(parameters)
    except ValidationError as exc:
        details = validation_details(exc.errors())
        for detail in details:
            suffix = "" if detail["field"] == "body" else f".{detail['field']}"
            detail["field"] = f"action.parameters{suffix}"
        fields = ", ".join(sorted({d["field"] for d in details}))
        raise InvalidField(f"Invalid {action_type} parameters: {fields}", details=details) from None
    out = parsed.model_dump(by_alias=True, exclude_none=True)
    if isinstance(parsed, FallbackParams):
        out = {"models": parsed.models or [parsed.model]}
    return out
