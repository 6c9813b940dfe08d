"""``aispend demo``: the whole pipeline offline, on simulated providers.

Same code path as production (HTTP clients, retries, ingest, store, spend model, Slack
answers); only the endpoints differ: two loopback fake providers serve a generated dataset,
the store is a temporary SQLite file, and Slack messages are printed to the terminal.
It polls twice, a day apart, so the credit runway has a real 24-hour burn, and the first costs
request is answered with a 429 + Retry-After to show the client waiting it out.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from sqlalchemy import Engine

from aispend.clock import month_start, next_month, utcnow
from aispend.config import Config, parse_config
from aispend.console import print_movers, print_poll_summary, print_team_report
from aispend.demo.alerts import show_alerts
from aispend.demo.simulated.dataset import ANY, Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.digest.alerts import StoredAlertHistory
from aispend.digest.job import DigestPoster
from aispend.digest.weeks import report_week
from aispend.ingest import Poller
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.service import SpendService
from aispend.slack.app import answer
from aispend.slack.commands import parse_command
from aispend.slack.home import home_view
from aispend.spend.export import project_json
from aispend.spend.visibility import Audience
from aispend.store.engine import open_store
from aispend.terminal import render_blocks

DEMO_ADMIN = "U0ADMIN001"
COMMANDS = ("project search", "projects", "credits", "models", "routes", "unattributed", "health")


def _budget(dataset: Dataset, now: datetime, project_id: str, key_name: str, factor: str) -> Decimal:
    """A budget of ``factor`` × the month's projected spend, so the demo shows every pace status."""
    first = month_start(now.date())
    end = now.date() + timedelta(days=1)
    spent = dataset.openai_cost_total(first, end, project_id=project_id, api_key_id=ANY)
    spent += dataset.openrouter_usage_total(first, end, key_hash=dataset.openrouter_key(key_name).hash)
    elapsed = Decimal(now.day)
    days = Decimal((next_month(first) - first).days)
    projected = spent / elapsed * days
    return max(Decimal(10), (projected * Decimal(factor)).quantize(Decimal(10), rounding=ROUND_CEILING))


def demo_config(dataset: Dataset, now: datetime) -> Config:
    """A team config over the simulated org; some spend is left unattributed on purpose."""
    ids = {p.name: p.id for p in dataset.openai_projects}
    data: dict[str, Any] = {
        "timezone": "Europe/Berlin",
        "alert_channel": "C0ALERTS01",
        "digest": {"channel": "C0ALERTS01", "weekday": "mon", "time": "09:00"},
        "backfill_days": 60,
        "openrouter": {"low_credit_usd": 50, "low_runway_days": 7},
        "projects": [
            {
                "name": "search",
                "owner": "U0SEARCH01",
                "channel": "C0SEARCH01",
                "monthly_budget_usd": _budget(dataset, now, ids["search"], "search-prod", "1.25"),
                "openai_projects": ["search"],  # by name, resolved through /organization/projects
                "openrouter_keys": ["search-prod"],
            },
            {
                "name": "support-bot",
                "owner": "U0SUPPORT1",
                "monthly_budget_usd": _budget(dataset, now, ids["support-bot"], "support-prod", "0.95"),
                "visibility": "owner",
                "openai_projects": [ids["support-bot"]],  # by id
                "openrouter_keys": ["support-prod"],
            },
            {
                "name": "data-pipeline",
                "owner": "S0DATAENG1",
                "monthly_budget_usd": _budget(dataset, now, ids["data-pipeline"], "eval-batch", "0.7"),
                "openai_projects": ["data-pipeline"],
                "openrouter_keys": ["eval-batch"],
            },
            {
                "name": "research",
                "owner": "U0ALICE001",
                "openai_api_keys": ["alice-dev"],  # one key of the shared playground project
            },
        ],
        "admins": [DEMO_ADMIN],
    }
    return parse_config(data, source="demo config")


def _slack(console: Console, title: str, text: str, blocks: list[dict[str, Any]]) -> None:
    body = render_blocks(blocks) if blocks else text
    console.print(Panel(body, title=title, title_align="left", border_style="cyan"), markup=False)


def show_digest(
    out: Console, engine: Engine, service: SpendService, config: Config, now: datetime
) -> Path | None:
    """The weekly digest of the last complete ISO week as Slack shows it, and its chart on disk
    (kept after the demo, so it can be opened)."""
    week = report_week(now)
    poster = DigestPoster(engine, service, None, config, alerts=StoredAlertHistory(engine))
    rendered = poster.render(week, now)
    out.print(f"\n6) the weekly digest of {week} (posted once per ISO week to `digest.channel`):")
    _slack(out, f"weekly digest · {week}", rendered.message.text, rendered.message.blocks)
    if rendered.chart is None:
        return None
    path = Path(tempfile.gettempdir()) / f"aispend-demo-digest-{week.label}.png"
    path.write_bytes(rendered.chart)
    out.print(f"the digest chart (uploaded with the message in Slack) is written to {path}")
    return path


def run_demo(*, keep: bool = False, console: Console | None = None, now: datetime | None = None) -> int:
    out = console or Console(highlight=False, width=None if Console().is_terminal else 110)
    started = time.monotonic()
    now = now or utcnow()
    dataset = Dataset.generate(now.date())
    yesterday = now - timedelta(days=1)
    spent_today = dataset.openrouter_usage_total(now.date(), now.date() + timedelta(days=1))
    final_credits = dataset.openrouter_credits
    workdir = Path(tempfile.mkdtemp(prefix="aispend-demo-"))
    database = workdir / "aispend.db"
    out.rule("[bold]aispend demo[/]: simulated OpenAI + OpenRouter, temporary SQLite, Slack in the terminal")
    with SimulatedProviders(dataset) as providers:
        config = demo_config(dataset, now)
        engine = open_store(f"sqlite:///{database}")
        openai = OpenAIClient(providers.openai.admin_key, providers.openai.base_url)
        openrouter = OpenRouterClient(providers.openrouter.management_key, providers.openrouter.base_url)
        # The real clients must wait out a rate limit on the very first request.
        providers.openai.faults.add("/organization/costs", 429, headers={"Retry-After": "1"}, times=1)

        clock = [yesterday]
        poller = Poller(
            engine,
            openai=openai,
            openrouter=openrouter,
            backfill_days=config.backfill_days,
            clock=lambda: clock[0],
            secrets=(providers.openai.admin_key, providers.openrouter.management_key),
        )
        # Yesterday's poll saw the balance before today's spend.
        dataset.openrouter_credits = replace(
            final_credits, total_usage=final_credits.total_usage - spent_today
        )
        out.print(
            f"1) first poll, as of {yesterday:%Y-%m-%d %H:%M} UTC (backfills {config.backfill_days} days):"
        )
        print_poll_summary(poller.poll(), out)
        dataset.openrouter_credits = final_credits
        clock[0] = now
        out.print(
            f"\n2) the next day's poll, as of {now:%Y-%m-%d %H:%M} UTC (re-polled windows never double):"
        )
        print_poll_summary(poller.poll(), out)
        out.print(
            f"requests served: OpenAI {providers.openai.count()}, OpenRouter {providers.openrouter.count()} "
            f"(including {providers.openai.count(status=429)} answered 429 + Retry-After)"
        )
        openai.close()
        openrouter.close()

    service = SpendService(engine, config)
    out.print()
    print_team_report(service.team_report(now), out)
    print_movers(service.movers(now), out)
    out.print("\n3) what Slack shows (as the admin who types the command):")
    for text in COMMANDS:
        reply = answer(service, parse_command(text), DEMO_ADMIN, now).message
        _slack(out, f"/aispend {text}", reply.text, reply.blocks)
    view = home_view(
        config=config,
        month=service.team_report(now, audience=Audience.user(DEMO_ADMIN)),
        runway=service.runway(now, audience=Audience.user(DEMO_ADMIN)),
        user_id=DEMO_ADMIN,
        last_poll_at=now,
    )
    _slack(out, "App Home", "", view["blocks"])
    out.print("\n4) `aispend spend search --json`:")
    report = service.project_report("search", now)
    assert report is not None
    out.print(json.dumps(project_json(report), indent=None)[:600] + " …", markup=False, soft_wrap=True)
    show_alerts(out, engine, config, now, DEMO_ADMIN)
    show_digest(out, engine, service, config, now)
    engine.dispose()
    elapsed = time.monotonic() - started
    if keep:
        out.print(f"\nstore kept at {database} (DATABASE_URL=sqlite:///{database})")
    else:
        for path in workdir.iterdir():
            path.unlink()
        workdir.rmdir()
    out.print(f"\ndemo finished in {elapsed:.1f} s, with no network, no keys and no Slack.")
    return 0
