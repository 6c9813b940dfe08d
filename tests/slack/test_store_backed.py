"""The Slack end-to-end tests again, against the real ``SpendService`` over a seeded store.

The store is seeded the production way (a poll of the simulated providers), so a figure in a
Slack answer is traced back to the dataset the fake providers served, not to a stub.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from aispend.clock import month_start
from aispend.config import parse_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.ingest import Poller
from aispend.money import fmt_usd
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.reader import SpendReader
from aispend.service import SpendService
from aispend.store.engine import open_store
from tests.slack.conftest import ADMIN, ATLAS_OWNER, GROUP, NOW, OWNER, Server, joined
from tests.slack.test_http import (
    post_command,
    test_each_command_answers_with_the_right_figures,
    test_home_opened_publishes_the_viewers_projects,
    test_share_reaches_the_response_url,
    test_unverified_requests_are_refused,
)

__all__ = [
    "test_each_command_answers_with_the_right_figures",
    "test_home_opened_publishes_the_viewers_projects",
    "test_share_reaches_the_response_url",
    "test_unverified_requests_are_refused",
]

CONFIG = {
    "timezone": "Europe/Berlin",
    "projects": [
        {
            "name": "search",
            "owner": OWNER,
            "monthly_budget_usd": 2000,
            "openai_projects": ["search"],
            "openrouter_keys": ["search-prod"],
        },
        {"name": "atlas", "owner": ATLAS_OWNER, "visibility": "owner", "openai_projects": ["support-bot"]},
        {"name": "billing", "owner": GROUP, "visibility": "owner", "openai_projects": ["data-pipeline"]},
        {"name": "labs", "owner": "U0LABS", "openrouter_keys": ["eval-batch"]},
    ],
    "admins": [ADMIN],
}


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.generate(NOW.date())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, dataset: Dataset) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('slack') / 'store.db'}")
    with SimulatedProviders(dataset) as providers:
        summary = Poller(
            engine,
            openai=OpenAIClient(providers.openai.admin_key, providers.openai.base_url),
            openrouter=OpenRouterClient(providers.openrouter.management_key, providers.openrouter.base_url),
            clock=lambda: NOW,
        ).poll()
    assert summary.ok, summary.errors
    yield engine
    engine.dispose()


@pytest.fixture
def reader(store: Engine) -> SpendReader:
    return SpendService(store, parse_config(CONFIG))


def test_project_answer_matches_what_the_providers_billed(server: Server, dataset: Dataset) -> None:
    first, end = month_start(NOW.date()), NOW.date() + timedelta(days=1)
    search_id = next(p.id for p in dataset.openai_projects if p.name == "search")
    openai = dataset.openai_cost_total(first, end, project_id=search_id)
    openrouter = dataset.openrouter_usage_total(
        first, end, key_hash=dataset.openrouter_key("search-prod").hash
    )
    text = joined(post_command(server, "project search"))
    for amount in (openai + openrouter, openai, openrouter):
        assert fmt_usd(amount) in text


def test_owner_only_project_is_refused_without_figures(server: Server) -> None:
    text = joined(post_command(server, "project atlas", user=OWNER))
    assert "$" not in text
    assert "$" in joined(post_command(server, "project atlas", user=ATLAS_OWNER))
