"""The ``aispend`` command line (README: Commands): parse arguments, call the domain, render.

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
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError
from rich.console import Console

from aispend import __version__
from aispend.alerts.job import run_alerts
from aispend.clock import month_start, parse_month, utcnow
from aispend.config import Config, ConfigError, double_claim_problems, load_config
from aispend.console import (
    print_alert_run,
    print_movers,
    print_poll_summary,
    print_project,
    print_runway,
    print_team_report,
    shown,
)
from aispend.ingest import (
    clients_from_settings,
    configured_providers,
    list_openrouter_keys,
    poller_from_settings,
)
from aispend.logs import configure_logging
from aispend.providers.errors import PermissionDenied, ProviderError
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.service import SpendService, stored_directory
from aispend.settings import Settings, secret
from aispend.spend.export import movers_json, project_json, runway_json, team_json
from aispend.spend.model import Directory
from aispend.store.engine import StoreConfigError, StoreError, open_store
from aispend.store.locks import PollBusy

if TYPE_CHECKING:
    from aispend.digest.job import Rendered

log = logging.getLogger("aispend")

EXIT_OK, EXIT_RUNTIME, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the user: printed as-is, exit code 2."""


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


# ------------------------------------------------------------------------------------ wiring


def load(settings: Settings) -> Config:
    return load_config(settings.aispend_config)


# ----------------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    out = _console()
    stored = stored_directory(settings.database_url)
    if stored is not None:
        _raise_double_claims(config, stored)
    out.print(f"{settings.aispend_config}: OK ({len(config.projects)} projects, time zone {config.timezone})")
    if stored is None:
        out.print(
            "names in the config were not resolved to ids: no stored names yet "
            "(run `aispend poll`, or `aispend check --keys` to ask the providers)",
            markup=False,
        )
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
            out.print(f"{label}: [red]no permission[/] ({shown(str(exc))})")
        except ProviderError as exc:
            problems += 1
            out.print(f"{label}: [red]unreachable[/] ({shown(str(exc))})")
    asked, failures = _provider_directory(config, openai, openrouter, out)
    _raise_double_claims(config, _merged(stored or Directory(), asked))
    return EXIT_RUNTIME if problems or failures else EXIT_OK


def _raise_double_claims(config: Config, directory: Directory) -> None:
    problems = double_claim_problems(config, directory)
    if problems:
        raise ConfigError(problems)


def _provider_directory(
    config: Config, openai: OpenAIClient | None, openrouter: OpenRouterClient | None, out: Console
) -> tuple[Directory, int]:
    """Names of OpenAI projects and keys and of OpenRouter keys, asked from the providers, so names
    in the config resolve to ids even before the first poll. Returns the names and the failures."""
    projects: dict[str, str] = {}
    keys: dict[str, str] = {}
    hashes: dict[str, str] = {}
    failures = 0
    if openai is not None:
        try:
            listed = openai.projects()
            projects = {p.id: p.name for p in listed if p.name}
            if any(p.openai_api_keys for p in config.projects):
                for project in listed:
                    try:
                        keys |= {k.id: k.name for k in openai.api_keys(project.id) if k.name}
                    except ProviderError:
                        if project.status == "active":
                            raise  # archived projects may no longer list keys (as in the poller)
            out.print("OpenAI names (projects, API keys): ok")
        except ProviderError as exc:
            failures += 1
            out.print(f"OpenAI names (projects, API keys): [red]not read[/] ({shown(str(exc))})")
    if openrouter is not None:
        try:
            hashes = {k.hash: k.name for k in list_openrouter_keys(openrouter)[1] if k.name}
            out.print("OpenRouter key names: ok")
        except ProviderError as exc:
            failures += 1
            out.print(f"OpenRouter key names: [red]not read[/] ({shown(str(exc))})")
    return Directory(openai_projects=projects, openai_keys=keys, openrouter_keys=hashes), failures


def _merged(stored: Directory, asked: Directory) -> Directory:
    """The stored names, updated by what the providers said just now."""
    return Directory(
        openai_projects=stored.openai_projects | asked.openai_projects,
        openai_keys=stored.openai_keys | asked.openai_keys,
        openrouter_keys=stored.openrouter_keys | asked.openrouter_keys,
    )


def cmd_poll(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    engine = open_store(settings.database_url)
    poller = poller_from_settings(engine, settings, backfill_days=config.backfill_days)
    if poller is None:
        _console(stderr=True).print(
            "no provider keys set: set OPENAI_ADMIN_KEY and/or OPENROUTER_MANAGEMENT_KEY"
        )
        return EXIT_USAGE
    try:
        summary = poller.poll(backfill_days=args.backfill_days, wait=args.wait)
    except PollBusy as exc:
        _console(stderr=True).print(f"aispend: {exc}", markup=False)
        return EXIT_RUNTIME
    print_poll_summary(summary, _console())
    err = _console(stderr=True)
    for claim in SpendService(engine, config).double_claims():  # names may be new with this poll
        err.print(f"aispend: double claim in the config (see `aispend check`): {claim}", markup=False)
    return EXIT_OK if summary.ok else EXIT_RUNTIME


FIRST_MONTH = date(2000, 1, 1)
"""The earliest ``--month`` accepted: older than either provider's billing, and far enough from
``date.min`` that month arithmetic never leaves the calendar."""


def _month_arg(text: str | None) -> date | None:
    """``--month``: a past or the current UTC month; a far-future month (``9999-12``) used to
    overflow the calendar in the report, so the range is checked here, with the bounds named."""
    if text is None:
        return None
    try:
        month = parse_month(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    current = month_start(utcnow().date())
    if not FIRST_MONTH <= month <= current:
        raise UsageError(
            f"--month {text} is out of range: use a month from {FIRST_MONTH:%Y-%m} to {current:%Y-%m}"
        )
    return month


def _service(settings: Settings, config: Config) -> SpendService:
    """The store read for the configured providers only (the others are left out, not $0)."""
    return SpendService(open_store(settings.database_url), config, providers=configured_providers(settings))


def cmd_spend(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    month = _month_arg(args.month)
    service = _service(settings, config)
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
    team_report = service.team_report(now, month)
    movers = service.movers(now) if month is None else ()
    if args.json:
        payload = team_json(team_report)
        if month is None:
            payload["movers"] = movers_json(movers)
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        console = _console()
        print_team_report(team_report, console)
        print_movers(movers, console)
    return EXIT_OK


def cmd_credits(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    runway = _service(settings, config).runway(utcnow())
    if args.json:
        sys.stdout.write(json.dumps(runway_json(runway)) + "\n")
    else:
        print_runway(runway, _console())
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace, settings: Settings) -> int:
    config = load(settings)
    engine = open_store(settings.database_url)
    notifier = None
    if not args.dry_run:
        token = secret(settings.slack_bot_token)
        if token is None:
            raise UsageError(
                "set SLACK_BOT_TOKEN to post alerts, or use --dry-run to see what would be posted"
            )
        from aispend.slack.alerts import SlackAlertNotifier
        from aispend.slack.client import make_web_client

        notifier = SlackAlertNotifier(make_web_client(token, settings.slack_api_url), config)
    run = run_alerts(
        engine=engine,
        source=SpendService(engine, config),
        config=config,
        notifier=notifier,
        clock=utcnow,
        dry_run=args.dry_run,
    )
    print_alert_run(run, config, _console())
    return EXIT_RUNTIME if run.delivery is not None and run.delivery.failed else EXIT_OK


def print_digest(rendered: Rendered, console: Console, *, title: str) -> None:
    """The digest as Slack would show it, in a panel (the chart is a file: see ``--chart``)."""
    from rich.panel import Panel

    from aispend.terminal import render_blocks

    body = render_blocks(rendered.message.blocks)
    console.print(Panel(body, title=title, title_align="left", border_style="cyan"), markup=False)


def _write_chart(rendered: Rendered, path: Path, console: Console) -> None:
    if rendered.chart is None:
        console.print(f"no chart for week {rendered.digest.week.week}: nothing was spent")
        return
    try:
        path.write_bytes(rendered.chart)
    except OSError as exc:
        raise UsageError(f"cannot write the chart to {path}: {exc.strerror}") from None
    console.print(f"chart written to {path} ({len(rendered.chart):,} bytes)")


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from aispend.digest.alerts import StoredAlertHistory
    from aispend.digest.job import DigestPoster
    from aispend.digest.weeks import report_week
    from aispend.slack.client import make_web_client
    from aispend.slack.gateway import SlackGateway

    config = load(settings)
    chart_path = Path(args.chart) if args.chart else None
    if not args.dry_run:
        if config.digest is None:
            raise UsageError("no `digest:` section in the config: add one with a `channel` (see README.md)")
        if not secret(settings.slack_bot_token):
            raise UsageError("set SLACK_BOT_TOKEN to post the digest (or use --dry-run)")
    engine = open_store(settings.database_url)
    service = SpendService(engine, config, providers=configured_providers(settings))
    now = utcnow()
    out = _console()
    if args.dry_run:
        poster = DigestPoster(engine, service, None, config, alerts=StoredAlertHistory(engine))
        week = poster.due(now) if config.digest is not None else report_week(now)
        rendered = poster.render(week, now)
        print_digest(rendered, out, title=f"weekly digest {week} (dry run: nothing posted)")
        if chart_path is not None:
            _write_chart(rendered, chart_path, out)
        return EXIT_OK
    token = secret(settings.slack_bot_token)
    assert token is not None and config.digest is not None
    gateway = SlackGateway(make_web_client(token, settings.slack_api_url))
    outcome = DigestPoster(engine, service, gateway, config, alerts=StoredAlertHistory(engine)).post_due(now)
    if chart_path is not None and outcome.rendered is not None:
        _write_chart(outcome.rendered, chart_path, out)
    channel = config.digest.channel
    match outcome.status:
        case "posted":
            out.print(f"weekly digest {outcome.week} posted to {channel}")
        case "already_posted":
            out.print(f"weekly digest {outcome.week} was already posted to {channel}: nothing to do")
        case "busy":
            out.print(f"weekly digest {outcome.week} is being posted by another process right now")
        case "gave_up":
            out.print(f"weekly digest {outcome.week}: gave up after repeated failures ({outcome.error})")
            return EXIT_RUNTIME
        case _:
            _console(stderr=True).print(
                f"weekly digest {outcome.week} not posted: {outcome.error}", markup=False
            )
            return EXIT_RUNTIME
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from aispend.serve import ServeError, StartupFailure, exit_watchdog, serve

    try:
        if args.port is not None:
            settings = settings.model_copy(update={"port": args.port})
        code = serve(settings, load(settings), socket_mode=args.socket, host=args.host)
        exit_watchdog(code)
        return code
    except ServeError as exc:
        raise UsageError(str(exc)) from None
    except StartupFailure as exc:
        _console(stderr=True).print(f"aispend: {exc}", markup=False)
        return EXIT_RUNTIME


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from aispend.demo.run import run_demo

    return run_demo(keep=args.keep)


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    """Options accepted before or after the subcommand (``aispend -v serve`` = ``aispend serve -v``).

    ``SUPPRESS`` keeps a subcommand's parser from resetting what the main parser already read.
    """
    parser.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug details"
    )
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the team config file (default $AISPEND_CONFIG, else aispend.yaml)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aispend",
        description="One operating view of AI API spend (OpenAI + OpenRouter), inside Slack.",
        epilog="Configuration: AISPEND_CONFIG (default aispend.yaml), DATABASE_URL, provider keys in "
        "OPENAI_ADMIN_KEY / OPENROUTER_MANAGEMENT_KEY. See README.md.",
    )
    parser.add_argument("--version", action="version", version=f"aispend {__version__}")
    _add_global_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common)

    demo = sub.add_parser(
        "demo", parents=[common], help="run the whole pipeline offline on simulated providers"
    )
    demo.add_argument("--keep", action="store_true", help="keep the temporary SQLite file and print its path")
    demo.set_defaults(func=cmd_demo)

    poll = sub.add_parser(
        "poll", parents=[common], help="poll every configured provider once and print what changed"
    )
    poll.add_argument(
        "--backfill-days", type=int, metavar="N", help="re-fetch the last N days of OpenAI data"
    )
    poll.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="if another poll is running on this database, wait up to SECONDS for it (default: refuse)",
    )
    poll.set_defaults(func=cmd_poll)

    serve = sub.add_parser(
        "serve", parents=[common], help="run the Slack app (HTTP on $PORT) and the poll scheduler"
    )
    serve.add_argument(
        "--socket", action="store_true", help="use Socket Mode (SLACK_APP_TOKEN) instead of HTTP"
    )
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, metavar="PORT", help="HTTP port (default $PORT, else 3000)")
    serve.set_defaults(func=cmd_serve)

    spend = sub.add_parser(
        "spend", parents=[common], help="month-to-date spend per project (all projects without PROJECT)"
    )
    spend.add_argument("project", nargs="?", help="project name from aispend.yaml (case-insensitive)")
    spend.add_argument("--month", metavar="YYYY-MM", help="a past UTC month instead of the current one")
    spend.add_argument("--json", action="store_true", help="print JSON (amounts as decimal strings)")
    spend.set_defaults(func=cmd_spend)

    digest = sub.add_parser(
        "digest",
        parents=[common],
        help="post the weekly digest if it is due and not out yet (once per ISO week)",
    )
    digest.add_argument(
        "--dry-run", action="store_true", help="print the digest as Slack would show it; post nothing"
    )
    digest.add_argument("--chart", metavar="PATH", help="also write the digest chart (PNG) to PATH")
    digest.set_defaults(func=cmd_digest)

    credits = sub.add_parser(
        "credits", parents=[common], help="OpenRouter balance, burn rate, runway and low key caps"
    )
    credits.add_argument("--json", action="store_true", help="print JSON (amounts as decimal strings)")
    credits.set_defaults(func=cmd_credits)

    alerts = sub.add_parser("alerts", help="evaluate the alert rules once and post what is owed to Slack")
    alerts.add_argument(
        "--dry-run", action="store_true", help="print what would be posted; change and post nothing"
    )
    alerts.set_defaults(func=cmd_alerts)

    check = sub.add_parser(
        "check", parents=[common], help="validate the config file (and, with --keys, provider permissions)"
    )
    check.add_argument(
        "--keys", action="store_true", help="also call each provider once to check key permissions"
    )
    check.set_defaults(func=cmd_check)
    return parser


def _log_level(args: argparse.Namespace) -> int:
    """DEBUG with -v; INFO for the long-running ``serve`` (polls, leader changes, alerts are its
    news); WARNING for one-shot commands, whose output is the table or JSON they print."""
    if getattr(args, "verbose", False):
        return logging.DEBUG
    return logging.INFO if args.command == "serve" else logging.WARNING


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # Before the settings are read (their errors are printed, not logged); re-done with the
    # secrets and LOG_FORMAT once they are.
    level = _log_level(args)
    configure_logging(level=level)
    if getattr(args, "backfill_days", None) is not None and not 1 <= args.backfill_days <= 365:
        parser.error("--backfill-days must be between 1 and 365")
    if getattr(args, "wait", None) is not None and not 0 <= args.wait <= 86_400:
        parser.error("--wait must be between 0 and 86400 seconds")
    err = _console(stderr=True)
    try:
        settings = Settings()
        configure_logging(level=level, fmt=settings.log_format, secrets=settings.secret_values())
        if getattr(args, "config", None):
            settings = settings.model_copy(update={"aispend_config": args.config})
        return int(args.func(args, settings))
    except ConfigError as exc:
        count = len(exc.problems)
        err.print(f"[red]invalid configuration[/] ({count} problem{'' if count == 1 else 's'}):")
        for problem in exc.problems:
            err.print(f"  {problem}", markup=False)
        return EXIT_USAGE
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            err.print(f"aispend: invalid environment setting {where}: {message}", markup=False)
        return EXIT_USAGE
    except (UsageError, StoreConfigError) as exc:
        err.print(f"aispend: {exc}", markup=False)
        return EXIT_USAGE
    except StoreError as exc:
        err.print(f"aispend: {exc}", markup=False)
        return EXIT_RUNTIME
    except KeyboardInterrupt:
        return 130
