"""A private project's figures never reach someone who may not see them (issue 10, item 1).

The store is polled from the simulated providers, with one private project (``vault``) added
whose OpenAI project, API key, models, OpenRouter key, model and route are its own. Every
team-wide view is rendered through the real HTTP server and Bolt app, as a stranger, with and
without ``share``, plus the App Home, and the rendered text must hold no private figure: none of
the project's amounts, none of the team totals that include them, none of the names only it uses.
The owner and an admin, asking privately, do see them; a share is computed for the channel
whoever presses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from sqlalchemy import Engine

from aispend.config import Config, parse_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.ingest import Poller
from aispend.metrics import Metrics
from aispend.money import fmt_usd
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.records import OpenAIApiKey, OpenAICost, OpenAIProject, OpenRouterActivity, OpenRouterKey
from aispend.service import SpendService
from aispend.slack.app import build_app
from aispend.slack.blocks import fmt_unit_usd
from aispend.slack.client import make_web_client
from aispend.slack.web import create_web_app
from aispend.spend.visibility import OPERATOR, Audience
from aispend.store.engine import open_store
from tests.fakes.asgi_server import serve_in_thread
from tests.fakes.fake_slack import FakeSlack
from tests.slack.conftest import NOW, SECRET, command_body, home_opened_body, joined, signed_headers

OWNER = "U0VAULTOWNER"
ADMIN = "U0ADMIN"
STRANGER = "U0STRANGER"
PUBLIC_OWNER = "U0SEARCHOWNER"

# Everything only the private project uses: none of it may reach a stranger.
PRIVATE_OPENAI_PROJECT = OpenAIProject("proj_VAULTvaultVAULTvault0001", "hush-lab", "active")
PRIVATE_OPENAI_KEY = OpenAIApiKey("key_VAULTvaultVAULTvault0001", PRIVATE_OPENAI_PROJECT.id, "hush-key")
PRIVATE_OPENAI_MODEL = "hush-omega-7"
PRIVATE_ROUTER_KEY = "hush-router"
PRIVATE_ROUTER_HASH = "0b5e" + "f00d" * 15
PRIVATE_ROUTER_MODEL = "hushlab/omega-whisper"
PRIVATE_ROUTE = "HushCloud"
PRIVATE_NAMES = (
    PRIVATE_OPENAI_PROJECT.id,
    "hush-lab",
    PRIVATE_OPENAI_KEY.id,
    "hush-key",
    PRIVATE_OPENAI_MODEL,
    PRIVATE_ROUTER_KEY,
    PRIVATE_ROUTER_HASH,
    PRIVATE_ROUTER_MODEL,
    PRIVATE_ROUTE,
)

CONFIG = {
    "timezone": "Europe/Berlin",
    "projects": [
        {
            "name": "search",
            "owner": PUBLIC_OWNER,
            "monthly_budget_usd": 2000,
            "openai_projects": ["search"],
            "openrouter_keys": ["search-prod"],
        },
        {
            "name": "vault",
            "owner": OWNER,
            "visibility": "owner",
            "monthly_budget_usd": 900,
            "openai_projects": ["hush-lab"],
            "openrouter_keys": [PRIVATE_ROUTER_KEY],
        },
        {"name": "labs", "owner": "U0LABS", "openrouter_keys": ["eval-batch"]},
    ],
    "admins": [ADMIN],
}

# Every slash command, each as typed with and without `share`.
COMMANDS = (
    "help",
    "project search",
    "project vault",
    "vault",
    "projects",
    "credits",
    "models",
    "models search",
    "models vault",
    "routes",
    "unattributed",
    "health",
)


def _with_private_project(base: Dataset) -> Dataset:
    """``base`` plus the private project's own OpenAI and OpenRouter spend over 25 past days."""
    today = base.today
    days = [today - timedelta(days=n) for n in range(1, 26)]
    project_id, key_id = PRIVATE_OPENAI_PROJECT.id, PRIVATE_OPENAI_KEY.id
    items = (
        (f"{PRIVATE_OPENAI_MODEL}, input", Decimal("2.723200001")),
        (f"{PRIVATE_OPENAI_MODEL}, output", Decimal("0.917000003")),
        # A model public projects use too: its visible figure must not include this.
        ("gpt-4o-2024-08-06, input", Decimal("3.1")),
    )
    costs = [OpenAICost(day, project_id, key_id, item, amount) for day in days for item, amount in items]
    activity = [
        OpenRouterActivity(
            day, PRIVATE_ROUTER_HASH, PRIVATE_ROUTER_MODEL, PRIVATE_ROUTE,
            Decimal("1.234567891"), Decimal(0), 17, 40_000, 9_000, 0,
        )
        for day in days
        if (today - day).days <= 20  # /activity serves 30 completed days
    ]  # fmt: skip
    key = OpenRouterKey(
        hash=PRIVATE_ROUTER_HASH,
        name=PRIVATE_ROUTER_KEY,
        label=PRIVATE_ROUTER_KEY,
        disabled=False,
        limit=Decimal("77.77"),
        limit_remaining=Decimal("4.44"),  # under 10 % left: listed among the keys near their cap
        limit_reset=None,
        usage=sum((row.usage for row in activity), Decimal(0)),
        usage_daily=Decimal(0),
        usage_weekly=Decimal(0),
        usage_monthly=Decimal(0),
        byok_usage=Decimal(0),
    )
    return Dataset(
        today=base.today,
        as_of=base.as_of,
        openai_projects=[*base.openai_projects, PRIVATE_OPENAI_PROJECT],
        openai_api_keys=[*base.openai_api_keys, PRIVATE_OPENAI_KEY],
        openai_costs=[*base.openai_costs, *costs],
        openai_usage=base.openai_usage,
        openrouter_keys=[*base.openrouter_keys, key],
        openrouter_activity=[*base.openrouter_activity, *activity],
        openrouter_credits=base.openrouter_credits,
        openrouter_workspaces=base.openrouter_workspaces,
        first_day=base.first_day,
    )


def poll(engine: Engine, dataset: Dataset) -> None:
    with SimulatedProviders(dataset) as providers:
        summary = Poller(
            engine,
            openai=OpenAIClient(providers.openai.admin_key, providers.openai.base_url),
            openrouter=OpenRouterClient(providers.openrouter.management_key, providers.openrouter.base_url),
            clock=lambda: NOW,
        ).poll()
    assert summary.ok, summary.errors


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return _with_private_project(Dataset.generate(NOW.date()))


@pytest.fixture(scope="module")
def config() -> Config:
    return parse_config(CONFIG)


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, dataset: Dataset, config: Config
) -> Iterator[SpendService]:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('hostile') / 'store.db'}")
    poll(engine, dataset)
    yield SpendService(engine, config)
    engine.dispose()


def _amounts(values: Any) -> set[str]:
    return {fmt_usd(v) for v in values if v}


def private_figures(service: SpendService) -> set[str]:
    """Every figure a stranger must not see: the private project's own amounts, and each team
    figure that includes them (a stranger could subtract the public ones from it)."""
    vault = service.project_report("vault", NOW)
    assert vault is not None and vault.total > 0
    mix = service.mix(NOW, audience=OPERATOR)
    vault_mix = service.mix(NOW, "vault", audience=OPERATOR)
    routes = service.routes(NOW, audience=OPERATOR)
    month = service.team_report(NOW, audience=OPERATOR)
    runway = service.runway(NOW, audience=OPERATOR)
    figures = _amounts([vault.total, *vault.by_provider.values(), *(m.usd for m in vault.by_model)])
    figures |= _amounts([*(d.usd for d in vault.by_billed_item), vault.pace.forecast or 0])
    figures |= _amounts([mix.this_week, mix.last_week, month.total, *month.provider_totals.values()])
    figures |= _amounts(x for m in vault_mix.models for x in (m.this_week, m.last_week))
    figures |= _amounts(r.usd for r in routes.routes if r.provider_name == PRIVATE_ROUTE)
    figures |= _amounts(
        x for k in runway.low_keys if k.key_hash == PRIVATE_ROUTER_HASH for x in (k.limit, k.limit_remaining)
    )
    # Shared models: the team-wide amount with the private spend in it.
    public_mix = {
        (m.provider, m.model): m.this_week for m in service.mix(NOW, audience=Audience.channel()).models
    }
    figures |= _amounts(
        m.this_week for m in mix.models if public_mix.get((m.provider, m.model)) != m.this_week
    )
    # Per-model unit costs: the team-wide ones divide private dollars too.
    shown_units = set(service.team_report(NOW, audience=Audience.channel()).units)
    for units in month.units:
        if units not in shown_units:
            figures |= {fmt_unit_usd(v) for v in (units.usd_per_request, units.usd_per_million_tokens) if v}
    assert "$68.08" in figures  # the private OpenAI model's input this month, as in the issue
    return figures


@dataclass
class Slack:
    http: httpx.Client
    fake: FakeSlack

    def command(self, text: str, user: str) -> tuple[str, str | None]:
        """(what the user sees, what is posted in the channel if anything)."""
        self.fake.reset()
        body = command_body(text, user=user, response_url=self.fake.response_url("share"))
        response = self.http.post("/slack/events", content=body, headers=signed_headers(body))
        assert response.status_code == 200, response.text
        private = joined(response.json())
        posted = None
        if "Posted in the channel" in private:
            (shared,) = self.fake.wait_for("/response/share")
            assert shared.data["response_type"] == "in_channel"
            posted = joined(shared.data)
        return private, posted

    def home(self, user: str) -> str:
        self.fake.reset()
        body = home_opened_body(user)
        response = self.http.post("/slack/events", content=body, headers=signed_headers(body, json_body=True))
        assert response.status_code == 200
        (published,) = self.fake.wait_for("/api/views.publish")
        assert published.data["user_id"] == user
        return joined(published.data["view"]["blocks"])


@pytest.fixture(scope="module")
def slack(service: SpendService) -> Iterator[Slack]:
    fake = FakeSlack().start()
    metrics = Metrics()
    client: WebClient = make_web_client("xoxb-test", fake.api_url)
    app = build_app(reader=service, client=client, signing_secret=SECRET, clock=lambda: NOW, metrics=metrics)
    asgi = create_web_app(
        app, signing_secret=SECRET, health=lambda: service.health(NOW), metrics=metrics, clock=lambda: NOW
    )
    with serve_in_thread(asgi) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Slack(http, fake)
    fake.stop()


def leaks(text: str, figures: set[str]) -> list[str]:
    """Private amounts and names found in ``text`` (amounts as whole tokens: ``$68.08`` does not
    match inside ``$168.08``)."""
    found = [name for name in PRIVATE_NAMES if name.lower() in text.lower()]
    found += [f for f in figures if re.search(r"(?<![\d,.])" + re.escape(f) + r"(?![\d])", text)]
    return found


def test_a_stranger_sees_no_private_figure_in_any_view(slack: Slack, service: SpendService) -> None:
    figures = private_figures(service)
    rendered: dict[str, str] = {}
    for command in COMMANDS:
        for text in (command, f"{command} share"):
            private, posted = slack.command(text, STRANGER)
            rendered[text] = private
            if posted is not None:
                rendered[f"{text} (posted)"] = posted
    rendered["App Home"] = slack.home(STRANGER)
    found = {view: leaks(text, figures) for view, text in rendered.items()}
    assert {view: hits for view, hits in found.items() if hits} == {}
    # The views are not empty: the stranger sees the public figures and is told what is left out.
    for view in ("models", "routes", "projects", "credits", "App Home"):
        assert "$" in rendered[view] and ":lock:" in rendered[view], view
    assert "vault* is visible only to its owner" in rendered["project vault"]
    assert "It holds what every member may see" in rendered["models share"]
    assert "Shared in the channel" in rendered["models share (posted)"]


def test_a_share_is_computed_for_the_channel_whoever_presses_it(slack: Slack, service: SpendService) -> None:
    figures = private_figures(service)
    for user in (OWNER, ADMIN):
        for command in (
            "projects",
            "models",
            "routes",
            "credits",
            "unattributed",
            "project vault",
            "models vault",
        ):
            private, posted = slack.command(f"{command} share", user)
            if posted is None:  # the private project itself: answered to the asker alone
                assert command in ("project vault", "models vault") and "won't post it" in private
                continue
            assert leaks(posted, figures) == [], (user, command)


def test_the_owner_and_an_admin_see_the_private_figures(slack: Slack, service: SpendService) -> None:
    vault = service.project_report("vault", NOW)
    assert vault is not None
    team = service.team_report(NOW, audience=OPERATOR)
    for user in (OWNER, ADMIN):
        models, _ = slack.command("models", user)
        routes, _ = slack.command("routes", user)
        credits, _ = slack.command("credits", user)
        projects, _ = slack.command("projects", user)
        assert PRIVATE_OPENAI_MODEL in models and PRIVATE_ROUTER_MODEL in models
        assert PRIVATE_ROUTE in routes and PRIVATE_ROUTER_KEY in credits
        assert fmt_usd(vault.total) in projects and ":lock:" not in projects
        assert fmt_usd(team.total) in projects  # nothing hidden, so the team total is shown
        assert fmt_usd(vault.total) in slack.command("project vault", user)[0]
    assert fmt_usd(team.total) in slack.home(ADMIN)
    assert "*vault*" in slack.home(OWNER)


def test_stranger_figures_are_the_public_ones_exactly(service: SpendService, dataset: Dataset) -> None:
    """What a stranger sees adds up to the team's figures minus the private project's, exactly."""
    stranger = Audience.user(STRANGER)
    team = service.team_report(NOW, audience=OPERATOR)
    shown = service.team_report(NOW, audience=stranger)
    vault = service.project_report("vault", NOW)
    assert vault is not None
    assert shown.hidden == ("vault",) and shown.total == team.total - vault.total
    assert {
        p: team.provider_totals[p] - vault.by_provider[p] for p in team.provider_totals
    } == shown.provider_totals
    mix, everything = service.mix(NOW, audience=stranger), service.mix(NOW, audience=OPERATOR)
    vault_mix = service.mix(NOW, "vault", audience=OPERATOR)
    assert mix.hidden_spend and not everything.hidden_spend
    assert (mix.this_week, mix.last_week) == (
        everything.this_week - vault_mix.this_week,
        everything.last_week - vault_mix.last_week,
    )
    first = service.routes(NOW, audience=OPERATOR).start
    private_route = dataset.openrouter_usage_total(
        first, first + timedelta(days=7), key_hash=PRIVATE_ROUTER_HASH, provider_name=PRIVATE_ROUTE
    )
    routes, all_routes = service.routes(NOW, audience=stranger), service.routes(NOW, audience=OPERATOR)
    assert routes.hidden_spend and private_route > 0
    assert sum(r.usd for r in routes.routes) == sum(r.usd for r in all_routes.routes) - private_route
    keys = {k.key_hash for k in service.runway(NOW, audience=stranger).low_keys}
    assert PRIVATE_ROUTER_HASH in {k.key_hash for k in service.runway(NOW, audience=OPERATOR).low_keys}
    assert PRIVATE_ROUTER_HASH not in keys and service.runway(NOW, audience=stranger).keys_hidden


def test_routes_per_key_on_each_database(engine: Engine, dataset: Dataset, config: Config) -> None:
    """The per-key route read (what lets routes leave keys out) sums the same on both databases."""
    poll(engine, dataset)
    service = SpendService(engine, config)
    report = service.routes(NOW, audience=Audience.user(STRANGER))
    first, end = report.start, report.end + timedelta(days=1)
    vault_hash = PRIVATE_ROUTER_HASH
    expected = dataset.openrouter_usage_total(first, end) - dataset.openrouter_usage_total(
        first, end, key_hash=vault_hash
    )
    assert sum(r.usd for r in report.routes) == expected and report.hidden_spend
    assert PRIVATE_ROUTE not in {r.provider_name for r in report.routes}
    assert PRIVATE_ROUTE in {
        r.provider_name for r in service.routes(NOW, audience=Audience.user(OWNER)).routes
    }
