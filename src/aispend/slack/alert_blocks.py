"""Pure Block Kit builders and routing for alerts (README "Alerts"): alert views in, messages out.

Routing (:func:`route`), also in the README:

* credit, key-cap and health alerts go to ``alert_channel``, mentioning the admins (the key's
  project owner for a key cap; a private project's key cap follows the project's routing);
* a project's alerts go to its ``channel``, else ``alert_channel``, mentioning its owner;
* a ``visibility: owner`` project's figures never go to a shared channel: a user owner gets the
  alert as a direct message from the app (``chat.postMessage`` with the user id as channel); a
  user-group owner gets a note *without figures* in the project channel, else ``alert_channel``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from aispend.alerts.model import AlertView
from aispend.alerts.rules import Finding
from aispend.config import Config
from aispend.money import fmt_usd
from aispend.slack import messages as msg
from aispend.slack.blocks import Block, Message, button, context, fmt_moment, header, message, section
from aispend.slack.mrkdwn import escape, mention

ACK_ACTION = "aispend_alert_ack"
SNOOZE_ACTION = "aispend_alert_snooze"
TEAM_RULES = frozenset({"low_credits", "credit_runway", "stale_data", "key_limit"})
_HOME_ALERTS = 10
_EMOJI = {"warning": ":large_orange_circle:", "critical": ":red_circle:"}


@dataclass(frozen=True, slots=True)
class Route:
    channel: str | None  # None: nowhere to post (listed in the App Home and /aispend alerts only)
    mention: str  # "" when nobody is named
    private: bool  # True: figures must not be shown where this goes


def _mentions(owners: Sequence[str]) -> str:
    return " ".join(mention(owner) for owner in owners)


def route(alert: AlertView, config: Config) -> Route:
    project = config.project(alert.project) if alert.project else None
    team_wide = alert.key.rule in TEAM_RULES
    if alert.key.rule == "key_limit" and project is not None and project.visibility == "owner":
        team_wide = False  # a private project's key figures follow the project's routing
    if team_wide or project is None:
        owners = [project.owner] if project is not None and project.owner else list(config.admins)
        return Route(config.alert_channel, _mentions(owners), private=False)
    owner = project.owner
    shared = project.channel or config.alert_channel
    if project.visibility == "owner":
        if owner is not None and not owner.startswith("S"):
            return Route(owner, mention(owner), private=False)  # the app's DM with the owner
        return Route(shared, mention(owner) if owner else _mentions(config.admins), private=True)
    return Route(shared, mention(owner) if owner else _mentions(config.admins), private=False)


def may_act(alert: AlertView, config: Config, user_id: str) -> bool:
    """The owner of the alert's project, or an admin (user-group owners: admins only, since
    group membership is not visible without an extra scope)."""
    if config.is_admin(user_id):
        return True
    project = config.project(alert.project) if alert.project else None
    return project is not None and project.owner is not None and project.owner == user_id


def who_may_act(alert: AlertView, config: Config) -> str:
    project = config.project(alert.project) if alert.project else None
    if project is not None and project.owner and not project.owner.startswith("S"):
        return f"{mention(project.owner)} or an admin"
    return "an admin"


def figure(value: Decimal, unit: str) -> str:
    match unit:
        case "usd":
            return fmt_usd(value)
        case "days":
            return f"{value} days"
        case "percent":
            return f"{value}% of the cap left"
        case _:
            return f"{value} h"


def line(value: Decimal, unit: str) -> str:
    return f"{value}%" if unit == "percent" else figure(value, unit)


def _figure_line(finding: Finding) -> str:
    now, threshold = figure(finding.figure, finding.unit), line(finding.threshold, finding.unit)
    return f"{msg.ALERT_NOW} `{now}`  ·  {msg.ALERT_LINE} `{threshold}`"


def _status_line(alert: AlertView, tz: ZoneInfo) -> str:
    if alert.status == "resolved" and alert.resolved_at is not None:
        return msg.alert_resolved(fmt_moment(alert.resolved_at, tz))
    if alert.status == "acknowledged" and alert.acknowledged_by and alert.acknowledged_at:
        return msg.alert_acknowledged(mention(alert.acknowledged_by), fmt_moment(alert.acknowledged_at, tz))
    if alert.status == "snoozed" and alert.snoozed_by and alert.snoozed_until:
        return msg.alert_snoozed(mention(alert.snoozed_by), fmt_moment(alert.snoozed_until, tz))
    return msg.alert_fired_at(fmt_moment(alert.opened_at, tz))


def rule_label(alert: AlertView) -> str:
    return msg.RULE_LABELS.get(alert.key.rule, alert.key.rule)


def alert_message(alert: AlertView, *, where: Route, tz: ZoneInfo) -> Message:
    """The alert as posted and as updated in place (status line, buttons while open)."""
    finding = alert.finding
    emoji = ":white_check_mark:" if alert.status == "resolved" else _EMOJI[alert.severity]
    blocks: list[Block] = []
    if where.private:
        project = escape(alert.project or "")
        blocks.append(section(f"{emoji} {msg.alert_private(project, rule_label(alert))}"))
        fallback = f"{alert.project}: {rule_label(alert)} alert"
    else:
        blocks.append(header(finding.title))
        lines = [_figure_line(finding)]
        if finding.context:
            lines.append(escape(finding.context))
        lines.append(f"{msg.ALERT_WHY} {escape(finding.why)}")
        blocks.append(section(f"{emoji} " + "\n".join(lines)))
        amounts = f"{figure(finding.figure, finding.unit)} (line {line(finding.threshold, finding.unit)})"
        fallback = f"{finding.title}: {amounts}"
    notes = [_status_line(alert, tz)]
    if where.mention:
        notes.append(msg.alert_owner(where.mention))
    notes.append(f"`{escape(str(alert.key))}`")
    blocks.append(context(" · ".join(notes)))
    if alert.is_open:
        value = str(alert.id)
        blocks.append(
            {
                "type": "actions",
                "block_id": f"aispend_alert_{alert.id}",
                "elements": [
                    {**button(msg.ALERT_ACK, ACK_ACTION, value), "style": "primary"},
                    button(msg.ALERT_SNOOZE, SNOOZE_ACTION, value),
                ],
            }
        )
    return message(fallback, blocks)


def escalation_reply(alert: AlertView, *, where: Route) -> Message:
    text = msg.alert_escalated(
        rule_label(alert) if where.private else _figure_line(alert.finding), where.mention
    )
    return message(text, [section(text)])


def resolve_reply(alert: AlertView, *, tz: ZoneInfo) -> Message:
    when = fmt_moment(alert.resolved_at or alert.opened_at, tz)
    text = msg.alert_resolved_reply(when)
    return message(text, [section(text)])


def reminder_reply(alert: AlertView, *, where: Route) -> Message:
    title = rule_label(alert) if where.private else escape(alert.finding.title)
    text = msg.alert_reminder(title, where.mention)
    return message(text, [section(text)])


def alert_line(alert: AlertView, tz: ZoneInfo) -> str:
    """One line for lists (App Home, ``/aispend alerts``)."""
    finding = alert.finding
    amounts = f"`{figure(finding.figure, finding.unit)}` vs `{line(finding.threshold, finding.unit)}`"
    return f"{_EMOJI[alert.severity]} *{escape(finding.title)}* · {amounts}\n{_status_line(alert, tz)}"


def visible_alerts(alerts: Sequence[AlertView], config: Config, user_id: str) -> list[AlertView]:
    """The viewer's open alerts: their projects' (every alert for an admin)."""
    if config.is_admin(user_id):
        return list(alerts)
    return [a for a in alerts if a.project is not None and may_act(a, config, user_id)]


def alerts_list_message(alerts: Sequence[AlertView], config: Config, user_id: str, tz: ZoneInfo) -> Message:
    """``/aispend alerts``: the viewer's open alerts, critical first."""
    mine = visible_alerts(alerts, config, user_id)
    blocks: list[Block] = [header(msg.ALERTS_TITLE)]
    if not mine:
        blocks.append(section(msg.NO_OPEN_ALERTS))
    blocks.extend(section(alert_line(alert, tz)) for alert in mine)
    return message(msg.alerts_fallback(len(mine)), blocks)


def home_alert_blocks(alerts: Sequence[AlertView], config: Config, user_id: str, tz: ZoneInfo) -> list[Block]:
    """The App Home's "Open alerts" section for one viewer."""
    mine = visible_alerts(alerts, config, user_id)
    if not mine:
        return [section(msg.HOME_ALERTS), section(msg.HOME_NO_ALERTS)]
    lines = [alert_line(alert, tz) for alert in mine[:_HOME_ALERTS]]
    if len(mine) > _HOME_ALERTS:
        lines.append(msg.more_alerts(len(mine) - _HOME_ALERTS))
    return [section(msg.HOME_ALERTS), section("\n".join(lines))]
