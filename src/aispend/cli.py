"""The ``aispend`` command line (DESIGN.md §4): parse arguments, call the domain, render.

Exit codes: 0 success, 1 a runtime problem (provider or database unreachable, poll errors),
2 bad input (invalid config, unknown project, malformed arguments).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from aispend import __version__
from aispend.clock import parse_month, utcnow
from aispend.config import Config, ConfigError, load_config
from aispend.ingest import PollSummary, clients_from_settings, poller_from_settings
from aispend.money import fmt_usd
from aispend.providers.errors import PermissionDenied, ProviderError
from aispend.service import SpendService
from aispend.settings import Settings
from aispend.spend.export import month_json, movers_json, project_json, runway_json
from aispend.spend.model import MonthReport, Mover, ProjectReport, Runway
from aispend.store.engine import StoreError, open_store

log = logging.getLogger("aispend")

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: printed as-is, exit code 2."""


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------------ wiring


def load(settings: Settings) -> Config:
    return load_config(settings.aispend_config)


# ---------------------------------------------------------------------------------- rendering


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
        label = endpoint if calls == 1 else f"{endpoint} ×{calls}"
        style = "green" if status == "ok" else "red"
        note = notes.get((provider, endpoint, status), "")
        table.add_row(provider, label, f"[{style}]{status}[/]", str(ins), str(upd), str(dele), note)
    console.print(table)
    if summary.balance is not None:
        console.print(f"OpenRouter balance: {fmt_usd(summary.balance)}")
    if summary.key_level_costs is False:
        console.print(
            "[yellow]OpenAI refused grouping costs by API key: key-level money attribution unavailable.[/]"
        )


def print_project(report: ProjectReport, console: Console) -> None:
    pace = report.pace
    budget = f" of {fmt_usd(pace.budget)} ({pace.used_percent}%)" if pace.budget is not None else ""
    console.print(f"[bold]{report.project}[/] · {report.month:%Y-%m} · {fmt_usd(report.total)}{budget}")
    forecast = f", forecast {fmt_usd(pace.forecast)}" if pace.forecast is not None else ""
    crosses = f", crosses budget {pace.crosses_on}" if pace.crosses_on is not None else ""
    console.print(f"pace: {pace.status}{forecast}{crosses} · owner: {report.owner or '—'}")
    table = Table(show_header=True)
    table.add_column("provider")
    table.add_column("model")
    table.add_column("USD", justify="right")
    for item in report.by_model[:15]:
        table.add_row(item.provider, item.model, fmt_usd(item.usd))
    if len(report.by_model) > 15:
        rest = sum((m.usd for m in report.by_model[15:]), Decimal(0))
        table.add_row("", f"… {len(report.by_model) - 15} more", fmt_usd(rest))
    console.print(table)
    if report.provisional_since is not None:
        console.print(f"[dim]figures from {report.provisional_since} on are provisional[/]")


def print_month(report: MonthReport, console: Console) -> None:
    table = Table(title=f"Spend {report.month:%Y-%m} (as of {report.as_of:%Y-%m-%d %H:%M} UTC)")
    for column in ("project", "owner", "openai", "openrouter", "total", "budget", "pace", "forecast"):
        table.add_column(column, justify="left" if column in ("project", "owner", "pace") else "right")
    for project in report.projects:
        pace = project.pace
        table.add_row(
            project.project,
            project.owner or "—",
            fmt_usd(project.by_provider.get("openai", Decimal(0))),
            fmt_usd(project.by_provider.get("openrouter", Decimal(0))),
            fmt_usd(project.total),
            fmt_usd(pace.budget) if pace.budget is not None else "—",
            pace.status,
            fmt_usd(pace.forecast) if pace.forecast is not None else "—",
        )
    unattributed = report.unattributed
    table.add_row(
        "[italic]unattributed[/]",
        "",
        fmt_usd(unattributed.by_provider.get("openai", Decimal(0))),
        fmt_usd(unattributed.by_provider.get("openrouter", Decimal(0))),
        fmt_usd(unattributed.total),
        "",
        "",
        "",
    )
    table.add_row(
        "[bold]total[/]",
        "",
        fmt_usd(report.provider_totals.get("openai", Decimal(0))),
        fmt_usd(report.provider_totals.get("openrouter", Decimal(0))),
        f"[bold]{fmt_usd(report.total)}[/]",
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
            f"  {mover.project}: {sign}{fmt_usd(abs(mover.delta))}{pct} → {fmt_usd(mover.this_week)}"
        )


def print_runway(runway: Runway, console: Console) -> None:
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
    for cap in runway.low_keys:
        console.print(
            f"key {cap.name or cap.key_hash[:12]}: {fmt_usd(cap.limit_remaining)} left of its "
            f"{fmt_usd(cap.limit)} cap ({cap.percent_remaining}%)"
        )


# ----------------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    out = _console()
    out.print(f"{settings.aispend_config}: OK ({len(config.projects)} projects, time zone {config.timezone})")
    if not args.keys:
        return EXIT_OK
    openai, openrouter = clients_from_settings(settings)
    problems = 0
    today = utcnow().date()
    probes: list[tuple[str, Callable[[], object]]] = []
    if openai is not None:
        tomorrow = today + timedelta(days=1)
        probes.append(("OpenAI costs (api.usage.read)", lambda: openai.costs(today, tomorrow)))
    if openrouter is not None:
        probes.append(("OpenRouter credits (management key)", openrouter.credits))
    if not probes:
        out.print("no provider keys set (OPENAI_ADMIN_KEY, OPENROUTER_MANAGEMENT_KEY)")
    for label, probe in probes:
        try:
            probe()
            out.print(f"{label}: ok")
        except PermissionDenied as exc:
            problems += 1
            out.print(f"{label}: [red]no permission[/] ({exc})")
        except ProviderError as exc:
            problems += 1
            out.print(f"{label}: [red]unreachable[/] ({exc})")
    return EXIT_RUNTIME if problems else EXIT_OK


def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    engine = open_store(settings.database_url)
    poller = poller_from_settings(engine, settings, backfill_days=config.backfill_days)
    if poller is None:
        _console(stderr=True).print(
            "no provider keys set: set OPENAI_ADMIN_KEY and/or OPENROUTER_MANAGEMENT_KEY"
        )
        return EXIT_USAGE
    summary = poller.poll(backfill_days=args.backfill_days)
    print_poll_summary(summary, _console())
    return EXIT_OK if summary.ok else EXIT_RUNTIME


def _month_arg(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return parse_month(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def cmd_spend(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    month = _month_arg(args.month)
    service = SpendService(open_store(settings.database_url), config)
    now = utcnow()
    if args.project:
        report = service.project_report(args.project, now, month)
        if report is None:
            names = ", ".join(p.name for p in config.projects) or "none configured"
            raise UsageError(f"unknown project {args.project!r} (projects: {names})")
        if args.json:
            sys.stdout.write(json.dumps(project_json(report)) + "\n")
        else:
            print_project(report, _console())
        return EXIT_OK
    month_report = service.month_report(now, month)
    movers = service.movers(now) if month is None else ()
    if args.json:
        payload = month_json(month_report)
        if month is None:
            payload["movers"] = movers_json(movers)
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        console = _console()
        print_month(month_report, console)
        print_movers(movers, console)
    return EXIT_OK


def cmd_credits(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    runway = SpendService(open_store(settings.database_url), config).runway(utcnow())
    if args.json:
        sys.stdout.write(json.dumps(runway_json(runway)) + "\n")
    else:
        print_runway(runway, _console())
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from aispend.serve import ServeError, serve

    try:
        return serve(settings, load(settings), socket_mode=args.socket)
    except ServeError as exc:
        raise UsageError(str(exc)) from None


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from aispend.demo import run_demo

    return run_demo(keep=args.keep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aispend",
        description="One operating view of AI API spend (OpenAI + OpenRouter), inside Slack.",
        epilog="Configuration: AISPEND_CONFIG (default aispend.yaml), DATABASE_URL, provider keys in "
        "OPENAI_ADMIN_KEY / OPENROUTER_MANAGEMENT_KEY. See README.md.",
    )
    parser.add_argument("--version", action="version", version=f"aispend {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="run the whole pipeline offline on simulated providers")
    demo.add_argument("--keep", action="store_true", help="keep the temporary SQLite file and print its path")
    demo.set_defaults(func=cmd_demo)

    poll = sub.add_parser("poll", help="poll every configured provider once and print what changed")
    poll.add_argument(
        "--backfill-days", type=int, metavar="N", help="re-fetch the last N days of OpenAI data"
    )
    poll.set_defaults(func=cmd_poll)

    serve = sub.add_parser("serve", help="run the Slack app (HTTP on $PORT) and the poll scheduler")
    serve.add_argument(
        "--socket", action="store_true", help="use Socket Mode (SLACK_APP_TOKEN) instead of HTTP"
    )
    serve.set_defaults(func=cmd_serve)

    spend = sub.add_parser("spend", help="month-to-date spend per project (all projects without PROJECT)")
    spend.add_argument("project", nargs="?", help="project name from aispend.yaml (case-insensitive)")
    spend.add_argument("--month", metavar="YYYY-MM", help="a past UTC month instead of the current one")
    spend.add_argument("--json", action="store_true", help="print JSON (amounts as decimal strings)")
    spend.set_defaults(func=cmd_spend)

    credits = sub.add_parser("credits", help="OpenRouter balance, burn rate, runway and low key caps")
    credits.add_argument("--json", action="store_true", help="print JSON (amounts as decimal strings)")
    credits.set_defaults(func=cmd_credits)

    check = sub.add_parser("check", help="validate the config file (and, with --keys, provider permissions)")
    check.add_argument(
        "--keys", action="store_true", help="also call each provider once to check key permissions"
    )
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if getattr(args, "backfill_days", None) is not None and not 1 <= args.backfill_days <= 365:
        parser.error("--backfill-days must be between 1 and 365")
    err = _console(stderr=True)
    try:
        settings = Settings()
        return int(args.func(args, settings))
    except ConfigError as exc:
        count = len(exc.problems)
        err.print(f"[red]invalid configuration[/] ({count} problem{'' if count == 1 else 's'}):")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False)
        return EXIT_USAGE
    except ValidationError as exc:
        err.print("[red]invalid environment settings[/]:")
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            err.print(f"  {where}: {error['msg']}", markup=False)
        return EXIT_USAGE
    except UsageError as exc:
        err.print(f"aispend: {exc}", markup=False)
        return EXIT_USAGE
    except StoreError as exc:
        err.print(f"aispend: {exc}", markup=False)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
