"""What the weekly digest says: pure functions from stored figures to a :class:`Digest`.

No Slack, HTTP or SQL here. The service hands over the spend lines of the reported ISO week and
the week before, per-day totals for the chart, the month report (budget pace), the credit runway
and, when the alert history is available, the alerts of the week. This module decides what is
worth a line: it leads with the one number that moved, keeps each section to a few lines, and
leaves out the spend of ``visibility: owner`` projects (the digest is team-wide), saying so.

Providers without current data (``DigestInputs.data``: no permission, never polled, stale,
failing) are not zero: their lines are left out of every total, mover, mix and chart series, and
the digest lists them in ``missing`` so the rendering says their figures are unknown and why. A
provider that is not configured is absent.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, Protocol

from aispend.clock import day_start, ensure_utc, month_start, next_month
from aispend.digest.weeks import IsoWeek
from aispend.records import Provider
from aispend.spend.attribution import Matcher
from aispend.spend.mix import model_mix, route_costs
from aispend.spend.model import (
    DataStatus,
    ModelShare,
    PaceStatus,
    ProviderData,
    Runway,
    SpendLine,
    TeamProject,
    TeamReport,
    UnattributedRef,
)
from aispend.spend.pace import days_between, percent_of
from aispend.spend.reports import model_label, usable_providers

__all__ = [
    "CHART_WEEKS",
    "AlertEvent",
    "AlertHistory",
    "AlertSummary",
    "BudgetLine",
    "Change",
    "ChartData",
    "Digest",
    "DigestInputs",
    "ModelMove",
    "ProjectWeek",
    "RouteShift",
    "build_digest",
    "hidden_projects",
]

CHART_WEEKS = 8
TOP_PROJECTS = 8
TOP_MOVERS = 3
TOP_MODELS = 3
TOP_ROUTES = 3
TOP_BUDGETS = 15
TOP_REFS = 3
MODEL_SHIFT_PP = Decimal(5)  # a model's share must move at least this many points to be news
ROUTE_SHIFT_PP = Decimal(10)  # a route's share of its model must move at least this much
_ZERO = Decimal(0)
_DAY = timedelta(days=1)
_TENTH = Decimal("0.1")
_RefKind = Literal["openai_project", "openai_api_key", "openrouter_key", "org"]


# ------------------------------------------------------------------------------------ alerts seam


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One alert identity as the week saw it (what the alert history reports to the digest)."""

    title: str  # one line, plain text: what crossed, e.g. "search: 100% of the monthly budget"
    severity: str  # warning | critical
    project: str | None  # None for team-wide alerts (credits, health)
    fired_at: datetime | None  # when it started firing (may be before the week)
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    resolved_at: datetime | None = None


class AlertHistory(Protocol):
    """The narrow read the digest needs from the alert state tables."""

    def alerts_between(self, start: datetime, end: datetime) -> Sequence[AlertEvent]:
        """Alerts that fired, were acknowledged or resolved in ``[start, end)``, or are still open."""
        ...


# ---------------------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class Change:
    """A figure this week against the week before."""

    now: Decimal
    before: Decimal

    @property
    def delta(self) -> Decimal:
        return self.now - self.before

    @property
    def percent(self) -> Decimal | None:
        """Change in percent to 0.1; None when the week before was zero (growth from nothing)."""
        if self.before == 0:
            return None
        return (self.delta * 100 / abs(self.before)).quantize(_TENTH, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class ModelMove:
    """The model whose spend changed most within one project: the *why* of a move."""

    provider: Provider
    model: str
    change: Change


@dataclass(frozen=True, slots=True)
class ProjectWeek:
    project: str
    owner: str | None
    spend: Change
    why: ModelMove | None


@dataclass(frozen=True, slots=True)
class RouteShift:
    """An OpenRouter provider that took a larger share of one model's spend."""

    model: str
    route: str
    share_now: Decimal
    share_before: Decimal
    usd: Decimal  # this week, on this route

    @property
    def shift_pp(self) -> Decimal:
        return self.share_now - self.share_before


@dataclass(frozen=True, slots=True)
class BudgetLine:
    project: str
    owner: str | None
    status: PaceStatus
    spent: Decimal
    budget: Decimal
    used_percent: Decimal
    forecast: Decimal | None
    crosses_on: date | None


@dataclass(frozen=True, slots=True)
class AlertSummary:
    fired: int
    acknowledged: int
    resolved: int
    open: tuple[AlertEvent, ...]  # still firing at the end of the week, most severe first


@dataclass(frozen=True, slots=True)
class ChartData:
    """Daily spend per provider over the last ``CHART_WEEKS`` weeks, and budget use."""

    days: tuple[date, ...]
    by_provider: dict[Provider, tuple[Decimal, ...]]
    budgets: tuple[BudgetLine, ...]
    budget_month: date
    month_elapsed_percent: Decimal
    budgets_left_out: int


@dataclass(frozen=True, slots=True)
class Digest:
    week: IsoWeek
    as_of: datetime
    total: Change  # visible projects + unattributed
    by_provider: dict[Provider, Change]
    projects: tuple[ProjectWeek, ...]  # largest this week first, at most TOP_PROJECTS
    project_count: int  # visible projects with spend in either week
    movers: tuple[ProjectWeek, ...]  # largest absolute change first
    lead: ProjectWeek | None  # the one number that moved most
    new_models: tuple[ModelShare, ...]
    model_shifts: tuple[ModelShare, ...]
    route_shifts: tuple[RouteShift, ...]
    budgets: tuple[BudgetLine, ...]  # at risk or over first, then by use
    budget_month: date
    runway: Runway | None
    unattributed: Change
    unattributed_refs: tuple[UnattributedRef, ...]
    alerts: AlertSummary | None  # None: the alert history is not available
    hidden_projects: int  # owner-only projects with spend in these weeks, left out
    provisional_days: tuple[date, ...]  # days of the reported week whose figures will still change
    data_through: datetime | None  # the newest poll, when it is earlier than the week's end
    chart: ChartData
    missing: dict[Provider, ProviderData] = field(default_factory=dict)  # configured, no usable data

    @property
    def empty(self) -> bool:
        """Nothing was spent (that the team may see) in the reported week, and every figure is known."""
        return self.total.now == 0 and not self.missing

    @property
    def known(self) -> bool:
        """Some provider's figures are known (the totals mean something)."""
        return bool(self.by_provider)


# ----------------------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class DigestInputs:
    week: IsoWeek
    now: datetime
    matcher: Matcher
    lines: Sequence[SpendLine]  # the week and the week before (lines outside are ignored)
    daily: Mapping[tuple[Provider, str | None, date], Decimal]  # chart days; project None = unattributed
    month: TeamReport  # the month holding the week's last day, as of ``now``
    runway: Runway | None
    alerts: Sequence[AlertEvent] | None
    last_poll_at: datetime | None
    data: DataStatus | None = None  # per provider; None (older callers): every provider has data


def hidden_projects(projects: Iterable[TeamProject]) -> frozenset[str]:
    """Projects whose figures only their owner and admins may see: left out of team-wide posts.

    Written here because the digest is the only team-wide post; the slash answers apply the same
    rule per viewer in ``slack/access.py``.
    """
    return frozenset(p.name for p in projects if p.visibility == "owner")


# ---------------------------------------------------------------------------------------- helpers


def _share(part: Decimal, whole: Decimal) -> Decimal:
    return percent_of(part, whole) or _ZERO


def _slot(day: date, week: IsoWeek) -> int | None:
    if week.start <= day <= week.end:
        return 0
    before = week.previous()
    if before.start <= day <= before.end:
        return 1
    return None


def _budget_lines(month: TeamReport, hidden: frozenset[str]) -> list[BudgetLine]:
    lines = [
        BudgetLine(
            project=p.project,
            owner=p.owner,
            status=p.pace.status,
            spent=p.pace.spent,
            budget=p.pace.budget,
            used_percent=p.pace.used_percent or _ZERO,
            forecast=p.pace.forecast,
            crosses_on=p.pace.crosses_on,
        )
        for p in month.projects
        if p.pace.budget is not None and p.project not in hidden
    ]
    urgency = {"over": 0, "at_risk": 1}
    lines.sort(key=lambda b: (urgency.get(b.status, 2), -b.used_percent, b.project))
    return lines


def _elapsed_percent(month: date, now: datetime) -> Decimal:
    first, end = day_start(month), day_start(next_month(month))
    now = min(max(ensure_utc(now), first), end)
    return (days_between(first, now) * 100 / days_between(first, end)).quantize(_TENTH, ROUND_HALF_UP)


def _route_shifts(lines: Sequence[SpendLine], week: IsoWeek) -> list[RouteShift]:
    after = day_start(week.end + _DAY)
    now = {(r.model, r.provider_name): r for r in route_costs(lines, after).routes}
    before = {(r.model, r.provider_name): r for r in route_costs(lines, after - 7 * _DAY).routes}
    model_usd: dict[str, Decimal] = {}
    for (model, _), route in now.items():
        model_usd[model] = model_usd.get(model, _ZERO) + route.usd
    before_models = {model for model, _ in before}
    shifts = []
    for key, route in now.items():
        if route.model not in before_models:
            continue  # a new model: reported as a new model, not as a route shift
        share_before = before[key].share_of_model if key in before else _ZERO
        shift = RouteShift(route.model, route.provider_name, route.share_of_model, share_before, route.usd)
        if shift.shift_pp >= ROUTE_SHIFT_PP:
            shifts.append(shift)
    shifts.sort(key=lambda s: (-model_usd[s.model], -s.shift_pp, s.model, s.route))
    return shifts[:TOP_ROUTES]


def _alert_summary(events: Sequence[AlertEvent], week: IsoWeek, hidden: frozenset[str]) -> AlertSummary:
    start, end = day_start(week.start), day_start(week.end + _DAY)

    def within(moment: datetime | None) -> bool:
        return moment is not None and start <= ensure_utc(moment) < end

    visible = [e for e in events if e.project is None or e.project not in hidden]
    still_open = [
        e
        for e in visible
        if e.fired_at is not None
        and ensure_utc(e.fired_at) < end
        and (e.resolved_at is None or ensure_utc(e.resolved_at) >= end)
    ]
    still_open.sort(key=lambda e: (e.severity != "critical", ensure_utc(e.fired_at or end), e.title))
    return AlertSummary(
        fired=sum(1 for e in visible if within(e.fired_at)),
        acknowledged=sum(1 for e in visible if within(e.acknowledged_at)),
        resolved=sum(1 for e in visible if within(e.resolved_at)),
        open=tuple(still_open),
    )


# ------------------------------------------------------------------------------------------ build


def build_digest(inputs: DigestInputs) -> Digest:
    """The digest of ``inputs.week`` against the week before (see the module docstring)."""
    week, matcher = inputs.week, inputs.matcher
    hidden = hidden_projects(matcher.projects)
    owners = {p.name: p.owner for p in matcher.projects}
    status = inputs.data or {}
    usable = usable_providers(status)
    missing = {p: d for p, d in status.items() if d.configured and not d.usable}

    totals = [_ZERO, _ZERO]
    providers: dict[Provider, list[Decimal]] = {p: [_ZERO, _ZERO] for p in usable}
    projects: dict[str, list[Decimal]] = {}
    models: dict[tuple[str, Provider, str], list[Decimal]] = {}
    loose = [_ZERO, _ZERO]
    loose_refs: dict[tuple[Provider, _RefKind, str | None], Decimal] = {}
    hidden_seen: set[str] = set()
    visible: list[SpendLine] = []
    provisional: set[date] = set()
    for line in inputs.lines:
        slot = _slot(line.day, week)
        if slot is None or line.provider not in usable:
            continue
        name = matcher.project_for(line)
        if name is not None and name in hidden:
            if line.amount:
                hidden_seen.add(name)
            continue
        visible.append(line)
        totals[slot] += line.amount
        providers[line.provider][slot] += line.amount
        if slot == 0 and line.provisional:
            provisional.add(line.day)
        if name is None:
            loose[slot] += line.amount
            if slot == 0:
                kind, ref = _loose_ref(line)
                loose_refs[(line.provider, kind, ref)] = (
                    loose_refs.get((line.provider, kind, ref), _ZERO) + line.amount
                )
            continue
        projects.setdefault(name, [_ZERO, _ZERO])[slot] += line.amount
        key = (name, line.provider, model_label(line))
        models.setdefault(key, [_ZERO, _ZERO])[slot] += line.amount

    whys: dict[str, ModelMove] = {}
    for (name, provider, model), (now_usd, before_usd) in models.items():
        move = ModelMove(provider, model, Change(now_usd, before_usd))
        seen = whys.get(name)
        if move.change.delta and (seen is None or abs(move.change.delta) > abs(seen.change.delta)):
            whys[name] = move
    rows = [
        ProjectWeek(name, owners.get(name), Change(now_usd, before_usd), whys.get(name))
        for name, (now_usd, before_usd) in projects.items()
        if now_usd or before_usd
    ]
    by_spend = sorted(rows, key=lambda r: (-r.spend.now, -r.spend.before, r.project))
    movers = sorted((r for r in rows if r.spend.delta), key=lambda r: (-abs(r.spend.delta), r.project))

    mix = model_mix(visible, day_start(week.end + _DAY))
    real = [m for m in mix.models if not m.model.startswith("(")]  # placeholders are not models
    new_models = [m for m in real if m.is_new][:TOP_MODELS]
    shifts = sorted(
        (m for m in real if not m.is_new and abs(m.shift_pp) >= MODEL_SHIFT_PP),
        key=lambda m: (-abs(m.shift_pp), m.provider, m.model),
    )[:TOP_MODELS]

    month = inputs.month
    budgets = _budget_lines(month, hidden)
    elapsed = _elapsed_percent(month.month, inputs.now)
    chart_budgets = sorted(budgets, key=lambda b: (-b.used_percent, b.project))[:TOP_BUDGETS]

    chart_days = tuple(week.end - (CHART_WEEKS * 7 - 1 - i) * _DAY for i in range(CHART_WEEKS * 7))
    series: dict[Provider, dict[date, Decimal]] = {p: {} for p in usable}
    for (provider, project, day), amount in inputs.daily.items():
        if provider not in usable:
            continue
        if project is not None and project in hidden:
            if amount:
                hidden_seen.add(project)
            continue
        days = series.setdefault(provider, {})
        days[day] = days.get(day, _ZERO) + amount
    chart = ChartData(
        days=chart_days,
        by_provider={p: tuple(series[p].get(d, _ZERO) for d in chart_days) for p in usable},
        budgets=tuple(chart_budgets),
        budget_month=month.month,
        month_elapsed_percent=elapsed,
        budgets_left_out=len(budgets) - len(chart_budgets),
    )

    refs = [
        UnattributedRef(
            provider=provider,
            kind=kind,
            ref=ref,
            name=_ref_name(matcher, kind, ref),
            usd=usd,
        )
        for (provider, kind, ref), usd in loose_refs.items()
        if usd
    ]
    refs.sort(key=lambda r: (-r.usd, r.provider, r.kind, r.ref or ""))
    end_of_week = day_start(week.end + _DAY)
    last_poll = inputs.last_poll_at
    return Digest(
        week=week,
        as_of=ensure_utc(inputs.now),
        total=Change(totals[0], totals[1]),
        by_provider={p: Change(v[0], v[1]) for p, v in providers.items()},
        projects=tuple(by_spend[:TOP_PROJECTS]),
        project_count=len(rows),
        movers=tuple(movers[:TOP_MOVERS]),
        lead=movers[0] if movers else None,
        new_models=tuple(new_models),
        model_shifts=tuple(shifts),
        route_shifts=tuple(_route_shifts(visible, week)),
        budgets=tuple(budgets),
        budget_month=month.month,
        runway=inputs.runway,
        unattributed=Change(loose[0], loose[1]),
        unattributed_refs=tuple(refs[:TOP_REFS]),
        alerts=None if inputs.alerts is None else _alert_summary(inputs.alerts, week, hidden),
        hidden_projects=len(hidden_seen),
        provisional_days=tuple(sorted(provisional)),
        data_through=(
            ensure_utc(last_poll) if last_poll is not None and ensure_utc(last_poll) < end_of_week else None
        ),
        chart=chart,
        missing=missing,
    )


def _loose_ref(line: SpendLine) -> tuple[_RefKind, str | None]:
    """The most specific reference of an unattributed line: what to add to the config."""
    if line.provider == "openrouter":
        return "openrouter_key", line.key_ref
    if line.key_ref is not None:
        return "openai_api_key", line.key_ref
    if line.project_ref is not None:
        return "openai_project", line.project_ref
    return "org", None


def _ref_name(matcher: Matcher, kind: _RefKind, ref: str | None) -> str | None:
    if ref is None:
        return None
    names = {
        "openai_api_key": matcher.directory.openai_keys,
        "openai_project": matcher.directory.openai_projects,
        "openrouter_key": matcher.directory.openrouter_keys,
    }.get(kind, {})
    return names.get(ref)


def month_of(week: IsoWeek) -> date:
    """The month whose budget pace the digest shows: the one holding the week's last day."""
    return month_start(week.end)
