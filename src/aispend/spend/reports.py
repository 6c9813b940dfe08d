"""Month-to-date reports per project (:func:`project_report`) and for the whole team
(:func:`team_report`), assembled from a :class:`~aispend.spend.model.MonthSpend`.

One pipeline: the caller (``SpendService``, from the store's rollups) hands over the month's spend
at any grain plus, per project, the daily amounts and the provisional days; the lines are
attributed to projects (:mod:`aispend.spend.attribution`), aggregated per project (by provider,
model, billed item) and the daily amounts give the series and the budget pace.

Why provisional: OpenAI's bucket for today is incomplete; OpenRouter's ``/activity`` only covers
completed UTC days and we fetch it once a day, so the latest days are known only as a per-key
total (:func:`fill_openrouter_gaps` adds them). Showing them (as "not yet broken down") keeps
month-to-date honest; marking them keeps the user from mistaking a figure that will move for a
final one.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from aispend.clock import ensure_utc, month_start, next_month
from aispend.records import PROVIDERS, Provider
from aispend.spend.attribution import Matcher, attribute
from aispend.spend.model import (
    BilledItemSpend,
    DataStatus,
    DayPoint,
    KeyDay,
    ModelSpend,
    MonthSpend,
    Pace,
    ProjectReport,
    SpendLine,
    TeamProject,
    TeamReport,
    Unattributed,
    has_any_data,
    missing_providers,
)
from aispend.spend.pace import budget_pace

__all__ = [
    "NOT_BROKEN_DOWN",
    "UNSPECIFIED",
    "billed_item_label",
    "daily_by_project",
    "fill_openrouter_gaps",
    "model_label",
    "month_window",
    "project_report",
    "reclock",
    "reclock_team",
    "report_pace",
    "team_report",
    "usable_providers",
]

NOT_BROKEN_DOWN = "(not yet broken down)"
"""Model/billed-item label of OpenRouter spend known only as a key total (no ``/activity`` yet)."""
UNSPECIFIED = "(unspecified)"
"""Model/billed-item label of spend the provider did not attribute to a model or line item."""

_ZERO = Decimal(0)
_DAY = timedelta(days=1)


def usable_providers(data: DataStatus | None) -> tuple[Provider, ...]:
    """Providers whose figures a report shows: those with data (every one without a status)."""
    if not data:
        return PROVIDERS
    return tuple(p for p in PROVIDERS if p in data and data[p].usable)


def report_pace(
    daily: Mapping[date, Decimal], budget: Decimal | None, month: date, now: datetime, data: DataStatus
) -> Pace:
    """The budget pace from the providers with data, naming the configured ones left out.

    Without any provider's data there is no pace at all (``no_data``): a forecast from nothing
    would read "on track".
    """
    missing = missing_providers(data)
    if not has_any_data(data):
        return Pace(
            status="no_data",
            spent=_ZERO,
            budget=budget,
            used_percent=None,
            forecast=None,
            daily_rate=None,
            crosses_on=None,
            days_of_data=0,
            left_out=missing,
        )
    pace = budget_pace(daily, budget, month, now)
    return replace(pace, left_out=missing) if missing else pace


def model_label(line: SpendLine) -> str:
    """The model name to show: OpenAI falls back to the line item (e.g. a tool or storage fee)."""
    if line.model is not None:
        return line.model
    if line.provider == "openrouter":
        return NOT_BROKEN_DOWN
    return line.billed_item if line.billed_item is not None else UNSPECIFIED


def billed_item_label(line: SpendLine) -> str:
    """OpenAI line item / OpenRouter provider route, with the same placeholders as models."""
    if line.billed_item is not None:
        return line.billed_item
    if line.provider == "openrouter" and line.model is None:
        return NOT_BROKEN_DOWN
    return UNSPECIFIED


def fill_openrouter_gaps(
    lines: Iterable[SpendLine],
    key_days: Iterable[KeyDay],
    now: datetime,
    *,
    activity_through: Mapping[str, date] | None = None,
) -> list[SpendLine]:
    """Add provisional OpenRouter lines for key-days ``/activity`` does not cover yet.

    A key's activity covers every UTC day up to its last activity day (``/activity`` returns whole
    completed days, so a day before that without rows had no spend), or up to
    ``activity_through[key_hash]`` when the store knows a later fetched day. Today is never covered.
    For each uncovered key-day with a ``usage_daily`` reading (the latest one of that day wins) a
    line ``model=None, billed_item=None, provisional=True`` is added for the part not already in
    activity rows. Zero readings add nothing, so idle keys do not make every day provisional.

    Provisional OpenRouter lines without a model in the input (an earlier fill) are replaced, so
    the function is idempotent. Readings dated after today are ignored.
    """
    today = ensure_utc(now).date()
    kept: list[SpendLine] = []
    last_activity: dict[str, date] = dict(activity_through or {})
    activity_sum: dict[tuple[str, date], Decimal] = {}
    for line in lines:
        if line.provider == "openrouter":
            if line.provisional and line.model is None:
                continue  # an earlier fill; recomputed below
            if line.key_ref is not None:
                if line.day > last_activity.get(line.key_ref, date.min):
                    last_activity[line.key_ref] = line.day
                slot = (line.key_ref, line.day)
                activity_sum[slot] = activity_sum.get(slot, _ZERO) + line.amount
        kept.append(line)

    latest: dict[tuple[str, date], KeyDay] = {}
    for reading in key_days:
        slot = (reading.key_hash, reading.day)
        seen = latest.get(slot)
        if seen is None or (ensure_utc(reading.taken_at), reading.usage_daily) > (
            ensure_utc(seen.taken_at),
            seen.usage_daily,
        ):
            latest[slot] = reading  # ties: the higher reading (usage only grows within a day)

    yesterday = today - _DAY
    for (key_hash, day), reading in sorted(latest.items()):
        covered_through = min(last_activity.get(key_hash, date.min), yesterday)
        if day <= covered_through or day > today:
            continue
        missing = reading.usage_daily - activity_sum.get((key_hash, day), _ZERO)
        if missing <= 0:
            continue
        kept.append(
            SpendLine(
                provider="openrouter",
                day=day,
                amount=missing,
                key_ref=key_hash,
                model=None,
                billed_item=None,
                provisional=True,
            )
        )
    return kept


def month_window(month: date, now: datetime) -> tuple[date, date]:
    """First and last UTC day of ``month`` shown at ``now`` (last < first for a future month)."""
    first = month_start(month)
    last = min(next_month(first) - _DAY, ensure_utc(now).date())
    return first, last


def series_from_amounts(
    amounts: Mapping[date, Decimal], provisional: set[date], first: date, last: date, today: date
) -> tuple[DayPoint, ...]:
    """One point per UTC day from ``first`` to ``last`` inclusive, zero days included; today
    (not over yet) and the given provisional days are marked provisional."""
    marked = provisional | {today}
    points: list[DayPoint] = []
    day = first
    while day <= last:
        points.append(DayPoint(day=day, usd=amounts.get(day, _ZERO), provisional=day in marked))
        day += _DAY
    return tuple(points)


def _project_report(
    project: TeamProject,
    lines: Sequence[SpendLine],
    month: date,
    now: datetime,
    *,
    daily: Mapping[date, Decimal],
    provisional_days: Collection[date] = (),
    data: DataStatus | None = None,
) -> ProjectReport:
    """One project's report from its attributed lines (totals, models, details) and its daily
    amounts (series and pace).

    Lines outside the month window are ignored, so callers may pass a wider range; ``lines`` may
    be month totals (the store's month rollup) as long as ``daily`` sums the same spend per day.
    Lines of providers without data (``data``) are ignored too; ``daily`` must not contain them.
    """
    now = ensure_utc(now)
    data = dict(data or {})
    first, last = month_window(month, now)
    usable = usable_providers(data)
    by_provider: dict[Provider, Decimal] = dict.fromkeys(usable, _ZERO)
    by_model: dict[tuple[Provider, str], Decimal] = {}
    by_billed_item: dict[tuple[Provider, str], Decimal] = {}
    total = _ZERO
    for line in lines:
        if not first <= line.day <= last or line.provider not in by_provider:
            continue
        total += line.amount
        by_provider[line.provider] += line.amount
        mkey = (line.provider, model_label(line))
        by_model[mkey] = by_model.get(mkey, _ZERO) + line.amount
        dkey = (line.provider, billed_item_label(line))
        by_billed_item[dkey] = by_billed_item.get(dkey, _ZERO) + line.amount

    series = series_from_amounts(daily, set(provisional_days), first, last, now.date())
    provisional_since = next((point.day for point in series if point.provisional), None)
    pace = report_pace({p.day: p.usd for p in series}, project.monthly_budget_usd, first, now, data)
    return ProjectReport(
        project=project.name,
        month=first,
        as_of=now,
        owner=project.owner,
        channel=project.channel,
        visibility=project.visibility,
        total=total,
        by_provider=by_provider,
        by_model=tuple(
            ModelSpend(provider=p, model=m, usd=usd)
            for (p, m), usd in sorted(by_model.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        by_billed_item=tuple(
            BilledItemSpend(provider=p, billed_item=d, usd=usd)
            for (p, d), usd in sorted(by_billed_item.items(), key=lambda kv: (-kv[1], kv[0]))
        ),
        daily=series,
        provisional_since=provisional_since,
        pace=pace,
        data=data,
    )


def reclock(report: ProjectReport, now: datetime) -> ProjectReport:
    """The same report at a later moment of the same UTC day: only the as-of and the pace move.

    Everything else in a report is a function of the stored data and the UTC day, so a caller may
    build it once per poll and re-clock it for each question (the pace's forecast counts the rest
    of today from ``now``).
    """
    now = ensure_utc(now)
    if now.date() != ensure_utc(report.as_of).date():
        raise ValueError("reclock only moves a report within its UTC day")
    daily = {point.day: point.usd for point in report.daily}
    pace = report_pace(daily, report.pace.budget, report.month, now, report.data)
    return replace(report, as_of=now, pace=pace)


def reclock_team(report: TeamReport, now: datetime) -> TeamReport:
    """:func:`reclock` for every project of a team report."""
    now = ensure_utc(now)
    return replace(report, as_of=now, projects=tuple(reclock(p, now) for p in report.projects))


def daily_by_project(
    lines: Iterable[SpendLine], matcher: Matcher
) -> tuple[dict[str, dict[date, Decimal]], dict[str, set[date]]]:
    """Per project: amount per UTC day, and the days holding provisional spend."""
    daily: dict[str, dict[date, Decimal]] = {}
    provisional: dict[str, set[date]] = {}
    for line in lines:
        project = matcher.project_for(line)
        if project is None:
            continue
        days = daily.setdefault(project, {})
        days[line.day] = days.get(line.day, _ZERO) + line.amount
        if line.provisional:
            provisional.setdefault(project, set()).add(line.day)
    return daily, provisional


def team_report(
    matcher: Matcher, spend: MonthSpend, now: datetime, data: DataStatus | None = None
) -> TeamReport:
    """Every project's report plus the unattributed bucket; ``provider_totals`` equals projects
    plus unattributed, exactly. Providers without data (``data``) are left out of every total,
    never counted as zero."""
    now = ensure_utc(now)
    usable = usable_providers(data)
    split = attribute([line for line in spend.lines if line.provider in usable], matcher)
    projects = tuple(
        _project_report(
            project,
            split.lines_for(project.name),
            spend.month,
            now,
            daily=spend.daily.get(project.name, {}),
            provisional_days=spend.provisional.get(project.name, ()),
            data=data,
        )
        for project in matcher.projects
    )
    loose = split.unattributed
    return TeamReport(
        month=month_start(spend.month),
        as_of=now,
        projects=projects,
        unattributed=Unattributed(
            by_provider={p: v for p, v in loose.by_provider.items() if p in usable},
            refs=loose.refs,
        ),
        provider_totals={p: v for p, v in split.provider_totals.items() if p in usable},
        data=dict(data or {}),
    )


def project_report(
    matcher: Matcher, project: str, spend: MonthSpend, now: datetime, data: DataStatus | None = None
) -> ProjectReport:
    """One project's report (name is case-insensitive); ``KeyError`` for an unknown project.

    Attribution still looks at every line (a more specific matcher of another project may claim
    one), but only this project's aggregates are built, which keeps the slash command fast.
    """
    config = matcher.project(project)
    if config is None:
        raise KeyError(project)
    project_for = matcher.project_for
    mine = [line for line in spend.lines if project_for(line) == config.name]
    return _project_report(
        config,
        mine,
        spend.month,
        ensure_utc(now),
        daily=spend.daily.get(config.name, {}),
        provisional_days=spend.provisional.get(config.name, ()),
        data=data,
    )
