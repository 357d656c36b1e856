"""Request and response shapes of /silences."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field, field_validator, model_validator

from perfpilot.core.schemas import CamelModel
from perfpilot.rules.schemas import MatcherIn
from perfpilot.silences.matching import SilenceState

MAX_MATCHERS = 16
MAX_DURATION_DAYS = 366


class SilenceIn(CamelModel):
    matchers: list[MatcherIn] = Field(
        min_length=1,
        max_length=MAX_MATCHERS,
        description="All must match. Labels seen: the alert's labels plus `service`, "
        "`severity`, `metric`, `rule` and `alertname` (the rule's name) and `rule_id`",
        examples=[[{"label": "service", "op": "=", "value": "ai-chat-service"}]],
    )
    starts_at: datetime | None = Field(default=None, description="Default: now")
    ends_at: datetime = Field(description="After startsAt (and after now)")
    comment: str = Field(min_length=1, max_length=2000, examples=["deploying v2.3"])

    @field_validator("starts_at", "ends_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("must carry a timezone (e.g. 2026-12-01T10:00:00Z)")
        return value

    @model_validator(mode="after")
    def _window(self) -> SilenceIn:
        if self.starts_at is not None:
            if self.ends_at <= self.starts_at:
                raise ValueError("endsAt must be after startsAt")
            if (self.ends_at - self.starts_at).days > MAX_DURATION_DAYS:
                raise ValueError(f"a silence lasts at most {MAX_DURATION_DAYS} days")
        return self


class SilenceOut(CamelModel):
    id: uuid.UUID
    matchers: list[dict[str, str]]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    state: SilenceState = Field(description="pending (not started), active, or expired")
    created_at: datetime
    updated_at: datetime
    expired_by: str | None = Field(description="Who expired it early (DELETE), if anyone")
