"""The seven alert rules, pure: what the service already computes in, findings out.

No Slack, SQL, HTTP or clock reads: callers pass ``now`` inside :class:`AlertInputs`. The state
machine (``aispend.alerts.state``) decides what to post; this module only says, for every alert
identity it can judge, whether it is **firing**, **holding** (inside the hysteresis band: not
firing, but not clear enough to resolve an open alert either) or absent (clear). Data a rule
cannot judge (no credit snapshot yet, a stale reading, no health record) is listed in
``Evaluation.unknown`` so an open alert is never resolved because something is *unknown*.

Identity = (rule, entity, level, period). ``period`` is the UTC month for budget rules and spend
spikes, so they re-arm when the month rolls over; credit, key-cap and health alerts have no
period and re-arm once they resolve. Severity is not part of the identity: warning → critical is
an escalation of the same alert.

A project with a provider's figures unknown (``ProjectReport.missing``) has a spend that is a lower
bound: its budget and spike alerts may fire, never clear, until the figures are known again.

Hysteresis (README "Alerts"): an open alert resolves only when the figure is back past the line
by a margin — balance ≥ 110 % of ``low_credit_usd``, runway ≥ 110 % of ``low_runway_days``,
spend < 95 % of a budget level, pace forecast < 95 % of the budget, a key cap with ≥ 11 % left,
a day's spend < 90 % of the spike line, an endpoint polled successfully again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal, Protocol

from aispend.clock import ensure_utc
from aispend.money import fmt_usd
from aispend.records import POLLED_EVERY
from aispend.spend.model import KeyCap, ProjectReport, Runway, TeamProject, TeamReport

__all__ = [
    "RULES",
    "AlertInputs",
    "AlertKey",
    "AlertSettings",
    "EndpointStatus",
    "Evaluation",
    "Finding",
    "Rule",
    "Severity",
    "Unit",
    "evaluate",
    "severity_rank",
]

Rule = Literal[
    "low_credits",
    "credit_runway",
    "budget_threshold",
    "budget_pace",
    "key_limit",
    "spend_spike",
    "stale_data",
]
RULES: tuple[Rule, ...] = (
    "low_credits",
    "credit_runway",
    "budget_threshold",
    "budget_pace",
    "key_limit",
    "spend_spike",
    "stale_data",
)
Severity = Literal["warning", "critical"]
Unit = Literal["usd", "days", "percent", "hours"]
ANY_ENTITY = "*"
OPENROUTER = "openrouter"

_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_TENTH = Decimal("0.1")
_CREDIT_CLEAR = Decimal("1.10")  # balance / runway back above 110 % of the line
_BUDGET_CLEAR = Decimal("0.95")  # spend / forecast back under 95 % of the line
_SPIKE_CLEAR = Decimal("0.90")
_KEY_CAP_PERCENT = Decimal(10)
_KEY_CAP_CLEAR = Decimal(11)
_CRITICAL_RUNWAY_DAYS = Decimal(2)
_STALE_INTERVALS = 3
_SPIKE_BASELINE_DAYS = 7
_DAY = timedelta(days=1)


def severity_rank(severity: str) -> int:
    return 2 if severity == "critical" else 1


@dataclass(frozen=True, slots=True, order=True)
class AlertKey:
    """Stable identity of an alert: one database row, one Slack thread."""

    rule: str
    entity: str
    level: str = ""
    period: str = ""

    def __str__(self) -> str:
        return ":".join(part for part in (self.rule, self.entity, self.level, self.period) if part)


@dataclass(frozen=True, slots=True)
class Finding:
    """One judged identity. Texts are plain (unescaped); the Slack layer escapes them."""

    key: AlertKey
    firing: bool  # False: inside the hysteresis band (keeps an open alert open, opens nothing)
    severity: Severity
    title: str  # one line: what crossed
    figure: Decimal
    threshold: Decimal
    unit: Unit
    why: str  # one line: the model, key or route behind it
    project: str | None = None  # None: a team-wide alert (credits, health)
    context: str | None = None  # pace/forecast or runway line


@dataclass(frozen=True, slots=True)
class Evaluation:
    findings: tuple[Finding, ...]
    unknown: frozenset[tuple[str, str]] = frozenset()  # (rule, entity or "*") that could not be judged

    @property
    def firing(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.firing)

    def judged(self, key: AlertKey) -> Finding | None:
        for finding in self.findings:
            if finding.key == key:
                return finding
        return None

    def is_unknown(self, key: AlertKey) -> bool:
        return (key.rule, key.entity) in self.unknown or (key.rule, ANY_ENTITY) in self.unknown


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """The thresholds the rules use, from ``aispend.yaml`` (``openrouter:`` and ``alerts:``;
    ``Config.alert_settings()`` builds it)."""

    low_credit_usd: Decimal = Decimal(50)
    low_runway_days: Decimal = Decimal(7)
    spike_factor: Decimal = Decimal(3)
    spike_min_usd: Decimal = Decimal(10)
    poll_interval: timedelta = timedelta(minutes=15)


class EndpointStatus(Protocol):
    """One provider endpoint's poll record (``reader.EndpointHealth`` satisfies it)."""

    @property
    def provider(self) -> str: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def last_status(self) -> str: ...  # ok | error | permission_denied | never | running
    @property
    def last_attempt_at(self) -> datetime | None: ...
    @property
    def last_success_at(self) -> datetime | None: ...
    @property
    def error(self) -> str | None: ...


@dataclass(frozen=True, slots=True)
class AlertInputs:
    """What one evaluation looks at, all computed by the spend service.

    ``key_caps``: every enabled OpenRouter key with a cap (any percentage left), or None when no
    ``/keys`` listing is stored yet. ``recent_daily``: per project, spend per UTC day for at least
    the 8 complete days before today (it may reach into the previous month; missing days are 0).
    ``key_projects``: OpenRouter key hash → project name, for the *why* of key alerts.
    ``endpoints``: the latest poll record per provider endpoint, or None when unknown.
    """

    now: datetime
    month: TeamReport
    runway: Runway
    key_caps: tuple[KeyCap, ...] | None = None
    endpoints: Sequence[EndpointStatus] | None = None
    recent_daily: Mapping[str, Mapping[date, Decimal]] = field(default_factory=dict)
    key_projects: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ helpers


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return (part * _HUNDRED / whole).quantize(_TENTH, rounding=ROUND_HALF_UP)


def _period(day: date) -> str:
    return f"{day:%Y-%m}"


def _level(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _project_why(report: ProjectReport) -> str:
    """The model that drove a project's month, with its share and route (from the model mix)."""
    if not report.by_model or report.total <= 0:
        return "no spend recorded yet this month"
    top = report.by_model[0]
    share = _pct(top.usd, report.total)
    text = (
        f"top model this month: {top.model} ({top.provider}) {fmt_usd(top.usd)}, {share}% of {report.project}"
    )
    routes = [d for d in report.by_billed_item if d.provider == "openrouter"]
    if top.provider == "openrouter" and routes:
        text += f"; main route {routes[0].billed_item}"
    return text


def _team_openrouter_why(month: TeamReport, runway: Runway) -> str:
    models: dict[str, Decimal] = {}
    for report in month.projects:
        for spend in report.by_model:
            if spend.provider == "openrouter":
                models[spend.model] = models.get(spend.model, _ZERO) + spend.usd
    parts: list[str] = []
    if runway.burn_per_day is not None:
        basis = "last 24 h" if runway.basis == "24h" else "7-day average"
        parts.append(f"burning {fmt_usd(runway.burn_per_day)}/day ({basis})")
    if models:
        total = sum(models.values(), _ZERO)
        model, usd = min(models.items(), key=lambda kv: (-kv[1], kv[0]))
        if total > 0:
            parts.append(f"top OpenRouter model this month: {model} {fmt_usd(usd)}, {_pct(usd, total)}%")
    return "; ".join(parts) or "no OpenRouter spend recorded this month"


def _runway_context(runway: Runway) -> str | None:
    if runway.days_left is None:
        return None
    text = f"runway {runway.days_left} days"
    if runway.runs_out_on is not None:
        text += f", runs out {runway.runs_out_on:%a %d %b} (UTC)"
    return text + f", confidence {runway.confidence}"


def _pace_context(report: ProjectReport) -> str | None:
    pace = report.pace
    if pace.forecast is None or pace.budget is None:
        return None
    text = f"forecast {fmt_usd(pace.forecast)} for the month vs budget {fmt_usd(pace.budget)}"
    if pace.crosses_on is not None and pace.status == "at_risk":
        text += f", crossing on {pace.crosses_on:%a %d %b}"
    return text


# -------------------------------------------------------------------------------------- rules


def low_credits(inputs: AlertInputs, settings: AlertSettings) -> Evaluation:
    """OpenRouter balance under ``low_credit_usd``; critical at ≤ 0."""
    runway = inputs.runway
    key = AlertKey("low_credits", OPENROUTER)
    if runway.balance is None:
        return Evaluation((), frozenset({(key.rule, key.entity)}))
    balance, line = runway.balance, settings.low_credit_usd
    firing = balance <= 0 or balance < line
    unknown: frozenset[tuple[str, str]] = frozenset()
    holding = not firing and balance < line * _CREDIT_CLEAR
    if not firing and runway.stale:
        unknown = frozenset({(key.rule, key.entity)})  # a stale reading may not resolve anything
    if not (firing or holding):
        return Evaluation((), unknown)
    finding = Finding(
        key=key,
        firing=firing,
        severity="critical" if balance <= 0 else "warning",
        title="OpenRouter credits are used up" if balance <= 0 else "OpenRouter credits are low",
        figure=balance,
        threshold=line,
        unit="usd",
        why=_team_openrouter_why(inputs.month, runway),
        context=_runway_context(runway),
    )
    return Evaluation((finding,), unknown)


def credit_runway(inputs: AlertInputs, settings: AlertSettings) -> Evaluation:
    """Days of credit left under ``low_runway_days``; critical under 2 days.

    An empty balance is ``low_credits``' critical alert, so this rule then only holds.
    """
    runway = inputs.runway
    key = AlertKey("credit_runway", OPENROUTER)
    unknown = frozenset({(key.rule, key.entity)})
    if runway.balance is None or runway.days_left is None:
        return Evaluation((), unknown)
    days, line = runway.days_left, settings.low_runway_days
    if runway.balance <= 0:
        return Evaluation((), unknown)
    firing = days < line
    holding = not firing and days < line * _CREDIT_CLEAR
    if not (firing or holding):
        return Evaluation((), unknown if runway.stale else frozenset())
    finding = Finding(
        key=key,
        firing=firing,
        severity="critical" if days < _CRITICAL_RUNWAY_DAYS else "warning",
        title="OpenRouter credits run out soon",
        figure=days,
        threshold=line,
        unit="days",
        why=_team_openrouter_why(inputs.month, runway),
        context=f"{_runway_context(runway)}; balance {fmt_usd(runway.balance)}",
    )
    return Evaluation((finding,), unknown if runway.stale and not firing else frozenset())


def _partial(report: ProjectReport, rules: Iterable[str]) -> set[tuple[str, str]]:
    """A provider's figures are unknown (no permission, errors, stale): the project's spend is a
    lower bound, which may fire an alert but never clear one."""
    return {(rule, report.project) for rule in rules} if report.missing else set()


def _missing_note(report: ProjectReport) -> str | None:
    if not report.missing:
        return None
    return f"{' and '.join(report.missing)} figures unknown (not counted)"


def _with_note(context: str | None, note: str | None) -> str | None:
    if note is None:
        return context
    return f"{context}; {note}" if context else note


def budget_threshold(inputs: AlertInputs, projects: Sequence[TeamProject]) -> Evaluation:
    """Each ``alert_at_percent`` level of a project's budget, once per level per UTC month."""
    findings: list[Finding] = []
    unknown: set[tuple[str, str]] = set()
    by_name = {p.name: p for p in projects}
    for report in inputs.month.projects:
        project = by_name.get(report.project)
        budget = report.pace.budget
        if project is None or budget is None:
            continue
        unknown |= _partial(report, ["budget_threshold"])
        spent = report.total
        for level in project.alert_at_percent:
            line = budget * level / _HUNDRED
            firing = spent >= line
            holding = not firing and spent >= line * _BUDGET_CLEAR
            if not (firing or holding):
                continue
            findings.append(
                Finding(
                    key=AlertKey("budget_threshold", report.project, _level(level), _period(report.month)),
                    firing=firing,
                    severity="critical" if level >= _HUNDRED else "warning",
                    title=f"{report.project} passed {_level(level)}% of its {report.month:%B} budget",
                    figure=spent,
                    threshold=line,
                    unit="usd",
                    why=_project_why(report),
                    project=report.project,
                    context=_with_note(_pace_context(report), _missing_note(report)),
                )
            )
    return Evaluation(tuple(findings), frozenset(unknown))


def budget_pace(inputs: AlertInputs) -> Evaluation:
    """Forecast above the budget (never on ``insufficient_history``); critical once spend
    itself reaches the budget."""
    findings: list[Finding] = []
    unknown: set[tuple[str, str]] = set()
    for report in inputs.month.projects:
        pace = report.pace
        if pace.budget is None or pace.status == "no_budget":
            continue
        key = AlertKey("budget_pace", report.project, "", _period(report.month))
        unknown |= _partial(report, [key.rule])
        if pace.status == "insufficient_history":
            unknown.add((key.rule, key.entity))
            continue
        over = pace.status == "over"
        forecast = pace.forecast if pace.forecast is not None else pace.spent
        firing = over or pace.status == "at_risk"
        holding = not firing and forecast >= pace.budget * _BUDGET_CLEAR
        if not (firing or holding):
            continue
        findings.append(
            Finding(
                key=key,
                firing=firing,
                severity="critical" if over else "warning",
                title=(
                    f"{report.project} is over its {report.month:%B} budget"
                    if over
                    else f"{report.project} is on pace to exceed its {report.month:%B} budget"
                ),
                figure=pace.spent if over else forecast,
                threshold=pace.budget,
                unit="usd",
                why=_project_why(report),
                project=report.project,
                context=_with_note(_pace_context(report), _missing_note(report)),
            )
        )
    return Evaluation(tuple(findings), frozenset(unknown))


def key_limit(inputs: AlertInputs) -> Evaluation:
    """An OpenRouter key with under 10 % of its own cap left (critical when nothing is left)."""
    if inputs.key_caps is None:
        return Evaluation((), frozenset({("key_limit", ANY_ENTITY)}))
    findings: list[Finding] = []
    for cap in inputs.key_caps:
        left = cap.limit_remaining * _HUNDRED
        firing = left < _KEY_CAP_PERCENT * cap.limit
        holding = not firing and left < _KEY_CAP_CLEAR * cap.limit
        if not (firing or holding):
            continue
        name = cap.name or cap.key_hash[:12]
        project = inputs.key_projects.get(cap.key_hash)
        owner_part = f" (project {project})" if project else ""
        findings.append(
            Finding(
                key=AlertKey("key_limit", cap.key_hash),
                firing=firing,
                severity="critical" if cap.limit_remaining <= 0 else "warning",
                title=f"OpenRouter key {name} is close to its own spending cap",
                figure=cap.percent_remaining,
                threshold=_KEY_CAP_PERCENT,
                unit="percent",
                why=f"key {name}{owner_part}: {fmt_usd(cap.limit_remaining)} left of its "
                f"{fmt_usd(cap.limit)} cap; requests with it fail once the cap is used up",
                project=project,
            )
        )
    return Evaluation(tuple(findings))


def _median(values: list[Decimal]) -> Decimal:
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def spend_spike(inputs: AlertInputs, settings: AlertSettings) -> Evaluation:
    """A project's last complete UTC day above ``spike_factor`` × its trailing 7-day median and
    above ``spike_min_usd``; critical above twice that line. One alert per project per month."""
    findings: list[Finding] = []
    unknown: set[tuple[str, str]] = set()
    day = ensure_utc(inputs.now).date() - _DAY
    baseline_days = [day - _DAY * n for n in range(1, _SPIKE_BASELINE_DAYS + 1)]
    for report in inputs.month.projects:
        unknown |= _partial(report, ["spend_spike"])
        daily = inputs.recent_daily.get(report.project)
        if daily is None:
            continue
        figure = daily.get(day, _ZERO)
        median = _median([daily.get(d, _ZERO) for d in baseline_days])
        line = max(median * settings.spike_factor, settings.spike_min_usd)
        firing = figure > line
        holding = not firing and figure > line * _SPIKE_CLEAR
        if not (firing or holding):
            continue
        findings.append(
            Finding(
                key=AlertKey("spend_spike", report.project, "", _period(day)),
                firing=firing,
                severity="critical" if figure > 2 * line else "warning",
                title=f"{report.project} spent {fmt_usd(figure)} on {day:%a %d %b}, "
                f"{_times(figure, median)} its 7-day median",
                figure=figure,
                threshold=line,
                unit="usd",
                why=_project_why(report),
                project=report.project,
                context=_with_note(
                    f"7-day median {fmt_usd(median)}; alert line {fmt_usd(line)} "
                    f"({_level(settings.spike_factor)}× median, at least {fmt_usd(settings.spike_min_usd)})",
                    _missing_note(report),
                ),
            )
        )
    return Evaluation(tuple(findings), frozenset(unknown))


def _times(figure: Decimal, median: Decimal) -> str:
    if median <= 0:
        return "with nothing on"
    return f"{(figure / median).quantize(_TENTH, rounding=ROUND_FLOOR)}×"


def stale_data(inputs: AlertInputs, settings: AlertSettings) -> Evaluation:
    """A provider endpoint not polled successfully for 3 intervals (warning), or refused for
    lack of permission (critical: no data will ever arrive until the key is fixed)."""
    if inputs.endpoints is None:
        return Evaluation((), frozenset({("stale_data", ANY_ENTITY)}))
    now = ensure_utc(inputs.now)
    findings: list[Finding] = []
    for endpoint in inputs.endpoints:
        since = endpoint.last_success_at or endpoint.last_attempt_at
        if since is None:
            continue
        # an endpoint fetched hourly or daily is not stale 3 poll intervals after its last fetch
        limit = settings.poll_interval * _STALE_INTERVALS + POLLED_EVERY.get(
            (endpoint.provider, endpoint.endpoint), timedelta(0)
        )
        age = now - ensure_utc(since)
        denied = endpoint.last_status == "permission_denied"
        firing = denied or age > limit
        holding = not firing and endpoint.last_status not in ("ok", "running")
        if not (firing or holding):
            continue
        hours = (Decimal(int(age.total_seconds())) / 3600).quantize(_TENTH, rounding=ROUND_HALF_UP)
        name = f"{endpoint.provider}/{endpoint.endpoint}"
        if denied:
            title = f"{name}: the key has no permission for this endpoint"
        elif endpoint.last_success_at is None:
            title = f"{name} has never been polled successfully"
        else:
            title = f"{name} has not been polled successfully for {hours} h"
        why = endpoint.error or f"last status: {endpoint.last_status}"
        findings.append(
            Finding(
                key=AlertKey("stale_data", name),
                firing=firing,
                severity="critical" if denied else "warning",
                title=title,
                figure=hours,
                threshold=(Decimal(int(limit.total_seconds())) / 3600).quantize(_TENTH),
                unit="hours",
                why=why,
                context="figures from this endpoint are not current; unknown is not zero",
            )
        )
    return Evaluation(tuple(findings))


def _merge(parts: Iterable[Evaluation]) -> Evaluation:
    findings: list[Finding] = []
    unknown: set[tuple[str, str]] = set()
    for part in parts:
        findings.extend(part.findings)
        unknown |= part.unknown
    findings.sort(key=lambda f: f.key)
    return Evaluation(tuple(findings), frozenset(unknown))


def evaluate(inputs: AlertInputs, projects: Sequence[TeamProject], settings: AlertSettings) -> Evaluation:
    """Every rule over one set of inputs (``projects`` give the budget levels)."""
    return _merge(
        [
            low_credits(inputs, settings),
            credit_runway(inputs, settings),
            budget_threshold(inputs, projects),
            budget_pace(inputs),
            key_limit(inputs),
            spend_spike(inputs, settings),
            stale_data(inputs, settings),
        ]
    )
