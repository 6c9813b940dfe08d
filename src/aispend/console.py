"""Terminal renderers shared by the ``aispend`` commands and ``aispend demo``: poll summaries,
month and project reports, movers and the credit runway as rich tables and lines.

They live apart from ``cli.py`` so the demo can print the same tables without importing the CLI
(which launches the demo), keeping the import graph one-way.

Every name that comes from a provider or the config (models, keys, projects, owners, provider error
text) goes through :func:`shown` before rich sees it: rich reads ``[...]`` as markup, so a key named
``[/]`` would otherwise crash the command, and invisible or bidi characters would be echoed as-is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from rich.console import Console
from rich.markup import escape as escape_markup
from rich.table import Table

from aispend.alerts.job import AlertRun
from aispend.alerts.model import Notice
from aispend.config import Config
from aispend.ingest import PollSummary
from aispend.money import fmt_usd
from aispend.records import PollStatus, Provider
from aispend.slack.alert_blocks import figure, line, route
from aispend.spend.model import (
    DataStatus,
    Mover,
    ProjectReport,
    Runway,
    TeamReport,
    missing_providers,
    shown_providers,
)
from aispend.text import neutralise

__all__ = [
    "print_alert_run",
    "print_movers",
    "print_poll_summary",
    "print_project",
    "print_runway",
    "print_team_report",
    "shown",
]


def shown(text: str) -> str:
    """Text from outside, safe to hand to rich: invisible characters neutralised, markup escaped."""
    return escape_markup(neutralise(text))


def print_poll_summary(summary: PollSummary, console: Console) -> None:
    table = Table(title=f"Poll at {summary.started_at:%Y-%m-%d %H:%M:%S} UTC", show_lines=False)
    for column in ("provider", "endpoint", "status", "inserted", "updated", "deleted", "note"):
        table.add_column(column, justify="right" if column in ("inserted", "updated", "deleted") else "left")
    grouped: dict[tuple[str, str, str], list[int]] = {}
    notes: dict[tuple[str, str, str], str] = {}
    for result in summary.results:
        key = (result.provider, result.endpoint, result.status)
        counts = grouped.setdefault(key, [0, 0, 0, 0])
        counts[0] += result.count.inserted
        counts[1] += result.count.updated
        counts[2] += result.count.deleted
        counts[3] += 1
        note = result.error or result.detail
        if note:
            notes[key] = note
    for (provider, endpoint, status), (ins, upd, dele, calls) in grouped.items():
        label = shown(endpoint) if calls == 1 else f"{shown(endpoint)} ×{calls}"
        style = "green" if status is PollStatus.OK else "red"
        note = notes.get((provider, endpoint, status), "")
        table.add_row(
            shown(provider), label, f"[{style}]{shown(status)}[/]", str(ins), str(upd), str(dele), shown(note)
        )
    console.print(table)
    if summary.abandoned is not None:
        console.print(f"[red]poll abandoned:[/] {shown(summary.abandoned)}")
    if summary.balance is not None:
        console.print(f"OpenRouter balance: {fmt_usd(summary.balance)}")
    if summary.key_level_costs is False:
        console.print(
            "[yellow]OpenAI refused grouping costs by API key: key-level money attribution unavailable.[/]"
        )


def _amount(amounts: Mapping[Provider, Decimal], provider: Provider, data: DataStatus) -> str:
    """A provider's cell: the amount, ``unknown (reason)`` without data, ``—`` if not configured."""
    if provider in amounts:
        return fmt_usd(amounts[provider])
    state = data[provider].state if provider in data else "ok"
    if state == "not_configured":
        return "—"
    return f"unknown ({state.replace('_', ' ')})"


def print_data_notes(data: DataStatus, console: Console) -> None:
    """Say which providers' figures are unknown, and why, before any table."""
    if data and not shown_providers(data):
        console.print(
            "[yellow]No provider is configured (set OPENAI_ADMIN_KEY / OPENROUTER_MANAGEMENT_KEY).[/]"
        )
    for provider in missing_providers(data):
        found = data[provider]
        since = f", last success {found.last_success_at:%Y-%m-%d %H:%M} UTC" if found.last_success_at else ""
        console.print(
            f"[yellow]{provider}: figures unknown ({found.state.replace('_', ' ')}{since}); "
            "see `aispend check --keys` or /aispend health.[/]"
        )


def print_project(report: ProjectReport, console: Console) -> None:
    pace = report.pace
    print_data_notes(report.data, console)
    total = fmt_usd(report.total) if report.known else "unknown"
    budget = ""
    if pace.budget is not None:
        used = f" ({pace.used_percent}%)" if pace.used_percent is not None else ""
        budget = f" of {fmt_usd(pace.budget)}{used}"
    console.print(f"[bold]{shown(report.project)}[/] · {report.month:%Y-%m} · {total}{budget}")
    forecast = f", forecast {fmt_usd(pace.forecast)}" if pace.forecast is not None else ""
    crosses = f", crosses budget {pace.crosses_on}" if pace.crosses_on is not None else ""
    left_out = f" (without {', '.join(pace.left_out)})" if pace.left_out else ""
    console.print(f"pace: {pace.status}{forecast}{crosses}{left_out} · owner: {shown(report.owner or '—')}")
    table = Table(show_header=True)
    table.add_column("provider")
    table.add_column("model")
    table.add_column("USD", justify="right")
    for item in report.by_model[:15]:
        table.add_row(item.provider, shown(item.model), fmt_usd(item.usd))
    if len(report.by_model) > 15:
        rest = sum((m.usd for m in report.by_model[15:]), Decimal(0))
        table.add_row("", f"… {len(report.by_model) - 15} more", fmt_usd(rest))
    console.print(table)
    if report.provisional_since is not None:
        console.print(f"[dim]figures from {report.provisional_since} on are provisional[/]")


def print_team_report(report: TeamReport, console: Console) -> None:
    print_data_notes(report.data, console)
    data = report.data
    providers = shown_providers(data)
    table = Table(title=f"Spend {report.month:%Y-%m} (as of {report.as_of:%Y-%m-%d %H:%M} UTC)")
    for column in ("project", "owner", *providers, "total", "budget", "pace", "forecast"):
        table.add_column(column, justify="left" if column in ("project", "owner", "pace") else "right")
    known = report.known
    for project in report.projects:
        pace = project.pace
        table.add_row(
            shown(project.project),
            shown(project.owner or "—"),
            *(_amount(project.by_provider, p, data) for p in providers),
            fmt_usd(project.total) if known else "unknown",
            fmt_usd(pace.budget) if pace.budget is not None else "—",
            pace.status,
            fmt_usd(pace.forecast) if pace.forecast is not None else "—",
        )
    unattributed = report.unattributed
    table.add_row(
        "[italic]unattributed[/]",
        "",
        *(_amount(unattributed.by_provider, p, data) for p in providers),
        fmt_usd(unattributed.total) if known else "unknown",
        "",
        "",
        "",
    )
    table.add_row(
        "[bold]total[/]",
        "",
        *(_amount(report.provider_totals, p, data) for p in providers),
        f"[bold]{fmt_usd(report.total) if known else 'unknown'}[/]",
        "",
        "",
        "",
    )
    console.print(table)


def print_movers(movers: Sequence[Mover], console: Console) -> None:
    if not movers:
        return
    console.print("Week over week (7 complete UTC days vs the 7 before):")
    for mover in movers:
        pct = f" ({mover.delta_percent:+}%)" if mover.delta_percent is not None else ""
        sign = "+" if mover.delta >= 0 else "-"
        console.print(
            f"  {shown(mover.project)}: {sign}{fmt_usd(abs(mover.delta))}{pct} → {fmt_usd(mover.this_week)}"
        )


def print_runway(runway: Runway, console: Console) -> None:
    state = runway.data.state if runway.data is not None else "ok"
    if state == "not_configured":
        console.print("OpenRouter is not configured (set OPENROUTER_MANAGEMENT_KEY).")
        return
    if state == "no_permission":
        console.print(
            "[yellow]OpenRouter refused /credits: it needs a management key. Balance and runway unknown"
            + (", showing the last reading." if runway.balance is not None else ".")
            + "[/]"
        )
    if runway.balance is None:
        console.print(
            "OpenRouter credits: no snapshot yet (run `aispend poll` with OPENROUTER_MANAGEMENT_KEY set)."
        )
        return
    console.print(f"OpenRouter balance: [bold]{fmt_usd(runway.balance)}[/] ({runway.status})")
    if runway.burn_per_day is not None:
        console.print(
            f"burn: {fmt_usd(runway.burn_per_day)}/day ({runway.basis} basis, confidence {runway.confidence})"
        )
    if runway.days_left is not None:
        console.print(f"runway: {runway.days_left} days, runs out around {runway.runs_out_on}")
    if runway.stale:
        console.print(f"[yellow]the newest snapshot is from {runway.snapshot_at}: figures may be stale[/]")
    if runway.byok_7d:
        console.print(
            f"BYOK: {fmt_usd(runway.byok_7d)}/day on your own provider keys (7-day average), "
            "billed by those providers: not in the burn or the runway"
        )
    for cap in runway.low_keys:
        console.print(
            f"key {shown(cap.name or cap.key_hash[:12])}: {fmt_usd(cap.limit_remaining)} left of its "
            f"{fmt_usd(cap.limit)} cap ({cap.percent_remaining}%)"
        )


_NOTICE_VERBS = {
    "post": "post",
    "escalate": "escalate (update + thread reply)",
    "resolve": "resolve (update + thread reply)",
    "remind": "snooze over (thread reply)",
    "update": "update in place",
}
_SEVERITY_STYLE = {"warning": "[yellow]warning[/]", "critical": "[red]critical[/]"}


def alert_notice_line(notice: Notice, config: Config) -> str:
    """One rich line: what would be (or was) sent, where, and the alert's figures."""
    alert = notice.alert
    finding = alert.finding
    where = route(alert, config)
    target = where.channel or "nowhere (no alert_channel)"
    if where.private:
        target += ", without figures"
    amounts = f"now {figure(finding.figure, finding.unit)}, line {line(finding.threshold, finding.unit)}"
    return (
        f"{_NOTICE_VERBS[notice.kind]} → {shown(target)}  {_SEVERITY_STYLE[alert.severity]}  "
        f"[bold]{shown(finding.title)}[/]\n    {shown(amounts)}; why: {shown(finding.why)}"
    )


def print_alert_run(run: AlertRun, config: Config, console: Console) -> None:
    """``aispend alerts``: what fired, escalated and resolved, and what was (or would be) sent."""
    applied = run.applied
    firing = run.evaluation.firing
    console.print(
        f"{len(firing)} firing · {len(applied.fired)} new · {len(applied.escalated)} escalated · "
        f"{len(applied.resolved)} resolved"
    )
    if run.dry_run:
        if not applied.due:
            console.print("dry run: nothing would be posted")
        for notice in applied.due:
            console.print("dry run: would " + alert_notice_line(notice, config))
        return
    if run.delivery is None:
        return
    for notice in run.delivery.sent:
        console.print("sent: " + alert_notice_line(notice, config))
    for notice, error in run.delivery.failed:
        console.print(
            f"[red]failed[/] ({shown(error)}), retried next evaluation: " + alert_notice_line(notice, config)
        )
