"""Block Kit for the weekly digest: a ``Digest`` in, a ``Message`` out (pure).

Built to be read in 20 seconds: the one number that moved comes first, then the team total, then
short sections that appear only when they have something to say. An empty week is one line.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from aispend.digest.content import Change, Digest, ProjectWeek
from aispend.money import fmt_usd
from aispend.slack import messages as msg
from aispend.slack.blocks import (
    PACE_EMOJI,
    Block,
    Message,
    context,
    data_reason,
    divider,
    fmt_day,
    fmt_moment,
    fmt_percent,
    header,
    line_sections,
    message,
    money_column,
    pace_text,
    runway_lines,
    section,
)
from aispend.slack.mrkdwn import code, escape, mention
from aispend.spend.model import Pace

__all__ = ["change_text", "digest_message", "signed_usd"]

TOP_BUDGET_LINES = 5


def signed_usd(amount: Decimal) -> str:
    return ("+" if amount >= 0 else "-") + fmt_usd(abs(amount))


def _pct(change: Change) -> str:
    return f" ({change.percent:+}%)" if change.percent is not None else ""


def change_text(change: Change) -> str:
    """``▲ 12.5% (+$120.00)``, ``▼ 3.0% (-$4.00)``, ``new (+$5.00)`` or ``unchanged``."""
    if change.delta == 0:
        return "unchanged"
    if change.percent is None:
        return f"new ({signed_usd(change.delta)})"
    arrow = "▲" if change.delta > 0 else "▼"
    return f"{arrow} {abs(change.percent)}% ({signed_usd(change.delta)})"


def _lead(digest: Digest) -> str:
    lead = digest.lead
    if lead is None:
        return ""
    why = ""
    if lead.why is not None:
        why = msg.digest_lead_why(
            escape(lead.why.model), msg.provider(lead.why.provider), signed_usd(lead.why.change.delta)
        )
    return msg.digest_lead(escape(lead.project), signed_usd(lead.spend.delta), _pct(lead.spend), why)


def _missing_lines(digest: Digest, tz: ZoneInfo) -> list[str]:
    """One warning per configured provider without current data: its figures are unknown, not $0."""
    return [msg.data_missing(msg.provider(p), data_reason(d, tz)) for p, d in digest.missing.items()]


def _total(digest: Digest) -> str:
    if not digest.known:
        return msg.DIGEST_SPEND_UNKNOWN
    total = digest.total
    if total.delta == 0:
        text = msg.digest_total_flat(fmt_usd(total.now))
    else:
        text = msg.digest_total(fmt_usd(total.now), change_text(total), fmt_usd(total.before))
    if digest.missing:
        text += " " + msg.digest_total_partial(" and ".join(msg.provider(p) for p in digest.by_provider))
    return text


def _project_lines(rows: tuple[ProjectWeek, ...], amounts: list[str]) -> list[str]:
    lines = []
    for amount, row in zip(amounts, rows, strict=True):
        change = change_text(row.spend)
        lines.append(f"`{amount}`  {escape(row.project)} · {change}")
    return lines


def _budget_lines(digest: Digest) -> list[str]:
    urgent = [b for b in digest.budgets if b.status in ("over", "at_risk")][:TOP_BUDGET_LINES]
    lines = []
    for budget in urgent:
        pace = Pace(
            status=budget.status,
            spent=budget.spent,
            budget=budget.budget,
            used_percent=budget.used_percent,
            forecast=budget.forecast,
            daily_rate=None,
            crosses_on=budget.crosses_on,
            days_of_data=0,
        )
        owner = f" · {mention(budget.owner)}" if budget.owner else ""
        lines.append(
            f"{PACE_EMOJI[budget.status]} *{escape(budget.project)}* {fmt_percent(budget.used_percent)} of "
            f"{fmt_usd(budget.budget)} · {pace_text(pace)}{owner}"
        )
    rest = len(digest.budgets) - len(urgent)
    if rest:
        lines.append(msg.digest_budget_rest(rest))
    return lines


def digest_message(digest: Digest, *, tz: ZoneInfo) -> Message:
    week = digest.week
    start, end = fmt_day(week.start), fmt_day(week.end)
    if digest.empty:
        line = msg.digest_empty(week.week, start, end, digest.hidden_projects > 0)
        return message(line, [section(line)])

    blocks: list[Block] = [header(msg.digest_title(week.week, start, end))]
    missing = _missing_lines(digest, tz)
    lead, total = _lead(digest), _total(digest)
    blocks.append(section("\n".join(part for part in (*missing, lead, total) if part)))

    providers = [
        f"{msg.provider(p)} {fmt_usd(c.now)} · {change_text(c)}"
        for p, c in digest.by_provider.items()
        if c.now or c.before
    ]
    providers += [
        f"{msg.unknown_part(msg.provider(p))} · {data_reason(d, tz)}" for p, d in digest.missing.items()
    ]
    if providers:
        blocks.append(section(msg.DIGEST_BY_PROVIDER + "\n" + "\n".join(providers)))

    if digest.movers:
        deltas = [signed_usd(m.spend.delta) for m in digest.movers]
        width = max(len(d) for d in deltas)
        lines = []
        for delta, row in zip(deltas, digest.movers, strict=True):
            why = f" · {escape(row.why.model)}" if row.why is not None else ""
            lines.append(f"`{delta.rjust(width)}`  *{escape(row.project)}*{_pct(row.spend)}{why}")
        blocks.extend(line_sections(lines, title=msg.DIGEST_MOVERS))

    if digest.projects:
        amounts = money_column([row.spend.now for row in digest.projects])
        lines = _project_lines(digest.projects, amounts)
        if digest.project_count > len(digest.projects):
            lines.append(msg.digest_more_projects(digest.project_count - len(digest.projects)))
        blocks.extend(line_sections(lines, title=msg.DIGEST_PROJECTS))

    blocks.append(divider())
    month = f"{digest.budget_month:%B}"
    elapsed = fmt_percent(digest.chart.month_elapsed_percent)
    budget_lines = _budget_lines(digest) if digest.budgets else [msg.DIGEST_NO_BUDGETS]
    title = msg.digest_budgets(month, elapsed)
    if digest.missing:  # the pace is computed from the providers with data only
        title += " " + msg.pace_left_out(" and ".join(msg.provider(p) for p in digest.missing))
    blocks.extend(line_sections(budget_lines, title=title))

    mix_lines = [
        msg.digest_new_model(f"{escape(m.model)} ({msg.provider(m.provider)})", fmt_usd(m.this_week))
        for m in digest.new_models
    ]
    for shift in digest.model_shifts:
        pp = shift.shift_pp.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
        mix_lines.append(
            msg.digest_model_shift(
                escape(shift.model),
                fmt_percent(shift.share_before),
                fmt_percent(shift.share_now),
                f"{pp:+} pp",
            )
        )
    if mix_lines:
        blocks.extend(line_sections(mix_lines, title=msg.DIGEST_MODELS))

    if digest.route_shifts:
        lines = [
            msg.digest_route_shift(
                escape(r.model), escape(r.route), fmt_percent(r.share_before), fmt_percent(r.share_now)
            )
            for r in digest.route_shifts
        ]
        blocks.extend(line_sections(lines, title=msg.DIGEST_ROUTES))

    if digest.runway is not None and digest.runway.balance is not None:
        blocks.append(section(msg.DIGEST_CREDITS + "\n" + "\n".join(runway_lines(digest.runway, tz))))

    if digest.unattributed.now or digest.unattributed.before:
        change = "" if digest.unattributed.delta == 0 else f", {change_text(digest.unattributed)}"
        lines = [msg.digest_unattributed(fmt_usd(digest.unattributed.now), change)]
        for ref in digest.unattributed_refs:
            label = msg.REF_KINDS.get(ref.kind, ref.kind)
            name = f" {code(ref.name or ref.ref or '')}" if ref.name or ref.ref else ""
            lines.append(f"`{fmt_usd(ref.usd)}`  {label}{name}")
        blocks.extend(line_sections(lines, title=msg.DIGEST_UNATTRIBUTED))

    if digest.alerts is not None:
        alerts = digest.alerts
        quiet = not (alerts.fired or alerts.acknowledged or alerts.resolved or alerts.open)
        lines = [
            msg.DIGEST_NO_ALERTS
            if quiet
            else msg.digest_alert_counts(alerts.fired, alerts.acknowledged, alerts.resolved)
        ]
        for event in alerts.open[:3]:
            since = fmt_moment(event.fired_at, tz) if event.fired_at else "before the week"
            lines.append(msg.digest_alert_open(escape(event.title), since))
        blocks.extend(line_sections(lines, title=msg.DIGEST_ALERTS))

    notes = []
    if digest.hidden_projects:
        notes.append(msg.digest_hidden(digest.hidden_projects))
    if digest.data_through is not None:
        notes.append(msg.digest_data_through(fmt_moment(digest.data_through, tz)))
    if digest.provisional_days:
        days = ", ".join(fmt_day(day) for day in digest.provisional_days)
        notes.append(msg.digest_provisional(days))
    notes.append(msg.DIGEST_UTC)
    blocks.append(context(*notes))

    fallback_lead = (missing[0] if missing else lead).replace("*", "")
    amount = fmt_usd(digest.total.now) if digest.known else msg.UNKNOWN
    return message(msg.digest_fallback(week.week, amount, fallback_lead), blocks)
