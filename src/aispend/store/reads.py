"""Reads for reports. Each is one indexed range query on a UTC half-open day range
``[start, end)``: no casts on indexed columns and no inclusive-midnight end dates (the two
mistakes that made peers' spend queries slow or wrong)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from aispend.money import from_nanos
from aispend.records import CreditSnapshot, OpenRouterActivity, OpenRouterKey
from aispend.spend.model import Directory, KeyDay, SpendLine
from aispend.store.models import (
    OpenAICostDaily,
    OpenAIKeyName,
    OpenAIProjectName,
    OpenRouterActivityDaily,
    OpenRouterCreditSnapshot,
    OpenRouterKeyDay,
    OpenRouterKeyState,
    PollRun,
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which provider refs to read. ``None`` for every matcher of a provider means all its rows;
    an empty collection means none of them."""

    openai_projects: Collection[str] | None = None
    openai_keys: Collection[str] | None = None
    openrouter_keys: Collection[str] | None = None


ALL = Scope()


def _none_if_blank(value: str) -> str | None:
    return value or None


def openai_lines(session: Session, start: date, end: date, scope: Scope = ALL) -> list[SpendLine]:
    table = OpenAICostDaily.__table__.c  # type: ignore[attr-defined]
    query = select(
        table.day, table.project_id, table.api_key_id, table.line_item, table.model, table.amount_nanos
    ).where(table.day >= start, table.day < end)
    if scope.openai_projects is not None or scope.openai_keys is not None:
        projects = list(scope.openai_projects or ())
        keys = list(scope.openai_keys or ())
        if not projects and not keys:
            return []
        conditions = []
        if projects:
            conditions.append(table.project_id.in_(projects))
        if keys:
            conditions.append(table.api_key_id.in_(keys))
        query = query.where(or_(*conditions))
    return [
        SpendLine(
            provider="openai",
            day=row.day,
            amount=from_nanos(row.amount_nanos),
            project_ref=_none_if_blank(row.project_id),
            key_ref=_none_if_blank(row.api_key_id),
            model=_none_if_blank(row.model),
            detail=_none_if_blank(row.line_item),
        )
        for row in session.execute(query)
    ]


def openrouter_lines(session: Session, start: date, end: date, scope: Scope = ALL) -> list[SpendLine]:
    table = OpenRouterActivityDaily.__table__.c  # type: ignore[attr-defined]
    query = select(
        table.day,
        table.key_hash,
        table.model,
        table.provider_name,
        table.usage_nanos,
        table.requests,
        table.prompt_tokens,
        table.completion_tokens,
    ).where(table.day >= start, table.day < end)
    if scope.openrouter_keys is not None:
        hashes = list(scope.openrouter_keys)
        if not hashes:
            return []
        query = query.where(table.key_hash.in_(hashes))
    return [
        SpendLine(
            provider="openrouter",
            day=row.day,
            amount=from_nanos(row.usage_nanos),
            key_ref=row.key_hash,
            model=row.model,
            detail=row.provider_name,
            requests=row.requests,
            input_tokens=row.prompt_tokens,
            output_tokens=row.completion_tokens,
        )
        for row in session.execute(query)
    ]


def key_days(session: Session, start: date, end: date, scope: Scope = ALL) -> list[KeyDay]:
    table = OpenRouterKeyDay.__table__.c  # type: ignore[attr-defined]
    query = select(table.day, table.key_hash, table.usage_daily_nanos, table.taken_at).where(
        table.day >= start, table.day < end
    )
    if scope.openrouter_keys is not None:
        hashes = list(scope.openrouter_keys)
        if not hashes:
            return []
        query = query.where(table.key_hash.in_(hashes))
    return [
        KeyDay(
            day=row.day,
            key_hash=row.key_hash,
            usage_daily=from_nanos(row.usage_daily_nanos),
            taken_at=row.taken_at,
        )
        for row in session.execute(query)
    ]


def last_activity_days(session: Session) -> dict[str, date]:
    """The newest ``/activity`` day stored per key."""
    table = OpenRouterActivityDaily.__table__.c  # type: ignore[attr-defined]
    query = select(table.key_hash, func.max(table.day)).group_by(table.key_hash)
    return {row[0]: row[1] for row in session.execute(query)}


def activity(session: Session, start: date, end: date) -> list[OpenRouterActivity]:
    table = OpenRouterActivityDaily.__table__.c  # type: ignore[attr-defined]
    query = select(table).where(table.day >= start, table.day < end)
    return [
        OpenRouterActivity(
            day=row.day,
            key_hash=row.key_hash,
            model=row.model,
            provider_name=row.provider_name,
            usage=from_nanos(row.usage_nanos),
            byok_usage=from_nanos(row.byok_usage_nanos),
            requests=row.requests,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            reasoning_tokens=row.reasoning_tokens,
        )
        for row in session.execute(query)
    ]


def credit_snapshots(session: Session, since: datetime) -> list[CreditSnapshot]:
    """Snapshots taken at or after ``since`` plus the newest one before it (for the 24 h rate)."""
    table = OpenRouterCreditSnapshot.__table__.c  # type: ignore[attr-defined]
    recent = session.execute(
        select(table.taken_at, table.total_credits_nanos, table.total_usage_nanos)
        .where(table.taken_at >= since)
        .order_by(table.taken_at)
    ).all()
    before = session.execute(
        select(table.taken_at, table.total_credits_nanos, table.total_usage_nanos)
        .where(table.taken_at < since)
        .order_by(table.taken_at.desc())
        .limit(1)
    ).all()
    return [
        CreditSnapshot(taken_at=row[0], total_credits=from_nanos(row[1]), total_usage=from_nanos(row[2]))
        for row in [*before, *recent]
    ]


def openrouter_keys(session: Session) -> list[OpenRouterKey]:
    rows = session.execute(select(OpenRouterKeyState)).scalars().all()

    def opt(value: int | None) -> Decimal | None:
        return None if value is None else from_nanos(value)

    return [
        OpenRouterKey(
            hash=row.hash,
            name=row.name,
            label=row.label,
            disabled=row.disabled,
            limit=opt(row.limit_nanos),
            limit_remaining=opt(row.limit_remaining_nanos),
            limit_reset=row.limit_reset,
            usage=from_nanos(row.usage_nanos),
            usage_daily=from_nanos(row.usage_daily_nanos),
            usage_weekly=from_nanos(row.usage_weekly_nanos),
            usage_monthly=from_nanos(row.usage_monthly_nanos),
            byok_usage=from_nanos(row.byok_usage_nanos),
        )
        for row in rows
    ]


def directory(session: Session) -> Directory:
    projects = {row.id: row.name for row in session.execute(select(OpenAIProjectName)).scalars() if row.name}
    keys = {row.id: row.name for row in session.execute(select(OpenAIKeyName)).scalars() if row.name}
    hashes = {
        row[0]: row[1]
        for row in session.execute(select(OpenRouterKeyState.hash, OpenRouterKeyState.name))  # type: ignore[call-overload]
        if row[1]
    }
    return Directory(openai_projects=projects, openai_keys=keys, openrouter_keys=hashes)


def latest_runs(session: Session) -> list[PollRun]:
    """The newest run per (provider, endpoint), plus each endpoint's newest successful run."""
    table = PollRun.__table__.c  # type: ignore[attr-defined]
    newest = select(func.max(table.id)).group_by(table.provider, table.endpoint)
    newest_ok = (
        select(func.max(table.id)).where(table.status == "ok").group_by(table.provider, table.endpoint)
    )
    ids = [row[0] for row in session.execute(newest)] + [row[0] for row in session.execute(newest_ok)]
    if not ids:
        return []
    runs = session.execute(select(PollRun).where(table.id.in_(ids)).order_by(table.id)).scalars()
    return list(runs)


def has_successful_run(session: Session, provider: str, endpoint: str) -> bool:
    table = PollRun.__table__.c  # type: ignore[attr-defined]
    query = select(table.id).where(
        and_(table.provider == provider, table.endpoint == endpoint, table.status == "ok")
    )
    return session.execute(query.limit(1)).first() is not None
