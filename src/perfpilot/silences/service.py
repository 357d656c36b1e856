"""Creating, listing and expiring silences. Expired silences stay, for audit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from perfpilot.core.errors import Conflict, InvalidField, NotFound
from perfpilot.models import Silence
from perfpilot.silences import repository
from perfpilot.silences.matching import invalidate_silences, silence_state
from perfpilot.silences.schemas import MAX_DURATION_DAYS, SilenceIn, SilenceOut


def parse_id(raw: str) -> uuid.UUID:
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(f"Silence {raw!r} not found") from None


def _invalid(field: str, message: str) -> InvalidField:
    detail = {"field": field, "in": "body", "message": message, "type": "value_error"}
    return InvalidField(f"Invalid request: {field}: {message}", details=[detail])


async def create_silence(session: AsyncSession, body: SilenceIn, *, by: str) -> Silence:
    now = datetime.now(UTC)
    starts_at = body.starts_at or now
    if body.ends_at <= now:
        raise _invalid("endsAt", "must be in the future")
    if body.ends_at <= starts_at:
        raise _invalid("endsAt", "must be after startsAt")
    if body.ends_at - starts_at > timedelta(days=MAX_DURATION_DAYS):
        raise _invalid("endsAt", f"a silence lasts at most {MAX_DURATION_DAYS} days")
    silence = Silence(
        id=uuid.uuid4(),
        matchers=[m.model_dump() for m in body.matchers],
        starts_at=starts_at,
        ends_at=body.ends_at,
        created_by=by,
        comment=body.comment,
        created_at=now,
        updated_at=now,
    )
    await repository.add(session, silence)
    invalidate_silences(session)
    return silence


async def get_silence(session: AsyncSession, silence_id: uuid.UUID) -> Silence:
    silence = await repository.get(session, silence_id)
    if silence is None:
        raise NotFound(f"Silence {silence_id} not found")
    return silence


async def list_silences(session: AsyncSession, *, state: str | None, limit: int) -> list[Silence]:
    now = datetime.now(UTC)
    ended_after = now if state in ("pending", "active") else None
    rows: Sequence[Silence] = await repository.list_silences(
        session, limit=limit if state is None else 10 * limit, ended_after=ended_after
    )
    if state is not None:
        rows = [r for r in rows if silence_state(r.starts_at, r.ends_at, now) == state]
    return list(rows)[:limit]


async def expire_silence(session: AsyncSession, silence_id: uuid.UUID, *, by: str) -> Silence:
    """End it now (a pending one never starts); 409 when it has already ended."""
    silence = await get_silence(session, silence_id)
    now = datetime.now(UTC)
    if silence.ends_at <= now:
        raise Conflict(f"Silence {silence_id} has already expired")
    if silence.starts_at > now:
        silence.starts_at = now
    silence.ends_at = now
    silence.updated_at = now
    silence.expired_by = by
    await session.flush()
    invalidate_silences(session)
    return silence


def silence_out(silence: Silence, *, now: datetime | None = None) -> SilenceOut:
    at = now or datetime.now(UTC)
    return SilenceOut(
        id=silence.id,
        matchers=[{k: str(v) for k, v in m.items()} for m in silence.matchers],
        starts_at=silence.starts_at,
        ends_at=silence.ends_at,
        created_by=silence.created_by,
        comment=silence.comment,
        state=silence_state(silence.starts_at, silence.ends_at, at),
        created_at=silence.created_at,
        updated_at=silence.updated_at,
        expired_by=silence.expired_by,
    )
