"""Alert messages and routing, pure: figure vs threshold, why, owner, buttons; private projects
never show figures in a shared channel; hostile names stay inert."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from aispend.alerts.model import AlertView
from aispend.alerts.rules import AlertKey, Finding
from aispend.config import parse_config
from aispend.slack.alert_blocks import (
    ACK_ACTION,
    SNOOZE_ACTION,
    alert_message,
    alerts_list_message,
    escalation_reply,
    home_alert_blocks,
    may_act,
    route,
)

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TZ = ZoneInfo("Europe/Berlin")
CONFIG = parse_config(
    {
        "alert_channel": "C0ALERTS",
        "admins": ["U0ADMIN"],
        "projects": [
            {"name": "search", "owner": "U0OWNER", "channel": "C0SEARCH", "monthly_budget_usd": 1000},
            {"name": "atlas", "owner": "U0ATLAS", "visibility": "owner", "monthly_budget_usd": 500},
            {"name": "billing", "owner": "S0GROUP", "visibility": "owner", "monthly_budget_usd": 500},
            {"name": "labs", "monthly_budget_usd": 100},
        ],
    }
)


def view(rule: str = "budget_threshold", project: str | None = "search", **changes: Any) -> AlertView:
    finding = Finding(
        key=AlertKey(rule, project or "openrouter", "80", "2026-11"),
        firing=True,
        severity="warning",
        title=f"{project} passed 80% of its November budget",
        figure=Decimal("820.50"),
        threshold=Decimal(800),
        unit="usd",
        why="top model this month: <!channel> gpt-4o & co, 62% of search",
        project=project,
        context="forecast $1,250.50 for the month vs budget $1,000.00",
    )
    base = AlertView(
        id=7, key=finding.key, project=project, status="firing", severity="warning", finding=finding,
        episode=1, opened_at=NOW,
    )  # fmt: skip
    return replace(base, **changes)


def text_of(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_the_alert_shows_figure_threshold_why_owner_and_buttons() -> None:
    alert = view()
    posted = alert_message(alert, where=route(alert, CONFIG), tz=TZ)
    rendered = text_of(posted.blocks)
    assert "$820.50" in rendered and "$800.00" in rendered and "forecast $1,250.50" in rendered
    assert "&lt;!channel&gt; gpt-4o &amp; co" in rendered and "<!channel>" not in rendered
    assert "<@U0OWNER>" in rendered
    actions = next(b for b in posted.blocks if b["type"] == "actions")["elements"]
    assert [(e["action_id"], e["value"]) for e in actions] == [(ACK_ACTION, "7"), (SNOOZE_ACTION, "7")]
    assert posted.text.startswith("search passed 80%")


def test_acknowledged_and_resolved_messages_say_who_and_when() -> None:
    acked = view(status="acknowledged", acknowledged_by="U0ADMIN", acknowledged_at=NOW + timedelta(hours=1))
    rendered = text_of(alert_message(acked, where=route(acked, CONFIG), tz=TZ).blocks)
    assert "Acknowledged by <@U0ADMIN> at Nov 20 14:00 (Europe/Berlin)" in rendered
    resolved = view(status="resolved", resolved_at=NOW + timedelta(hours=2))
    done = alert_message(resolved, where=route(resolved, CONFIG), tz=TZ).blocks
    assert "Resolved at Nov 20 15:00" in text_of(done)
    assert not [b for b in done if b["type"] == "actions"]


def test_routing() -> None:
    assert route(view(), CONFIG).channel == "C0SEARCH"
    assert route(view(project="labs"), CONFIG).channel == "C0ALERTS"
    assert route(view(project="labs"), CONFIG).mention == "<@U0ADMIN>"  # no owner: the admins
    credits = route(view(rule="low_credits", project=None), CONFIG)
    assert (credits.channel, credits.private, credits.mention) == ("C0ALERTS", False, "<@U0ADMIN>")
    atlas = route(view(project="atlas"), CONFIG)
    assert (atlas.channel, atlas.private) == ("U0ATLAS", False)  # the owner's DM with the app
    key_of_private = route(view(rule="key_limit", project="atlas"), CONFIG)
    assert (key_of_private.channel, key_of_private.private) == ("U0ATLAS", False)
    key_of_public = route(view(rule="key_limit", project="search"), CONFIG)
    assert (key_of_public.channel, key_of_public.mention) == ("C0ALERTS", "<@U0OWNER>")
    billing = route(view(project="billing"), CONFIG)
    assert (billing.channel, billing.private, billing.mention) == ("C0ALERTS", True, "<!subteam^S0GROUP>")


def test_a_private_project_in_a_shared_channel_shows_no_figures() -> None:
    alert = view(project="billing")
    where = route(alert, CONFIG)
    rendered = (
        text_of(alert_message(alert, where=where, tz=TZ).blocks)
        + alert_message(alert, where=where, tz=TZ).text
    )
    assert "$" not in rendered and "820" not in rendered and "gpt-4o" not in rendered
    assert "billing" in rendered and "<!subteam^S0GROUP>" in rendered
    assert "$" not in text_of(escalation_reply(alert, where=where).blocks)


def test_who_may_press() -> None:
    assert may_act(view(), CONFIG, "U0OWNER") and may_act(view(), CONFIG, "U0ADMIN")
    assert not may_act(view(), CONFIG, "U0STRANGER")
    assert not may_act(view(rule="low_credits", project=None), CONFIG, "U0OWNER")
    assert not may_act(view(project="billing"), CONFIG, "U0OWNER")


def test_lists_show_the_viewers_alerts() -> None:
    alerts = [view(), view(project="atlas", id=8), view(rule="low_credits", project=None, id=9)]
    owner = text_of(alerts_list_message(alerts, CONFIG, "U0OWNER", TZ).blocks)
    assert "search passed" in owner and "atlas" not in owner and "None passed" not in owner
    admin = alerts_list_message(alerts, CONFIG, "U0ADMIN", TZ)
    assert admin.text == "3 open alerts"
    assert "No open alerts" in text_of(alerts_list_message(alerts, CONFIG, "U0STRANGER", TZ).blocks)
    home = text_of(home_alert_blocks(alerts, CONFIG, "U0ATLAS", TZ))
    assert "atlas passed" in home and "search" not in home
