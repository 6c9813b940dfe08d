"""The alert part of ``aispend demo``: alerts fire, are acknowledged, and resolve, rendered as
Slack would show them (the same Block Kit builders and the same state machine as production;
only the notifier prints instead of calling Slack)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

from rich.console import Console
from rich.panel import Panel
from sqlalchemy import Engine

from aispend.alerts import state
from aispend.alerts.job import run_alerts
from aispend.alerts.model import Delivery, Notice
from aispend.config import Config
from aispend.service import SpendService
from aispend.slack.alert_blocks import alert_message, escalation_reply, reminder_reply, resolve_reply, route
from aispend.terminal import render_blocks

_BUDGET_RAISE = Decimal(4)


class TerminalNotifier:
    """Prints each notice as the Slack message (or thread reply and in-place update) it would be."""

    def __init__(self, console: Console, config: Config) -> None:
        self._out = console
        self._config = config
        self._ts = itertools.count(1)

    def send(self, notice: Notice) -> Delivery | None:
        alert = notice.alert
        where = route(alert, self._config)
        tz = self._config.tz
        channel = where.channel or "(nowhere: no alert_channel)"
        if notice.kind == "post":
            shown = alert_message(alert, where=where, tz=tz)
            self._panel(
                f"{channel} · new alert", shown.blocks, "red" if alert.severity == "critical" else "yellow"
            )
            return Delivery(channel, f"1700000000.{next(self._ts):06d}")
        reply = None
        if notice.kind == "escalate":
            reply = escalation_reply(alert, where=where)
        elif notice.kind == "resolve":
            reply = resolve_reply(alert, tz=tz)
        elif notice.kind == "remind":
            reply = reminder_reply(alert, where=where)
            alert = replace(alert, status="firing")
        if reply is not None:
            self._panel(
                f"{channel} · thread reply", reply.blocks, "green" if notice.kind == "resolve" else "cyan"
            )
        updated = alert_message(alert, where=where, tz=tz)
        self._panel(f"{channel} · original message updated in place", updated.blocks, "white")
        return None

    def _panel(self, title: str, blocks: list[dict[str, object]], style: str) -> None:
        self._out.print(
            Panel(render_blocks(blocks), title=title, title_align="left", border_style=style), markup=False
        )


def _raised(config: Config) -> Config:
    """The config after every owner raised their budget (what resolves the budget alerts)."""
    projects = [
        p.model_copy(update={"monthly_budget_usd": p.monthly_budget_usd * _BUDGET_RAISE})
        if p.monthly_budget_usd is not None
        else p
        for p in config.projects
    ]
    return config.model_copy(update={"projects": tuple(projects)})


def show_alerts(out: Console, engine: Engine, config: Config, now: datetime, admin: str) -> None:
    """Evaluate after the poll, acknowledge one alert, then resolve the budget alerts."""
    notifier = TerminalNotifier(out, config)
    out.print("\n5) alerts, evaluated right after the poll (each posted once; a second run posts nothing):")
    first = run_alerts(
        engine=engine,
        source=SpendService(engine, config),
        config=config,
        notifier=notifier,
        clock=lambda: now,
    )
    again = run_alerts(
        engine=engine,
        source=SpendService(engine, config),
        config=config,
        notifier=notifier,
        clock=lambda: now,
    )
    sent_again = len(again.delivery.sent) if again.delivery else 0
    out.print(f"{len(first.applied.fired)} alerts fired; the second evaluation sent {sent_again} messages.")
    posted = [alert for alert in state.open_alerts(engine) if alert.ts]  # covered alerts have no message
    if not posted:
        return
    target = posted[0]
    who = admin
    project = config.project(target.project) if target.project else None
    if project is not None and project.owner and not project.owner.startswith("S"):
        who = project.owner
    later = now + timedelta(minutes=7)
    out.print(f"\n6) {who} presses Acknowledge on “{target.finding.title}”:")
    state.acknowledge(engine, target.id, who, later)
    state.deliver(engine, notifier, later)
    raised = _raised(config)
    out.print(f"\n7) the owners raise their budgets ×{_BUDGET_RAISE}; the next evaluation resolves them:")
    resolved = run_alerts(
        engine=engine,
        source=SpendService(engine, raised),
        config=raised,
        notifier=TerminalNotifier(out, raised),
        clock=lambda: later + timedelta(minutes=8),
    )
    out.print(f"{len(resolved.applied.resolved)} alerts resolved, each with one thread reply; still open:")
    for alert in state.open_alerts(engine):
        out.print(f"  {alert.severity:8} {alert.finding.title}", markup=False)
