"""Every sentence the Slack app shows a user, in one place (like Bolt's ``logger/messages.py``).

Values passed in are already formatted and, where they come from users or providers, already
escaped for mrkdwn; nothing here touches reports or Slack.
"""

from __future__ import annotations

from aispend.records import PollStatus, Provider

PROVIDER_NAMES: dict[Provider, str] = {"openai": "OpenAI", "openrouter": "OpenRouter"}

# ------------------------------------------------------------------------------------------ generic

ERROR = (
    ":warning: Something went wrong while answering. Please try again in a minute; "
    "if it keeps happening, tell whoever runs aispend."
)
STORE_UNAVAILABLE = (
    ":hourglass_flowing_sand: The spend store isn't answering right now, so I can't look that up. "
    "Please try again in a minute; `/aispend help` still works."
)
SHARED = ":white_check_mark: Posted in the channel."
ALREADY_SHARED = (
    ":white_check_mark: Already posted in the channel: this was a repeat of the same request, "
    "so I didn't post it again."
)
SHARED_WITHOUT_PRIVATE = (
    SHARED + " It holds what every member may see, so private projects' spend is left out."
)
PROVISIONAL = "today's figures are provisional"
NO_POLL_YET = "no poll yet"


def and_more(count: int) -> str:
    return f"…and {count} more sections not shown: Slack allows only so much in one message."


def last_poll(when: str) -> str:
    return f"last poll {when}"


def last_poll_line(when: str) -> str:
    return f"Last poll {when}"


def provider(name: Provider) -> str:
    return PROVIDER_NAMES.get(name, name)


# ------------------------------------------------------------------------- data that is missing

UNKNOWN = "unknown"
DATA_REASONS = {
    "no_permission": "no permission (the key lacks a scope; see `/aispend health`)",
    "error": "its polls are failing (see `/aispend health`)",
    "never_polled": "not polled yet",
    "not_configured": "not configured",
}


def data_reason(state: str, since: str | None) -> str:
    """Why a provider's figures are unknown (``since``: its last successful poll, formatted)."""
    if state == "stale":
        return f"no successful poll since {since}" if since else "its data is out of date"
    return DATA_REASONS.get(state, state)


def data_missing(provider_name: str, reason: str) -> str:
    return f":warning: {provider_name} figures unknown: {reason}."


SPEND_UNKNOWN = "*Spend unknown*: no provider has current data for this month."
PACE_NO_DATA = "No pace or forecast without data."
NO_PROVIDER = (
    "No provider is configured: set `OPENAI_ADMIN_KEY` and/or `OPENROUTER_MANAGEMENT_KEY` and run a poll."
)


def spent_from(total: str, through: str, providers: str) -> str:
    return f"*{total}* spent this month on {providers} (through {through} UTC)"


def pace_left_out(names: str) -> str:
    return f"(from the providers with data; {names} left out)"


def unknown_part(provider_name: str) -> str:
    return f"{provider_name} unknown"


# -------------------------------------------------------------------------------------------- help

HELP_TITLE = "aispend: AI API spend across OpenAI and OpenRouter"
HELP_FALLBACK = (
    "aispend commands: help, project <name>, projects, credits, models, routes, unattributed, health, alerts"
)
HELP_COMMANDS: tuple[tuple[str, str], ...] = (
    ("/aispend project <name>", "this month's spend, budget pace, providers, top models and trend"),
    ("/aispend projects", "every project on one line, plus unattributed spend"),
    ("/aispend credits", "OpenRouter balance, burn per day and when the credits run out"),
    ("/aispend models [project]", "model mix this week against last week"),
    ("/aispend routes", "OpenRouter providers per model, with $ and $/1M tokens"),
    ("/aispend unattributed", "spend no project claims, and how to claim it"),
    ("/aispend health", "what the last polls fetched, and any missing permissions"),
    ("/aispend alerts", "your open alerts (every open alert for an admin)"),
)
HELP_SHARE = (
    "Add `share` to any command to post the answer in the channel, e.g. `/aispend project search share`."
)


def help_unknown(typed: str) -> str:
    return f"I didn't understand `{typed}`. Here is what I can do:"


def help_missing_project() -> str:
    return "Which project? Try `/aispend project &lt;name&gt;`; `/aispend projects` lists them."


# ----------------------------------------------------------------------------------------- access


def refusal(project: str) -> str:
    return (
        f":lock: *{project}* is visible only to its owner and the aispend admins. "
        "Ask them if you need the figures."
    )


def refusal_fallback(project: str) -> str:
    return f"{project} is visible only to its owner and the aispend admins."


def hidden_spend(shared: bool) -> str:
    """Said wherever spend of projects the reader may not see was left out (never how much)."""
    if shared:
        return ":lock: Shared in the channel, so the spend of private projects is left out."
    return ":lock: Spend of private projects you can't see is left out."


def hidden_keys(shared: bool) -> str:
    if shared:
        return ":lock: Shared in the channel, so keys of private projects are not listed."
    return ":lock: Keys of private projects you can't see are not listed."


def restricted_line(project: str) -> str:
    return f":lock: *{project}*  private to its owner"


def not_shareable_private(project: str) -> str:
    return f"*{project}* is private to its owner and admins, so I won't post it in the channel."


def unknown_project(typed: str, suggestions: list[str], known: list[str]) -> str:
    text = f"I don't know a project called `{typed}`."
    if suggestions:
        return text + " Did you mean " + " or ".join(f"*{name}*" for name in suggestions) + "?"
    if known:
        return text + " Projects: " + ", ".join(f"*{name}*" for name in known) + "."
    return text + " No projects are configured yet (add them to `aispend.yaml`)."


# ---------------------------------------------------------------------------------------- project


def project_title(project: str, month: str) -> str:
    return f"{project} · {month}"


def spent_this_month(total: str, through: str) -> str:
    return f"*{total}* spent this month (through {through} UTC)"


def budget_line(bar: str, budget: str) -> str:
    return f"`{bar}` of {budget} budget"


def pace_on_track(forecast: str) -> str:
    return f"On track: about {forecast} by month end at the current pace."


def pace_at_risk(forecast: str, crosses: str) -> str:
    return f"At risk: about {forecast} by month end; the budget runs out around {crosses}."


def pace_at_risk_no_date(forecast: str) -> str:
    return f"At risk: about {forecast} by month end, above the budget."


def pace_over(crossed: str | None) -> str:
    return f"Over budget since {crossed}." if crossed else "Over budget."


def pace_insufficient(days: int) -> str:
    return f"Not enough history yet: forecast after 3 days of data ({days} so far)."


def pace_no_budget(forecast: str | None) -> str:
    if forecast:
        return f"No budget set; about {forecast} by month end at the current pace."
    return "No budget set."


BY_PROVIDER = "*By provider*"
TOP_MODELS = "*Top models*"


def more_models(count: int) -> str:
    return f"+{count} more"


def trend(days: int, spark: str, peak: str) -> str:
    return f"*Last {days} days*  `{spark}`  peak {peak}/day"


def trend_provisional(since: str) -> str:
    return f"provisional since {since}"


def owner(mention: str) -> str:
    return f"Owner {mention}"


NO_OWNER = "No owner set"


def project_fallback(project: str, total: str, budget_part: str, pace: str) -> str:
    return f"{project}: {total} this month{budget_part}. {pace}"


def budget_part(percent: str, budget: str) -> str:
    return f", {percent} of {budget} budget"


# --------------------------------------------------------------------------------------- projects


def projects_title(month: str) -> str:
    return f"AI spend · {month}"


def project_row(emoji: str, amount: str, project: str, budget: str | None, percent: str | None) -> str:
    if budget is None or percent is None:
        return f"{emoji} `{amount}`  *{project}*  no budget"
    return f"{emoji} `{amount}`  *{project}*  {percent} of {budget}"


def unattributed_row(amount: str) -> str:
    return f":grey_question: `{amount}`  unattributed (see `/aispend unattributed`)"


def total_row(amount: str, parts: str) -> str:
    return f"*Total* `{amount}`  {parts}"


def total_shown_row(amount: str, parts: str) -> str:
    return f"*Total shown* `{amount}`  {parts}"


NO_PROJECTS = "No projects are configured yet. Add them to `aispend.yaml`."


def projects_fallback(month: str, count: int) -> str:
    return f"AI spend for {month}: {count} projects."


# ---------------------------------------------------------------------------------------- credits

CREDITS_TITLE = "OpenRouter credits"
CREDITS_UNKNOWN = (
    "No OpenRouter credit reading yet. Is `OPENROUTER_MANAGEMENT_KEY` set? See `/aispend health`."
)
CREDITS_NOT_CONFIGURED = (
    "OpenRouter is not configured: set `OPENROUTER_MANAGEMENT_KEY` to see the balance and runway."
)
CREDITS_NO_PERMISSION = (
    ":no_entry: OpenRouter refused the credit balance: `/credits` needs a *management* key "
    "(see `/aispend health`). Balance and runway unknown."
)
CREDITS_STALE_STATUS = ":white_circle: The credit reading is out of date."
CREDITS_NO_PERMISSION_NOW = (
    ":no_entry: OpenRouter now refuses the credit balance (`/credits` needs a management key); "
    "below is the last reading."
)
CREDITS_NEVER = "No OpenRouter credit reading yet: not polled yet."
CREDITS_FAILING = ":warning: Reading the OpenRouter balance keeps failing (see `/aispend health`)."
CREDITS_DEPLETED = ":red_circle: Credits are used up: requests fail with 402 until someone tops up."
CREDITS_LOW = ":warning: Credits are low: top up soon."
CREDITS_OK = ":large_green_circle: Credits are fine."
LOW_KEYS = "*Keys close to their own spending cap*"


def credits_stale(when: str) -> str:
    return f":warning: The credit reading is stale (taken {when}); figures may be out of date."


def balance(amount: str) -> str:
    return f"*Balance*  `{amount}`"


def burn(amount: str, basis: str | None) -> str:
    how = {"24h": " (last 24 h, higher than the 7-day average)", "7d": " (7-day average)"}.get(
        basis or "", ""
    )
    return f"*Burn*  `{amount}/day`{how}"


def runway(days: str, date: str | None) -> str:
    return f"*Runway*  `{days} days`" + (f", runs out around {date}" if date else "")


def byok_line(per_day: str) -> str:
    return (
        f"*BYOK*  `{per_day}/day` on your own provider keys (7-day average): billed by those "
        "providers, not drawn from credits, so not in the burn or the runway"
    )


def byok_route(amount: str) -> str:
    return f" · BYOK `{amount}`"


def byok_routes_total(amount: str) -> str:
    return (
        f"BYOK (your own provider keys): {amount} this week, billed by those providers and not "
        "drawn from OpenRouter credits; it is not in the $ column."
    )


RUNWAY_NONE = "*Runway*  no burn measured yet"


def confidence(level: str) -> str:
    return f"confidence: {level}"


def low_key(remaining: str, limit: str, percent: str, name: str) -> str:
    return f"`{remaining} of {limit} left ({percent})`  {name}"


def credits_fallback(balance: str, days: str | None) -> str:
    return f"OpenRouter balance {balance}" + (f", about {days} days left." if days else ".")


# ----------------------------------------------------------------------------------------- models


def models_title(project: str | None) -> str:
    return f"Model mix · {project}" if project else "Model mix · all projects"


def models_weeks(this_week: str, last_week: str, start: str) -> str:
    return f"This week `{this_week}` · last week `{last_week}` (7 days from {start}, UTC)"


UNITS_TITLE = "*This month per model*: tokens, requests and unit costs (billed $ ÷ counted tokens)"
TOKENS = "*Tokens*"


def requests(count: str) -> str:
    return f"`{count}` requests"


def batch_share(share: str) -> str:
    return f"OpenAI batch share: {share} of this week's completions tokens went through the Batch API."


NEW_BADGE = ":new: NEW"
NO_MODELS = "No model spend in the last two weeks."
MODELS_UNKNOWN = "Model mix unknown: no provider has current data."


def models_fallback(project: str | None, this_week: str) -> str:
    return f"Model mix{' for ' + project if project else ''}: {this_week} this week."


# ----------------------------------------------------------------------------------------- routes


def routes_title(start: str, end: str) -> str:
    return f"OpenRouter routes · {start} – {end}"


ROUTES_LEGEND = "Per model: spend, $ per 1M tokens, provider and its share of the model's spend."
NO_ROUTES = "No OpenRouter activity in this window."
ROUTES_FALLBACK = "OpenRouter spend per model and provider."

# ----------------------------------------------------------------------------------- unattributed


def unattributed_title(month: str) -> str:
    return f"Unattributed spend · {month}"


UNKNOWN_UNATTRIBUTED = "Unattributed spend unknown: no provider has current data."
ALL_ATTRIBUTED = ":white_check_mark: Every dollar this month belongs to a project."
UNATTRIBUTED_REFS = "*Where it comes from*"
UNATTRIBUTED_FIX = (
    "To claim it, add the id to a project's matchers in `aispend.yaml` "
    "(`openai_projects`, `openai_api_keys` or `openrouter_keys`); the next poll re-attributes it."
)
REF_KINDS = {
    "openai_project": "OpenAI project",
    "openai_api_key": "OpenAI API key",
    "openrouter_key": "OpenRouter key",
    "org": "org-level spend with no project",
}


def in_workspace(name: str) -> str:
    return f"in workspace *{name}*"


def unattributed_fallback(total: str) -> str:
    return f"Unattributed spend this month: {total}."


# ----------------------------------------------------------------------------------------- health

HEALTH_TITLE = "aispend health"
DATABASE_OK = ":large_green_circle: Database reachable"
DATABASE_DOWN = ":red_circle: Database unreachable"
NO_ENDPOINTS = "No provider polls recorded yet."
KEY_LEVEL_NO = (
    "OpenAI refused costs grouped by API key, so spend is attributed per OpenAI project; "
    "`openai_api_keys` matchers only apply to token usage."
)
KEY_LEVEL_YES = "OpenAI costs are attributed per API key."
HEALTH_STATUS: dict[PollStatus, tuple[str, str]] = {
    PollStatus.OK: (":large_green_circle:", "ok"),
    PollStatus.ERROR: (":red_circle:", "error"),
    PollStatus.PERMISSION_DENIED: (":no_entry:", "no permission (check the key's scopes)"),
}


def last_success(when: str) -> str:
    return f"last success {when}"


NEVER_SUCCEEDED = "never succeeded"


def health_fallback(ok: int, total: int) -> str:
    return f"aispend health: {ok} of {total} endpoints ok."


# --------------------------------------------------------------------------------------- app home

HOME_YOUR_PROJECTS = "*Your projects*"
HOME_ALL_PROJECTS = "*All projects* (you are an admin)"
HOME_NO_PROJECTS = (
    "You don't own any project. `/aispend projects` lists them all; ask an admin to add you as an owner."
)
HOME_CREDITS = "*OpenRouter credit runway*"
HOME_ALERTS = "*Open alerts*"
HOME_NO_ALERTS = ":sparkles: No open alerts."
HOME_REFRESH = "Refresh"


def home_title(month: str) -> str:
    return f"AI spend · {month}"


def home_total(amount: str, parts: str) -> str:
    return f"*Spent this month*  `{amount}`  {parts}"


def home_updated(when: str) -> str:
    return f"Updated {when}"


# ------------------------------------------------------------------------------------------ alerts

ALERT_ACK = "Acknowledge"
ALERT_SNOOZE = "Snooze 24h"
ALERT_NOW = "*Now*"
ALERT_LINE = "*Line*"
ALERT_WHY = "*Why*"
ALERTS_TITLE = "Open alerts"
NO_OPEN_ALERTS = ":sparkles: No open alerts."
ALERT_UNKNOWN = "That alert no longer exists."
ALERT_ALREADY_RESOLVED = "That alert has already resolved; nothing to do."
ALERT_RESOLVED_LINE = "back within limits"
RULE_LABELS = {
    "low_credits": "low OpenRouter credits",
    "credit_runway": "credit runway",
    "budget_threshold": "budget threshold",
    "budget_pace": "budget pace",
    "key_limit": "key spending cap",
    "spend_spike": "spend spike",
    "stale_data": "stale data",
}


def alert_refused(who: str) -> str:
    return f"Only {who} can acknowledge or snooze this alert; nothing was changed."


def alert_owner(mention: str) -> str:
    return f"Owner {mention}"


def alert_acknowledged(who: str, when: str) -> str:
    return f":eyes: Acknowledged by {who} at {when}"


def alert_snoozed(who: str, until: str) -> str:
    return f":zzz: Snoozed by {who} until {until}"


def alert_resolved(when: str) -> str:
    return f":white_check_mark: Resolved at {when}: {ALERT_RESOLVED_LINE}"


def alert_fired_at(when: str) -> str:
    return f"firing since {when}"


def alert_private(project: str, rule: str) -> str:
    return (
        f"*{project}* has a {rule} alert. Its figures are private: the owner and admins see them "
        f"with `/aispend project {project}`."
    )


def alert_escalated(line: str, mention: str) -> str:
    return f":red_circle: *Escalated to critical*: {line} {mention}".rstrip()


def alert_resolved_reply(when: str) -> str:
    return f":white_check_mark: Resolved at {when}: {ALERT_RESOLVED_LINE}. No more messages about it."


def alert_reminder(title: str, mention: str) -> str:
    return f":alarm_clock: Snooze is over and this is still firing: {title} {mention}".rstrip()


def alerts_fallback(count: int) -> str:
    return f"{count} open alert{'s' if count != 1 else ''}"


def more_alerts(count: int) -> str:
    return f"…and {count} more: `/aispend alerts` lists them all."


# ----------------------------------------------------------------------------------------- digest


def digest_title(week: int, start: str, end: str) -> str:
    return f"AI spend · week {week} ({start} – {end})"


def digest_empty(week: int, start: str, end: str, hidden: bool) -> str:
    tail = " (owner-only projects are not shown here)" if hidden else ""
    return f"No AI spend recorded in week {week} ({start} – {end}){tail}."


def digest_lead(project: str, delta: str, pct: str, why: str) -> str:
    return f"*{project}* {delta}{pct} week over week{why}."


def digest_lead_why(model: str, provider: str, delta: str) -> str:
    return f", mostly {model} on {provider} ({delta})"


def digest_total(total: str, change: str, before: str) -> str:
    return f"Team spend *{total}* last week, {change} vs {before} the week before."


def digest_total_flat(total: str) -> str:
    return f"Team spend *{total}* last week, the same as the week before."


def digest_total_partial(providers: str) -> str:
    return f"(from {providers} only)"


DIGEST_SPEND_UNKNOWN = "*Team spend unknown* last week: no provider has current data."
DIGEST_BY_PROVIDER = "*By provider*"
DIGEST_MOVERS = "*Top movers*"
DIGEST_PROJECTS = "*Projects* (last week)"


def digest_more_projects(count: int) -> str:
    return f"…and {count} more project{'' if count == 1 else 's'}."


def digest_budgets(month: str, elapsed: str) -> str:
    return f"*Budget pace · {month}* ({elapsed} of the month elapsed)"


def digest_budget_rest(count: int) -> str:
    return f"{count} more project{'' if count == 1 else 's'} on track or without enough history yet."


DIGEST_NO_BUDGETS = "No project has a `monthly_budget_usd`."
DIGEST_MODELS = "*Model mix*"


def digest_new_model(model: str, amount: str) -> str:
    return f":new: {model} {amount}"


def digest_model_shift(model: str, before: str, now: str, pp: str) -> str:
    return f"{model}: {before} → {now} of spend ({pp})"


DIGEST_ROUTES = "*OpenRouter routes*"


def digest_route_shift(model: str, route: str, before: str, now: str) -> str:
    return f"{model} via {route}: {before} → {now} of the model's spend"


DIGEST_CREDITS = "*OpenRouter credits*"
DIGEST_UNATTRIBUTED = "*Unattributed*"


def digest_unattributed(amount: str, change: str) -> str:
    return f"{amount} belongs to no project{change}. `/aispend unattributed` shows how to claim it."


DIGEST_ALERTS = "*Alerts last week*"
DIGEST_NO_ALERTS = ":white_check_mark: None fired, none open."


def digest_alert_counts(fired: int, acknowledged: int, resolved: int) -> str:
    return f"{fired} fired · {acknowledged} acknowledged · {resolved} resolved"


def digest_alert_open(title: str, since: str) -> str:
    return f"still open: {title} (since {since})"


def digest_hidden(count: int) -> str:
    return (
        f":lock: Spend of {count} owner-only project{'' if count == 1 else 's'} is left out of this post; "
        "owners see it with `/aispend project <name>`."
    )


def digest_provisional(days: str) -> str:
    return f"Figures for {days} are provisional and may still change."


def digest_data_through(when: str) -> str:
    return f":warning: Data only through {when}: the last days of the week are incomplete."


DIGEST_UTC = "Weeks run Monday–Sunday in UTC days, as the providers bill them."


def digest_fallback(week: int, total: str, lead: str) -> str:
    return f"AI spend, week {week}: {total}. {lead}".strip()


def digest_chart_title(week: int) -> str:
    return f"AI spend · week {week}"
