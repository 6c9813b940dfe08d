"""Builders for spend-domain tests: short names for the records the store would hand over."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypedDict, Unpack

from aispend.records import CreditSnapshot, OpenRouterActivity, OpenRouterKey, Provider
from aispend.spend.attribution import Matcher
from aispend.spend.model import KeyDay, MonthSpend, ProjectReport, SpendLine, TeamProject, TeamReport
from aispend.spend.reports import (
    daily_by_project,
    fill_openrouter_gaps,
    month_window,
    project_report,
    team_report,
)


def D(text: str | int) -> Decimal:
    return Decimal(text)


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def oa(
    day: date,
    amount: str | Decimal,
    project: str | None = "proj_a",
    key: str | None = None,
    model: str | None = "gpt-4o",
    billed_item: str | None = "gpt-4o, input",
    provisional: bool = False,
) -> SpendLine:
    return SpendLine(
        provider="openai",
        day=day,
        amount=Decimal(amount),
        project_ref=project,
        key_ref=key,
        model=model,
        billed_item=billed_item,
        provisional=provisional,
    )


def orl(
    day: date,
    amount: str | Decimal,
    key: str | None = "hash_a",
    model: str | None = "anthropic/claude-sonnet-4",
    route: str | None = "Anthropic",
    provisional: bool = False,
) -> SpendLine:
    return SpendLine(
        provider="openrouter",
        day=day,
        amount=Decimal(amount),
        key_ref=key,
        model=model,
        billed_item=route,
        provisional=provisional,
    )


def line(provider: Provider, day: date, amount: Decimal, **kw: Any) -> SpendLine:
    return SpendLine(provider=provider, day=day, amount=amount, **kw)


def project(name: str, **kw: Any) -> TeamProject:
    return TeamProject(name=name, **kw)


def key_day(day: date, key: str, usage: str, taken_at: datetime | None = None) -> KeyDay:
    return KeyDay(
        day=day,
        key_hash=key,
        usage_daily=Decimal(usage),
        taken_at=taken_at or datetime(day.year, day.month, day.day, 23, 50, tzinfo=UTC),
    )


def snap(taken_at: datetime, usage: str, credits: str = "100") -> CreditSnapshot:
    return CreditSnapshot(taken_at=taken_at, total_credits=Decimal(credits), total_usage=Decimal(usage))


def or_key(
    hash_: str,
    limit: str | None = None,
    remaining: str | None = None,
    disabled: bool = False,
    name: str | None = None,
) -> OpenRouterKey:
    return OpenRouterKey(
        hash=hash_,
        name=name or hash_,
        label=None,
        disabled=disabled,
        limit=None if limit is None else Decimal(limit),
        limit_remaining=None if remaining is None else Decimal(remaining),
        limit_reset=None,
        usage=Decimal(0),
        usage_daily=Decimal(0),
        usage_weekly=Decimal(0),
        usage_monthly=Decimal(0),
        byok_usage=Decimal(0),
    )


def activity(
    day: date,
    usage: str,
    model: str = "openai/gpt-4o",
    provider_name: str = "OpenAI",
    requests: int = 1,
    prompt: int = 0,
    completion: int = 0,
    reasoning: int = 0,
    key: str = "hash_a",
    byok: str = "0",
) -> OpenRouterActivity:
    return OpenRouterActivity(
        day=day,
        key_hash=key,
        model=model,
        provider_name=provider_name,
        usage=Decimal(usage),
        byok_usage=Decimal(byok),
        requests=requests,
        prompt_tokens=prompt,
        completion_tokens=completion,
        reasoning_tokens=reasoning,
    )


def find_floats(value: object, path: str = "$") -> list[str]:
    """Every path under ``value`` (dataclasses, dicts, sequences) that holds a float."""
    if isinstance(value, float):
        return [path]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: list[str] = []
        for f in dataclasses.fields(value):
            out += find_floats(getattr(value, f.name), f"{path}.{f.name}")
        return out
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            out += find_floats(k, f"{path}[key]")
            out += find_floats(v, f"{path}[{k!r}]")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        out = []
        for i, v in enumerate(value):
            out += find_floats(v, f"{path}[{i}]")
        return out
    return []


def spend_from_lines(
    matcher: Matcher,
    lines: Iterable[SpendLine],
    month: date,
    now: datetime,
    *,
    key_days: Iterable[KeyDay] = (),
    activity_through: Mapping[str, date] | None = None,
) -> MonthSpend:
    """What the store hands the report assembly, built from daily lines instead of rollups:
    OpenRouter gaps filled from key readings, the month's UTC days up to today, daily sums per
    project (``tests/spend/test_assembly.py`` proves both grains give the same report)."""
    first, last = month_window(month, now)
    filled = fill_openrouter_gaps(lines, key_days, now, activity_through=activity_through)
    window = [line for line in filled if first <= line.day <= last]
    daily, provisional = daily_by_project(window, matcher)
    return MonthSpend(month=month, lines=window, daily=daily, provisional=provisional)


class FillOptions(TypedDict, total=False):
    """What :func:`spend_from_lines` fills OpenRouter gaps from."""

    key_days: Iterable[KeyDay]
    activity_through: Mapping[str, date] | None


def team_from_lines(
    matcher: Matcher, lines: Iterable[SpendLine], month: date, now: datetime, **fills: Unpack[FillOptions]
) -> TeamReport:
    """:func:`~aispend.spend.reports.team_report` over :func:`spend_from_lines`."""
    return team_report(matcher, spend_from_lines(matcher, lines, month, now, **fills), now)


def project_from_lines(
    matcher: Matcher,
    project: str,
    lines: Iterable[SpendLine],
    month: date,
    now: datetime,
    **fills: Unpack[FillOptions],
) -> ProjectReport:
    """:func:`~aispend.spend.reports.project_report` over :func:`spend_from_lines`."""
    return project_report(matcher, project, spend_from_lines(matcher, lines, month, now, **fills), now)
