"""What moved the spend: model mix, OpenRouter routes and week-over-week project movers.

All weekly comparisons use two 7-day windows of complete UTC days: "this week" ends yesterday
(today is provisional and would always look low), "last week" is the 7 days before. Calendar weeks
would make Monday's digest compare one day with seven.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from aispend.clock import ensure_utc
from aispend.records import OpenRouterActivity, Provider
from aispend.spend.attribution import Matcher
from aispend.spend.model import DataStatus, MixReport, ModelShare, Mover, RouteCost, RoutesReport, SpendLine
from aispend.spend.pace import percent_of
from aispend.spend.reports import model_label, usable_providers
from aispend.spend.visibility import View

__all__ = ["Weeks", "model_mix", "movers", "route_costs", "weeks"]

_ZERO = Decimal(0)
_DAY = timedelta(days=1)
_PER_MILLION_PLACES = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Weeks:
    """The two comparison windows (inclusive UTC days)."""

    this_start: date
    this_end: date
    last_start: date
    last_end: date

    def week_index(self, day: date) -> int | None:
        """0 for this week, 1 for last week, None outside both."""
        if self.this_start <= day <= self.this_end:
            return 0
        if self.last_start <= day <= self.last_end:
            return 1
        return None


def weeks(now: datetime) -> Weeks:
    """This week = the 7 complete UTC days ending yesterday; last week = the 7 days before."""
    today = ensure_utc(now).date()
    return Weeks(
        this_start=today - 7 * _DAY,
        this_end=today - _DAY,
        last_start=today - 14 * _DAY,
        last_end=today - 8 * _DAY,
    )


def _share(part: Decimal, whole: Decimal) -> Decimal:
    return percent_of(part, whole) or _ZERO


def model_mix(
    lines: Iterable[SpendLine],
    now: datetime,
    *,
    project: str | None = None,
    matcher: Matcher | None = None,
    data: DataStatus | None = None,
    view: View | None = None,
) -> MixReport:
    """Share of spend per (provider, model) this week vs last week.

    ``lines``: prepared spend lines covering at least the last 14 complete UTC days. With
    ``project`` only that project's lines count; with ``view`` only lines of projects it admits
    (and unattributed ones), so hidden spend is in no total or share, and ``hidden_spend`` says
    some was left out. Both attribute with ``matcher``, which is then required. Shares are percent
    to 0.1; ``shift_pp`` is the difference of the rounded shares, so it adds up with what is
    displayed. ``is_new``: spend this week, none last week. Lines of providers without data
    (``data``, see ``spend/status.py``) are left out and the report says so.
    """
    wk = weeks(now)
    usable = usable_providers(data)
    name: str | None = None
    if (project is not None or view is not None) and matcher is None:
        raise ValueError("model_mix(project=..., view=...) needs the matcher to attribute lines")
    if project is not None and matcher is not None:
        config = matcher.project(project)
        if config is None:
            raise KeyError(project)
        name = config.name
    project_for = matcher.project_for if matcher is not None else None
    sums: dict[tuple[Provider, str], list[Decimal]] = {}
    totals = [_ZERO, _ZERO]
    hidden = False
    for line in lines:
        slot = wk.week_index(line.day)
        if slot is None or line.provider not in usable:
            continue
        if project_for is not None and (name is not None or view is not None):
            owner = project_for(line)
            if name is not None and owner != name:
                continue
            if view is not None and not view.admits(owner):
                hidden = hidden or line.amount != 0
                continue
        key = (line.provider, model_label(line))
        entry = sums.setdefault(key, [_ZERO, _ZERO])
        entry[slot] += line.amount
        totals[slot] += line.amount
    shares: list[ModelShare] = []
    for (provider, model), (this_week, last_week) in sums.items():
        now_share = _share(this_week, totals[0])
        before_share = _share(last_week, totals[1])
        shares.append(
            ModelShare(
                provider=provider,
                model=model,
                this_week=this_week,
                last_week=last_week,
                share_now=now_share,
                share_before=before_share,
                shift_pp=now_share - before_share,
                is_new=last_week == 0 and this_week != 0,
            )
        )
    shares.sort(key=lambda s: (-s.this_week, -s.last_week, s.provider, s.model))
    return MixReport(
        project=name,
        week_start=wk.this_start,
        this_week=totals[0],
        last_week=totals[1],
        models=tuple(shares),
        data=dict(data or {}),
        hidden_spend=hidden,
    )


def route_costs(
    activity: Iterable[OpenRouterActivity | SpendLine],
    now: datetime,
    *,
    matcher: Matcher | None = None,
    view: View | None = None,
) -> RoutesReport:
    """Per (model, OpenRouter provider) cost over the last 7 complete UTC days.

    Accepts ``/activity`` records or OpenRouter spend lines (``billed_item`` = provider; provisional
    lines without a model are skipped: they have no route). Tokens = prompt + completion; reasoning
    tokens are already part of completion tokens and are not added again. Routes are grouped by
    model (largest model first), then by spend. With ``view`` (and ``matcher``), rows of keys
    that belong to projects the view hides are left out before summing (``hidden_spend`` says so),
    so the rows must carry their key.
    """
    if view is not None and matcher is None:
        raise ValueError("route_costs(view=...) needs the matcher to attribute keys")
    owner_of = matcher.project_for_ref if matcher is not None else None
    wk = weeks(now)
    usd: dict[tuple[str, str], Decimal] = {}
    counts: dict[tuple[str, str], list[int]] = {}
    byok: dict[tuple[str, str], Decimal] = {}
    hidden = False
    for row in activity:
        if not wk.this_start <= row.day <= wk.this_end:
            continue
        if isinstance(row, OpenRouterActivity):
            key = (row.model, row.provider_name)
            amount, requests = row.usage, row.requests
            tokens = row.prompt_tokens + row.completion_tokens
            byok_amount = row.byok_usage
            key_hash: str | None = row.key_hash or None
        else:
            if row.provider != "openrouter" or row.model is None:
                continue
            key = (row.model, row.billed_item or "(unknown)")
            amount, requests = row.amount, row.requests
            tokens = row.input_tokens + row.output_tokens
            byok_amount = _ZERO
            key_hash = row.key_ref
        if (
            owner_of is not None
            and view is not None
            and not view.admits(owner_of("openrouter", None, key_hash or None))
        ):
            hidden = True  # a route row is activity, even a free one
            continue
        usd[key] = usd.get(key, _ZERO) + amount
        byok[key] = byok.get(key, _ZERO) + byok_amount
        count = counts.setdefault(key, [0, 0])
        count[0] += requests
        count[1] += tokens
    model_totals: dict[str, Decimal] = {}
    for (model, _), amount in usd.items():
        model_totals[model] = model_totals.get(model, _ZERO) + amount
    routes = [
        RouteCost(
            model=model,
            provider_name=provider_name,
            usd=amount,
            requests=counts[(model, provider_name)][0],
            tokens=counts[(model, provider_name)][1],
            usd_per_million_tokens=(
                (amount * 1_000_000 / counts[(model, provider_name)][1]).quantize(_PER_MILLION_PLACES)
                if counts[(model, provider_name)][1]
                else None
            ),
            share_of_model=_share(amount, model_totals[model]),
            byok_usd=byok[(model, provider_name)],
        )
        for (model, provider_name), amount in usd.items()
    ]
    routes.sort(key=lambda r: (-model_totals[r.model], r.model, -r.usd, r.provider_name))
    return RoutesReport(start=wk.this_start, end=wk.this_end, routes=tuple(routes), hidden_spend=hidden)


def _pct_change(now: Decimal, before: Decimal) -> Decimal | None:
    if before == 0:
        return None
    return ((now - before) * 100 / abs(before)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def movers(
    lines: Iterable[SpendLine],
    matcher: Matcher,
    now: datetime,
    *,
    limit: int = 5,
    view: View | None = None,
) -> tuple[Mover, ...]:
    """Projects whose spend changed most week over week (absolute delta, largest first).

    ``lines``: prepared lines covering at least the last 14 complete UTC days. Unchanged projects
    are left out; ``delta_percent`` is None when last week was zero (growth from nothing has no
    percentage). With ``view``, projects it hides are never ranked (their spend is not summed).
    """
    wk = weeks(now)
    sums: dict[str, list[Decimal]] = {
        p.name: [_ZERO, _ZERO] for p in matcher.projects if view is None or view.admits(p.name)
    }
    project_for = matcher.project_for
    for line in lines:
        slot = wk.week_index(line.day)
        if slot is None:
            continue
        name = project_for(line)
        if name is not None and name in sums:
            sums[name][slot] += line.amount
    found = [
        Mover(
            project=name,
            this_week=this_week,
            last_week=last_week,
            delta=this_week - last_week,
            delta_percent=_pct_change(this_week, last_week),
        )
        for name, (this_week, last_week) in sums.items()
        if this_week != last_week
    ]
    found.sort(key=lambda m: (-abs(m.delta), m.project))
    return tuple(found[:limit])
