"""Pure Block Kit builders: reports in, ``Message`` (fallback text + blocks) out.

Limits enforced here (https://docs.slack.dev/reference/block-kit/blocks): at most 50 blocks per
message (100 in the Home tab) with an "…and N more" context block in place of the overflow,
3000 characters per section text, 150 per header, 10 elements per context block. Every message
carries fallback ``text`` for notifications and screen readers. Money goes through ``fmt_usd``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aispend.money import fmt_usd
from aispend.reader import Health
from aispend.records import PollStatus, Provider
from aispend.slack import messages as msg
from aispend.slack.mrkdwn import code, escape, mention
from aispend.spend.model import (
    DataStatus,
    MixReport,
    Pace,
    PaceStatus,
    ProjectReport,
    ProviderData,
    RouteCost,
    RoutesReport,
    Runway,
    TeamReport,
    Unattributed,
    Units,
    has_any_data,
    missing_providers,
    shown_providers,
)
from aispend.text import neutralise

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_CHARS = 3000
MAX_HEADER_CHARS = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_CONTEXT_CHARS = 2000
MAX_FALLBACK_CHARS = 3000
SPARK_DAYS = 14
TOP_MODELS = 5
TOP_UNITS = 8
_SPARKS = "▁▂▃▄▅▆▇█"
_BAR_CELLS = 10

PACE_EMOJI: dict[PaceStatus, str] = {
    "on_track": ":large_green_circle:",
    "at_risk": ":large_orange_circle:",
    "over": ":red_circle:",
    "insufficient_history": ":white_circle:",
    "no_budget": ":heavy_minus_sign:",
    "no_data": ":grey_question:",
}
_UTC = ZoneInfo("UTC")


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    blocks: list[Block]


# ------------------------------------------------------------------------------------ primitives


def clip(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a line end when one is near, marked with "…"."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    newline = cut.rfind("\n")
    if newline > limit // 2:
        cut = cut[:newline]
    return cut + "…"


def header(text: str) -> Block:
    """A header; plain text (no mrkdwn to escape), but names in it are neutralised all the same."""
    return {
        "type": "header",
        "text": {"type": "plain_text", "text": clip(neutralise(text), MAX_HEADER_CHARS), "emoji": True},
    }


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION_CHARS)}}


def context(*texts: str) -> Block:
    elements = [{"type": "mrkdwn", "text": clip(t, MAX_CONTEXT_CHARS)} for t in texts if t]
    return {"type": "context", "elements": elements[:MAX_CONTEXT_ELEMENTS]}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str | None = None) -> Block:
    """A button; without a ``value`` the key is left out, as Slack expects (not sent as "")."""
    block: Block = {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id}
    if value is not None:
        block["value"] = value
    return block


def line_sections(lines: Iterable[str], *, title: str | None = None) -> list[Block]:
    """Pack lines into as few sections as fit 3000 characters each (a line never splits)."""
    blocks: list[Block] = []
    current = title or ""
    for line in lines:
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > MAX_SECTION_CHARS and current:
            blocks.append(section(current))
            candidate = line
        current = candidate
    if current:
        blocks.append(section(current))
    return blocks


def limit_blocks(blocks: Sequence[Block], limit: int = MAX_MESSAGE_BLOCKS) -> list[Block]:
    """Keep at most ``limit`` blocks; the last slot says how many were left out."""
    if len(blocks) <= limit:
        return list(blocks)
    kept = list(blocks[: limit - 1])
    return [*kept, context(msg.and_more(len(blocks) - len(kept)))]


def _with_tail(blocks: Sequence[Block], tail: Sequence[Block]) -> list[Block]:
    """``blocks`` cut to leave room for ``tail`` (e.g. the note that spend is hidden), which
    must survive truncation."""
    return [*limit_blocks(blocks, MAX_MESSAGE_BLOCKS - len(tail)), *tail]


def message(text: str, blocks: Sequence[Block]) -> Message:
    return Message(text=clip(text, MAX_FALLBACK_CHARS), blocks=limit_blocks(blocks))


def money_column(amounts: Sequence[Decimal]) -> list[str]:
    """``fmt_usd`` amounts right-aligned to a common width (shown in code spans)."""
    texts = [fmt_usd(amount) for amount in amounts]
    width = max((len(t) for t in texts), default=0)
    return [t.rjust(width) for t in texts]


def fmt_percent(value: Decimal, places: int = 0) -> str:
    quantum = Decimal(1).scaleb(-places)
    return f"{value.quantize(quantum, rounding=ROUND_HALF_EVEN)}%"


def budget_bar(used_percent: Decimal) -> str:
    """``▰▰▰▰▱▱▱▱▱▱ 42%``; full (never longer) past 100%."""
    filled = int((used_percent / 10).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    filled = max(0, min(_BAR_CELLS, filled))
    return "▰" * filled + "▱" * (_BAR_CELLS - filled) + " " + fmt_percent(used_percent)


def sparkline(values: Sequence[Decimal]) -> str:
    peak = max(values, default=Decimal(0))
    if peak <= 0:
        return _SPARKS[0] * len(values)
    top = len(_SPARKS) - 1
    out = []
    for value in values:
        index = int((max(value, Decimal(0)) / peak * top).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
        out.append(_SPARKS[max(0, min(top, index))])
    return "".join(out)


def fmt_day(day: date) -> str:
    return f"{day:%a} {day:%b} {day.day}"


def fmt_moment(moment: datetime | None, tz: ZoneInfo) -> str:
    if moment is None:
        return msg.NO_POLL_YET
    local = moment.astimezone(tz)
    return f"{local:%b} {local.day} {local:%H:%M} ({tz.key})"


def _month(day: date) -> str:
    return f"{day:%B %Y}"


def provider_parts(totals: dict[Provider, Decimal], data: DataStatus | None = None) -> str:
    """``OpenAI $1.00 · OpenRouter unknown``: configured providers only, unknown never as $0."""
    parts = []
    for p in shown_providers(data or {}):
        name = msg.provider(p)
        parts.append(f"{name} {fmt_usd(totals[p])}" if p in totals else msg.unknown_part(name))
    return " · ".join(parts)


# -------------------------------------------------------------------------------- missing data


def data_reason(data: ProviderData, tz: ZoneInfo) -> str:
    since = fmt_moment(data.last_success_at, tz) if data.last_success_at is not None else None
    return msg.data_reason(data.state, since)


def data_notes(data: DataStatus, tz: ZoneInfo) -> list[str]:
    """One warning per configured provider whose figures are unknown, saying why."""
    return [msg.data_missing(msg.provider(p), data_reason(data[p], tz)) for p in missing_providers(data)]


def provider_amount_lines(amounts: dict[Provider, Decimal], data: DataStatus) -> list[str]:
    """One ``$ amount  Provider`` line per configured provider; ``unknown`` where there is no data."""
    shown = shown_providers(data)
    known = [amounts[p] for p in shown if p in amounts]
    column = iter(money_column(known))
    texts = [next(column) if p in amounts else msg.UNKNOWN for p in shown]
    width = max((len(t) for t in texts), default=0)
    return [f"`{t.rjust(width)}`  {msg.provider(p)}" for t, p in zip(texts, shown, strict=True)]


def _names(providers: Iterable[Provider]) -> str:
    return " and ".join(msg.provider(p) for p in providers)


# --------------------------------------------------------------------------------------- project


def pace_text(pace: Pace) -> str:
    """The pace sentence; names the providers left out of it, if any."""
    text = _pace_sentence(pace)
    if pace.left_out and pace.status != "no_data":
        text += " " + msg.pace_left_out(_names(pace.left_out))
    return text


def _pace_sentence(pace: Pace) -> str:
    forecast = fmt_usd(pace.forecast) if pace.forecast is not None else None
    match pace.status:
        case "no_data":
            return msg.PACE_NO_DATA
        case "insufficient_history":
            return msg.pace_insufficient(pace.days_of_data)
        case "no_budget":
            return msg.pace_no_budget(forecast)
        case "over":
            return msg.pace_over(fmt_day(pace.crosses_on) if pace.crosses_on else None)
        case "at_risk":
            if forecast is None:
                return msg.pace_over(None)
            if pace.crosses_on is not None:
                return msg.pace_at_risk(forecast, fmt_day(pace.crosses_on))
            return msg.pace_at_risk_no_date(forecast)
        case _:
            return msg.pace_on_track(forecast or fmt_usd(pace.spent))


def project_summary(report: ProjectReport, tz: ZoneInfo = _UTC) -> str:
    """Total, budget bar and pace: shared by the project answer and the App Home.

    A provider without data is named with the reason, never counted as $0; without any data
    there is no total and no pace.
    """
    pace = report.pace
    if not shown_providers(report.data):
        return msg.NO_PROVIDER
    notes = data_notes(report.data, tz)
    if not report.known:
        return "\n".join([msg.SPEND_UNKNOWN, *notes, f"{PACE_EMOJI['no_data']} {msg.PACE_NO_DATA}"])
    through = report.daily[-1].day if report.daily else report.as_of.date()
    if report.missing:
        with_data = [p for p in shown_providers(report.data) if p in report.by_provider]
        lines = [msg.spent_from(fmt_usd(report.total), fmt_day(through), _names(with_data))]
    else:
        lines = [msg.spent_this_month(fmt_usd(report.total), fmt_day(through))]
    if pace.budget is not None and pace.used_percent is not None:
        lines.append(msg.budget_line(budget_bar(pace.used_percent), fmt_usd(pace.budget)))
    lines.append(f"{PACE_EMOJI[pace.status]} {pace_text(pace)}")
    return "\n".join([*lines, *notes])


def project_message(report: ProjectReport, *, tz: ZoneInfo, last_poll_at: datetime | None) -> Message:
    blocks: list[Block] = [header(msg.project_title(report.project, _month(report.month)))]
    blocks.append(section(project_summary(report, tz)))
    if report.known:  # else the summary says what is missing; no table of unknowns
        lines = provider_amount_lines(report.by_provider, report.data)
        blocks.append(section("\n".join([msg.BY_PROVIDER, *lines])))
        top = report.by_model[:TOP_MODELS]
        if top:
            column = money_column([m.usd for m in top])
            lines = [
                f"`{amt}`  {escape(m.model)} · {msg.provider(m.provider)}"
                for amt, m in zip(column, top, strict=True)
            ]
            if len(report.by_model) > TOP_MODELS:
                lines.append(msg.more_models(len(report.by_model) - TOP_MODELS))
            blocks.append(section("\n".join([msg.TOP_MODELS, *lines])))
    if report.known and report.unit_totals is not None and report.unit_totals.requests > 0:
        blocks.append(section(units_line(report.unit_totals)))
    days = report.daily[-SPARK_DAYS:] if report.known else ()
    if days:
        values = [d.usd for d in days]
        trend = msg.trend(len(days), sparkline(values), fmt_usd(max(values)))
        provisional = [d.day for d in days if d.provisional]
        if provisional:
            trend += " · " + msg.trend_provisional(fmt_day(min(provisional)))
        blocks.append(section(trend))
    notes = [msg.owner(mention(report.owner)) if report.owner else msg.NO_OWNER]
    if report.provisional_since is not None:
        notes.append(msg.PROVISIONAL)
    notes.append(msg.last_poll(fmt_moment(last_poll_at, tz)))
    blocks.append(context(" · ".join(notes)))
    pace = report.pace
    budget = (
        msg.budget_part(fmt_percent(pace.used_percent), fmt_usd(pace.budget))
        if pace.budget is not None and pace.used_percent is not None
        else ""
    )
    total = fmt_usd(report.total) if report.known else msg.UNKNOWN
    return message(msg.project_fallback(escape(report.project), total, budget, pace_text(pace)), blocks)


# -------------------------------------------------------------------------------------- projects


def projects_message(
    month: TeamReport, *, tz: ZoneInfo, last_poll_at: datetime | None, shared: bool = False
) -> Message:
    """Every project the audience may see on one line; ``month`` is already filtered for it
    (``spend.visibility.visible_team``). Projects it may not see are named with a lock after
    the others, never ranked or sized by their spend, and the total is what is shown."""
    blocks: list[Block] = [header(msg.projects_title(_month(month.month)))]
    if not shown_providers(month.data):
        blocks.append(section(msg.NO_PROVIDER))
    elif month.missing:
        blocks.append(section("\n".join(data_notes(month.data, tz))))
    shown = sorted(month.projects, key=lambda r: (-r.total, r.project.lower()))
    column = money_column([p.total for p in shown] + [month.unattributed.total, month.total])
    if not month.known:  # unknown is not $0.00
        column = [msg.UNKNOWN.rjust(len(column[0]))] * len(column)
    lines: list[str] = []
    for report, amount in zip(shown, column, strict=False):
        pace = report.pace
        has_budget = pace.budget is not None and pace.used_percent is not None
        lines.append(
            msg.project_row(
                PACE_EMOJI[pace.status],
                amount,
                escape(report.project),
                fmt_usd(pace.budget) if has_budget and pace.budget is not None else None,
                fmt_percent(pace.used_percent) if has_budget and pace.used_percent is not None else None,
            )
        )
    lines.extend(msg.restricted_line(escape(name)) for name in month.hidden)
    if not lines:
        lines.append(msg.NO_PROJECTS)
    lines.append(msg.unattributed_row(column[-2]))
    total_row = msg.total_shown_row if month.hidden else msg.total_row
    lines.append(total_row(column[-1], provider_parts(month.provider_totals, month.data)))
    blocks.extend(line_sections(lines))
    notes = [msg.hidden_spend(shared)] if month.hidden else []
    tail = [context(*notes, msg.last_poll(fmt_moment(last_poll_at, tz)))]
    count = len(month.projects) + len(month.hidden)
    return message(msg.projects_fallback(_month(month.month), count), _with_tail(blocks, tail))


# --------------------------------------------------------------------------------------- credits


def runway_lines(runway: Runway, tz: ZoneInfo) -> list[str]:
    state = runway.data.state if runway.data is not None else None
    if state == "not_configured":
        return [msg.CREDITS_NOT_CONFIGURED]
    if runway.balance is None:
        unknown = {
            "no_permission": msg.CREDITS_NO_PERMISSION,
            "never_polled": msg.CREDITS_NEVER,
            "error": msg.CREDITS_FAILING,
        }
        return [unknown.get(state or "", msg.CREDITS_UNKNOWN)]
    status = {
        "depleted": msg.CREDITS_DEPLETED,
        "low": msg.CREDITS_LOW,
        "stale": msg.CREDITS_STALE_STATUS,
    }.get(runway.status, msg.CREDITS_OK)
    lines = [status, msg.balance(fmt_usd(runway.balance))]
    if state == "no_permission":
        lines.insert(0, msg.CREDITS_NO_PERMISSION_NOW)
    if runway.burn_per_day is not None:
        lines.append(msg.burn(fmt_usd(runway.burn_per_day), runway.basis))
    if runway.days_left is not None:
        when = fmt_day(runway.runs_out_on) if runway.runs_out_on else None
        days = str(runway.days_left.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))
        lines.append(msg.runway(days, when) + " · " + msg.confidence(runway.confidence))
    else:
        lines.append(msg.RUNWAY_NONE)
    if runway.stale:
        lines.append(msg.credits_stale(fmt_moment(runway.snapshot_at, tz)))
    if runway.byok_7d:
        lines.append(msg.byok_line(fmt_usd(runway.byok_7d)))
    return lines


def credits_message(runway: Runway, *, tz: ZoneInfo, shared: bool = False) -> Message:
    """Balance, burn and runway (account-wide), and the key caps the audience may see."""
    blocks: list[Block] = [header(msg.CREDITS_TITLE), section("\n".join(runway_lines(runway, tz)))]
    if runway.low_keys:
        caps = runway.low_keys
        remaining = money_column([k.limit_remaining for k in caps])
        lines = [
            msg.low_key(rem, fmt_usd(k.limit), fmt_percent(k.percent_remaining), escape(k.name or k.key_hash))
            for rem, k in zip(remaining, caps, strict=True)
        ]
        blocks.extend(line_sections(lines, title=msg.LOW_KEYS))
    notes = [msg.hidden_keys(shared)] if runway.keys_hidden else []
    blocks.append(context(*notes, msg.last_poll(fmt_moment(runway.snapshot_at, tz))))
    days = (
        str(runway.days_left.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN))
        if runway.days_left is not None
        else None
    )
    balance = fmt_usd(runway.balance) if runway.balance is not None else "unknown"
    return message(msg.credits_fallback(balance, days), blocks)


# ---------------------------------------------------------------------------------------- models


def _pp(value: Decimal) -> str:
    shift = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    arrow = "↑" if shift > 0 else "↓" if shift < 0 else "→"
    sign = "+" if shift > 0 else ""
    return f"{arrow} {sign}{shift} pp"


def fmt_tokens(count: int) -> str:
    """``950`` / ``12.3k`` / ``4.56M`` / ``1.2B``: token counts at a glance."""
    for scale, suffix in ((1_000_000_000, "B"), (1_000_000, "M"), (1_000, "k")):
        if count >= scale:
            value = Decimal(count) / scale
            places = Decimal("0.1") if value >= 10 else Decimal("0.01")
            return f"{value.quantize(places, rounding=ROUND_HALF_EVEN)}{suffix}"
    return str(count)


def fmt_unit_usd(amount: Decimal) -> str:
    """A unit cost: cents from $1 up, else four significant digits (``$0.001234``)."""
    if amount >= 1 or amount == 0:
        return fmt_usd(amount)
    digits = max(2, 4 - amount.adjusted() - 1)
    return "$" + format(amount.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_EVEN), "f")


def units_line(units: Units) -> str:
    """Tokens, requests and unit costs in one compact line (unknown parts left out)."""
    inp = f"in `{fmt_tokens(units.input_tokens)}`"
    if units.cached_share is not None:
        inp += f" ({fmt_percent(units.cached_share, 1)} cached)"
    out = f"out `{fmt_tokens(units.output_tokens)}`"
    if units.reasoning_tokens:
        out += f" (reasoning `{fmt_tokens(units.reasoning_tokens)}`)"
    parts = [inp, out, msg.requests(f"{units.requests:,}")]
    if units.usd_per_request is not None:
        parts.append(f"`{fmt_unit_usd(units.usd_per_request)}`/request")
    if units.usd_per_million_tokens is not None:
        parts.append(f"`{fmt_unit_usd(units.usd_per_million_tokens)}`/1M tokens")
    return msg.TOKENS + "  " + " · ".join(parts)


def models_message(mix: MixReport, units: Sequence[Units] = (), *, shared: bool = False) -> Message:
    """The model mix and per-model units as computed for the audience (hidden spend is in no
    figure of ``mix`` or ``units``)."""
    project = escape(mix.project) if mix.project else None
    hidden = [context(msg.hidden_spend(shared))] if mix.hidden_spend else []
    blocks: list[Block] = [header(msg.models_title(mix.project))]
    if not shown_providers(mix.data) or not mix.known:
        notes = data_notes(mix.data, _UTC)
        text = msg.NO_PROVIDER if not shown_providers(mix.data) else msg.MODELS_UNKNOWN
        blocks.append(section("\n".join([text, *notes])))
        return message(text, blocks)
    blocks.append(
        section(msg.models_weeks(fmt_usd(mix.this_week), fmt_usd(mix.last_week), fmt_day(mix.week_start)))
    )
    if mix.missing:
        blocks.append(context(*data_notes(mix.data, _UTC)))
    if mix.batch_share is not None:
        blocks.append(context(msg.batch_share(fmt_percent(mix.batch_share, 1))))
    if not mix.models:
        blocks.append(section(msg.NO_MODELS))
    else:
        amounts = money_column([m.this_week for m in mix.models])
        shares = [fmt_percent(m.share_now, 1) for m in mix.models]
        width = max(len(s) for s in shares)
        lines = []
        for amount, share, model in zip(amounts, shares, mix.models, strict=True):
            badge = msg.NEW_BADGE if model.is_new else _pp(model.shift_pp)
            name = f"{escape(model.model)} · {msg.provider(model.provider)}"
            lines.append(f"`{share.rjust(width)}` `{amount}`  {name}  {badge}")
        blocks.extend(line_sections(lines))
    used = [u for u in units if u.requests > 0][:TOP_UNITS]
    if used:
        lines = [
            f"*{escape(u.model or '')}* · {msg.provider(u.provider) if u.provider else ''}\n{units_line(u)}"
            for u in used
        ]
        blocks.extend(line_sections(lines, title=msg.UNITS_TITLE))
    return message(msg.models_fallback(project, fmt_usd(mix.this_week)), _with_tail(blocks, hidden))


# ---------------------------------------------------------------------------------------- routes


def routes_message(routes: RoutesReport, *, shared: bool = False) -> Message:
    """OpenRouter routes as computed for the audience (hidden keys are in no figure)."""
    blocks: list[Block] = [header(msg.routes_title(fmt_day(routes.start), fmt_day(routes.end)))]
    hidden = [context(msg.hidden_spend(shared))] if routes.hidden_spend else []
    if not routes.routes:
        blocks.append(section(msg.NO_ROUTES))
        return message(msg.ROUTES_FALLBACK, [*blocks, *hidden])
    blocks.append(context(msg.ROUTES_LEGEND))
    byok_total = sum((r.byok_usd for r in routes.routes), Decimal(0))
    if byok_total > 0:
        blocks.append(context(msg.byok_routes_total(fmt_usd(byok_total))))
    by_model: dict[str, list[RouteCost]] = {}
    for route in routes.routes:
        by_model.setdefault(route.model, []).append(route)
    ordered = sorted(by_model.items(), key=lambda item: -sum((r.usd for r in item[1]), Decimal(0)))
    all_routes = [r for _, rs in ordered for r in rs]
    usd_col = dict(zip(map(id, all_routes), money_column([r.usd for r in all_routes]), strict=True))
    per_m = [
        fmt_usd(r.usd_per_million_tokens) + "/1M" if r.usd_per_million_tokens is not None else "–"
        for r in all_routes
    ]
    width = max(len(p) for p in per_m)
    per_m_col = dict(zip(map(id, all_routes), (p.rjust(width) for p in per_m), strict=True))
    for model, model_routes in ordered:
        lines = [f"*{escape(model)}*"]
        for route in sorted(model_routes, key=lambda r: -r.usd):
            byok = msg.byok_route(fmt_usd(route.byok_usd)) if route.byok_usd > 0 else ""
            lines.append(
                f"`{usd_col[id(route)]}` `{per_m_col[id(route)]}`  {escape(route.provider_name)} "
                f"({fmt_percent(route.share_of_model)}){byok}"
            )
        blocks.extend(line_sections(lines))
    return message(msg.ROUTES_FALLBACK, _with_tail(blocks, hidden))


# ---------------------------------------------------------------------------------- unattributed


def unattributed_message(
    unattributed: Unattributed, *, month: date, data: DataStatus | None = None, tz: ZoneInfo = _UTC
) -> Message:
    data = data or {}
    blocks: list[Block] = [header(msg.unattributed_title(_month(month)))]
    total = unattributed.total
    notes = data_notes(data, tz)
    if not has_any_data(data):
        blocks.append(
            section(
                "\n".join(
                    [msg.NO_PROVIDER if not shown_providers(data) else msg.UNKNOWN_UNATTRIBUTED, *notes]
                )
            )
        )
        return message(msg.unattributed_fallback(msg.UNKNOWN), blocks)
    if notes:
        blocks.append(section("\n".join(notes)))
    if total == 0 and not unattributed.refs and not notes:
        blocks.append(section(msg.ALL_ATTRIBUTED))
        return message(msg.unattributed_fallback(fmt_usd(total)), blocks)
    blocks.append(section("\n".join(provider_amount_lines(unattributed.by_provider, data))))
    if unattributed.refs:
        column = money_column([r.usd for r in unattributed.refs])
        lines = []
        for amt, ref in zip(column, unattributed.refs, strict=True):
            what = msg.REF_KINDS.get(ref.kind, ref.kind)
            ident = code(ref.ref) if ref.ref else ""
            name = f" ({escape(ref.name)})" if ref.name and ref.name != ref.ref else ""
            if ref.workspace:
                name += " " + msg.in_workspace(escape(ref.workspace))
            lines.append(f"`{amt}`  {what} {ident}{name}".rstrip())
        blocks.extend(line_sections(lines, title=msg.UNATTRIBUTED_REFS))
    blocks.append(context(msg.UNATTRIBUTED_FIX))
    return message(msg.unattributed_fallback(fmt_usd(total)), blocks)


# ---------------------------------------------------------------------------------------- health


def health_message(health: Health, *, tz: ZoneInfo) -> Message:
    if not health.database_ok:  # nothing could be read: no endpoint list, no "no polls yet"
        down = [header(msg.HEALTH_TITLE), section(f"{msg.DATABASE_DOWN}\n{msg.STORE_UNAVAILABLE}")]
        return message(msg.STORE_UNAVAILABLE, down)
    blocks: list[Block] = [header(msg.HEALTH_TITLE)]
    top = [msg.DATABASE_OK if health.database_ok else msg.DATABASE_DOWN]
    top.append(msg.last_poll_line(fmt_moment(health.last_poll_at, tz)))
    blocks.append(section("\n".join(top)))
    lines = []
    for endpoint in health.endpoints:
        emoji, label = msg.HEALTH_STATUS[endpoint.last_status]
        line = f"{emoji} {msg.provider(endpoint.provider)} {code(endpoint.endpoint)}: {escape(label)}"
        if endpoint.last_status is PollStatus.ERROR and endpoint.error:
            line += f" ({escape(clip(endpoint.error, 200))})"
        line += ", " + (
            msg.last_success(fmt_moment(endpoint.last_success_at, tz))
            if endpoint.last_success_at
            else msg.NEVER_SUCCEEDED
        )
        lines.append(line)
    blocks.extend(line_sections(lines) if lines else [section(msg.NO_ENDPOINTS)])
    if health.key_level_costs is not None:
        blocks.append(context(msg.KEY_LEVEL_YES if health.key_level_costs else msg.KEY_LEVEL_NO))
    ok = sum(1 for e in health.endpoints if e.last_status is PollStatus.OK)
    return message(msg.health_fallback(ok, len(health.endpoints)), blocks)


# ------------------------------------------------------------------------------ help and refusals


def help_message(note: str | None = None) -> Message:
    blocks: list[Block] = []
    if note:
        blocks.append(section(note))
    blocks.append(header(msg.HELP_TITLE))
    blocks.append(section("\n".join(f"{code(usage)}  {escape(what)}" for usage, what in msg.HELP_COMMANDS)))
    blocks.append(context(msg.HELP_SHARE))
    return message(escape(msg.HELP_FALLBACK), blocks)


def refusal_message(project: str) -> Message:
    return message(msg.refusal_fallback(escape(project)), [section(msg.refusal(escape(project)))])


def unknown_project_message(typed: str, suggestions: list[str], known: list[str]) -> Message:
    text = msg.unknown_project(typed, [escape(s) for s in suggestions], [escape(k) for k in known])
    return message(text, [section(text)])


def text_message(text: str) -> Message:
    return message(text, [section(text)])
