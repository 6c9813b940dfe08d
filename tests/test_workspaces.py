"""OpenRouter workspaces: every workspace's keys are polled, so projects + unattributed equal the
account's total again, and the credit runway burns at the account-wide rate from the first poll.

The simulated account has two workspaces (``Default Workspace`` and ``Research``); a plain
``/keys`` listing shows only the first one's keys. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from aispend.config import Config, parse_config
from aispend.demo.simulated.dataset import DEFAULT_WORKSPACE, RESEARCH_WORKSPACE, Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.ingest import Poller
from aispend.providers.openrouter import OpenRouterClient
from aispend.service import SpendService
from aispend.slack.app import answer
from aispend.slack.commands import parse_command
from aispend.spend.model import SpendLine
from aispend.spend.runway import burn_7d
from aispend.store import reads
from aispend.store.engine import session_scope

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MONTH = date(2026, 11, 1)
END = NOW.date() + timedelta(days=1)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.generate(NOW.date())


@pytest.fixture
def providers(dataset: Dataset) -> Iterator[SimulatedProviders]:
    with SimulatedProviders(dataset) as running:
        yield running


def poll_openrouter(engine: Engine, providers: SimulatedProviders) -> None:
    client = OpenRouterClient(
        providers.openrouter.management_key, providers.openrouter.base_url, sleep=lambda _: None
    )
    Poller(engine, openai=None, openrouter=client, clock=lambda: NOW).poll()


def config(*extra: dict[str, object]) -> Config:
    """Every default-workspace key is claimed by name; the Research workspace's keys are not."""
    return parse_config(
        {
            "projects": [
                {"name": "search", "openrouter_keys": ["search-prod"]},
                {"name": "support", "openrouter_keys": ["support-prod"]},
                {"name": "pipeline", "openrouter_keys": ["eval-batch", "labeling-2025"]},
                *extra,
            ]
        }
    )


def usage(dataset: Dataset, workspace_id: str | None = None) -> Decimal:
    keys = [k.hash for k in dataset.openrouter_keys if workspace_id in (None, k.workspace_id)]
    return sum((dataset.openrouter_usage_total(MONTH, END, key_hash=h) for h in keys), Decimal(0))


def test_every_workspace_is_polled_and_its_keys_remember_it(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    poll_openrouter(engine, providers)
    with session_scope(engine) as session:
        stored = {k.hash: k.workspace_id for k in reads.openrouter_keys(session)}
        names = reads.openrouter_workspaces(session)
    assert stored == {k.hash: k.workspace_id for k in dataset.openrouter_keys}
    assert names == {DEFAULT_WORKSPACE.id: DEFAULT_WORKSPACE.name, RESEARCH_WORKSPACE.id: "Research"}
    listed = [r.query.get("workspace_id") for r in providers.openrouter.requests if r.path == "/keys"]
    assert sorted(w[0] for w in listed if w) == sorted([DEFAULT_WORKSPACE.id, RESEARCH_WORKSPACE.id])
    research = {k.hash for k in dataset.openrouter_keys if k.workspace_id == RESEARCH_WORKSPACE.id}
    fetched = {r.query["api_key_hash"][0] for r in providers.openrouter.requests if r.path == "/activity"}
    assert research & {k.hash for k in dataset.openrouter_keys if k.usage > 0} <= fetched


def test_unattributed_is_exactly_the_second_workspace_and_the_sum_is_the_account(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    poll_openrouter(engine, providers)
    report = SpendService(engine, config(), providers=("openrouter",)).team_report(NOW)
    second = usage(dataset, RESEARCH_WORKSPACE.id)
    assert second > 0
    assert report.unattributed.by_provider["openrouter"] == second
    projects = sum((p.by_provider["openrouter"] for p in report.projects), Decimal(0))
    assert projects + report.unattributed.by_provider["openrouter"] == usage(dataset)
    assert report.provider_totals["openrouter"] == usage(dataset)
    # Each unclaimed key says where it lives, so whoever fixes the config can find it.
    assert report.unattributed.refs and {r.workspace for r in report.unattributed.refs} == {"Research"}
    service = SpendService(engine, config(), providers=("openrouter",))
    text = json.dumps(answer(service, parse_command("unattributed"), "U1", NOW).message.blocks)
    assert "in workspace *Research*" in text


def test_keys_match_by_name_across_workspaces(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    poll_openrouter(engine, providers)
    service = SpendService(
        engine, config({"name": "staging", "openrouter_keys": ["Staging-BYOK"]}), providers=("openrouter",)
    )
    report = service.team_report(NOW)
    staging = dataset.openrouter_key("staging-byok")
    claimed = next(p for p in report.projects if p.project == "staging")
    assert claimed.total == dataset.openrouter_usage_total(MONTH, END, key_hash=staging.hash) > 0
    unnamed = dataset.openrouter_key("unnamed-dev")
    assert [r.ref for r in report.unattributed.refs] == [unnamed.hash]


def test_the_runway_burns_at_the_account_rate_on_day_one(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    poll_openrouter(engine, providers)  # the first poll: one credit snapshot, no 24 h rate yet
    runway = SpendService(engine, config(), providers=("openrouter",)).runway(NOW)

    def lines(workspace_id: str | None) -> list[SpendLine]:
        keys = {k.hash for k in dataset.openrouter_keys if workspace_id in (None, k.workspace_id)}
        return [
            SpendLine(provider="openrouter", day=r.day, amount=r.usage, key_ref=r.key_hash)
            for r in dataset.openrouter_activity
            if r.key_hash in keys
        ]

    account, _days = burn_7d(lines(None), NOW)
    default_only, _ = burn_7d(lines(DEFAULT_WORKSPACE.id), NOW)
    assert runway.burn_24h is None and runway.basis == "7d"
    assert runway.burn_7d == account != default_only
    assert runway.burn_per_day == account


def test_byok_shows_in_routes_and_credits_and_stays_out_of_the_runway(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    poll_openrouter(engine, providers)
    service = SpendService(engine, config(), providers=("openrouter",))
    today = NOW.date()
    week = [r for r in dataset.openrouter_activity if today - timedelta(days=7) <= r.day < today]
    byok = sum((r.byok_usage for r in week), Decimal(0))
    assert byok > 0
    runway = service.runway(NOW)
    assert runway.byok_7d == byok / 7
    assert runway.burn_7d == sum((r.usage for r in week), Decimal(0)) / 7  # credits only
    credits = json.dumps(answer(service, parse_command("credits"), "U1", NOW).message.blocks)
    assert "*BYOK*" in credits and "not in the burn or the runway" in credits
    routes = service.routes(NOW)
    byok_routes = [r for r in routes.routes if r.byok_usd > 0]
    assert byok_routes and sum((r.byok_usd for r in routes.routes), Decimal(0)) == sum(
        (r.byok_usage for r in dataset.openrouter_activity if routes.start <= r.day <= routes.end), Decimal(0)
    )
    text = json.dumps(answer(service, parse_command("routes"), "U1", NOW).message.blocks)
    assert "BYOK `" in text and "not drawn from OpenRouter credits" in text
