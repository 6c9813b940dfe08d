"""Unknown is not zero: every answer over a half-configured, refused, empty or stale store.

A 403 admin key, an unconfigured provider, a store that was never polled and one whose polls
stopped: no rendered Slack answer, App Home or JSON shows $0.00 or "on track" for figures it does
not have, and each says which provider is missing and why. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from aispend.config import Config, parse_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.ingest import Poller
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.records import Provider
from aispend.service import SpendService
from aispend.slack.app import answer
from aispend.slack.commands import parse_command
from aispend.slack.home import home_view
from aispend.spend.export import project_json, runway_json, team_json
from tests.demo.simulated.keys import OPENAI_PROJECT_KEY

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
ADMIN = "UADMIN"
COMMANDS = ("project search", "projects", "models", "models search", "credits", "unattributed")


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.generate(NOW.date())


@pytest.fixture
def providers(dataset: Dataset) -> Iterator[SimulatedProviders]:
    with SimulatedProviders(dataset) as running:
        running.openai.project_key = OPENAI_PROJECT_KEY  # accepted, but without the usage scope
        yield running


def config() -> Config:
    return parse_config(
        {
            "admins": [ADMIN],
            "projects": [
                {
                    "name": "search",
                    "openai_projects": ["search"],
                    "openrouter_keys": ["search-prod"],
                    "monthly_budget_usd": 100000,
                },
                {"name": "support", "openai_projects": ["support-bot"], "openrouter_keys": ["support-prod"]},
            ],
        }
    )


def poll(
    engine: Engine,
    providers: SimulatedProviders,
    *,
    openai_key: str | None = None,
    openrouter: bool = True,
    now: datetime = NOW,
) -> None:
    no_wait = lambda _seconds: None  # noqa: E731
    Poller(
        engine,
        openai=OpenAIClient(
            openai_key or providers.openai.admin_key, providers.openai.base_url, sleep=no_wait
        ),
        openrouter=OpenRouterClient(
            providers.openrouter.management_key, providers.openrouter.base_url, sleep=no_wait
        )
        if openrouter
        else None,
        clock=lambda: now,
    ).poll()


def everything(service: SpendService, now: datetime) -> dict[str, Any]:
    """Every answer a user can get, rendered: Slack text and blocks, App Home, JSON."""
    out: dict[str, Any] = {}
    for text in COMMANDS:
        reply = answer(service, parse_command(text), ADMIN, now).message
        out[text] = {"text": reply.text, "blocks": reply.blocks}
    out["home"] = home_view(
        config=service.config,
        month=service.team_report(now),
        runway=service.runway(now),
        user_id=ADMIN,
        last_poll_at=service.last_poll_at(),
    )
    report = service.project_report("search", now)
    assert report is not None
    out["spend search --json"] = project_json(report)
    out["spend --json"] = team_json(service.team_report(now))
    out["credits --json"] = runway_json(service.runway(now))
    return out


def assert_no_false_comfort(rendered: dict[str, Any]) -> str:
    text = json.dumps(rendered)
    assert "$0.00" not in text
    assert "On track" not in text and "on_track" not in text
    return text


def test_a_403_admin_key_and_an_unconfigured_openrouter_show_unknown_not_zero(
    engine: Engine, providers: SimulatedProviders
) -> None:
    poll(engine, providers, openai_key=OPENAI_PROJECT_KEY, openrouter=False)
    service = SpendService(engine, config(), providers=("openai",))
    rendered = everything(service, NOW)
    text = assert_no_false_comfort(rendered)
    assert "no permission" in rendered["project search"]["text"] or "no permission" in json.dumps(
        rendered["project search"]["blocks"]
    )
    project = rendered["spend search --json"]
    assert project["total_usd"] is None
    assert project["by_provider"] == {"openai": None}  # OpenRouter is not configured: absent
    assert project["provider_status"] == {"openai": "no_permission", "openrouter": "not_configured"}
    assert project["pace"] == "no_data" and project["forecast_usd"] is None
    month = rendered["spend --json"]
    assert month["total_usd"] is None and month["by_provider"] == {"openai": None}
    assert month["unattributed"]["openai"] is None and "openrouter" not in month["unattributed"]
    assert rendered["credits --json"]["credits_status"] == "not_configured"
    assert "OpenRouter is not configured" in text
    # Nothing shows an OpenRouter amount.
    assert "OpenRouter $" not in text and "OpenRouter unknown" not in text


def test_an_unconfigured_provider_is_absent_and_the_other_one_is_exact(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    poll(engine, providers, openrouter=False)
    service = SpendService(engine, config(), providers=("openai",))
    report = service.project_report("search", NOW)
    assert report is not None
    body = project_json(report)
    assert set(body["by_provider"]) == {"openai"}
    search_id = next(p.id for p in dataset.openai_projects if p.name == "search")
    truth = dataset.openai_cost_total(date(2026, 11, 1), NOW.date() + timedelta(days=1), project_id=search_id)
    assert report.total == truth and body["pace_left_out"] == []
    reply = answer(service, parse_command("project search"), ADMIN, NOW).message
    assert "OpenRouter" not in json.dumps(reply.blocks)


def test_an_empty_store_says_not_polled_yet(engine: Engine) -> None:
    service = SpendService(engine, config())
    rendered = everything(service, NOW)
    text = assert_no_false_comfort(rendered)
    assert "not polled yet" in text
    assert rendered["spend search --json"]["provider_status"] == {
        "openai": "never_polled",
        "openrouter": "never_polled",
    }
    assert rendered["spend --json"]["by_provider"] == {"openai": None, "openrouter": None}


def test_a_stale_store_says_since_when_and_gives_no_pace(
    engine: Engine, providers: SimulatedProviders
) -> None:
    poll(engine, providers)
    later = NOW + timedelta(hours=20)
    service = SpendService(engine, config())
    fresh = service.project_report("search", NOW + timedelta(minutes=1))
    assert fresh is not None and fresh.known and fresh.pace.status != "no_data"
    rendered = everything(service, later)
    text = assert_no_false_comfort(rendered)
    assert "no successful poll since" in text
    assert rendered["spend search --json"]["provider_status"] == {"openai": "stale", "openrouter": "stale"}
    assert rendered["credits --json"]["stale"] is True


def test_one_provider_missing_leaves_the_pace_to_the_other_and_says_so(
    engine: Engine, providers: SimulatedProviders
) -> None:
    poll(engine, providers, openai_key=OPENAI_PROJECT_KEY)
    service = SpendService(engine, config())
    report = service.project_report("search", NOW)
    assert report is not None
    assert report.known and set(report.by_provider) == {"openrouter"}
    assert report.pace.left_out == ("openai",)
    assert report.total == report.by_provider["openrouter"]
    body = project_json(report)
    assert body["by_provider"]["openai"] is None and body["by_provider"]["openrouter"] is not None
    assert body["pace_left_out"] == ["openai"]
    reply = answer(service, parse_command("project search"), ADMIN, NOW).message
    blocks = json.dumps(reply.blocks)
    assert "OpenAI left out" in blocks and "OpenAI figures unknown: no permission" in blocks
    assert "spent this month on OpenRouter" in blocks
    projects = answer(service, parse_command("projects"), ADMIN, NOW).message
    assert "OpenAI unknown" in json.dumps(projects.blocks)


@pytest.mark.parametrize("configured", [("openai", "openrouter"), ("openrouter",)])
def test_status_is_reported_for_every_provider(
    engine: Engine, providers: SimulatedProviders, configured: tuple[Provider, ...]
) -> None:
    poll(engine, providers)
    status = SpendService(engine, config(), providers=configured).data_status(NOW)
    for provider, data in status.items():
        assert data.state == ("ok" if provider in configured else "not_configured")
