"""Tokens and unit costs per model and project equal the simulated dataset's sums.

Money comes from the billing figures, tokens from the usage endpoints; the unit costs divide the
one by the other. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from aispend.config import Config, parse_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.ingest import Poller
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.service import SpendService
from aispend.slack.app import answer
from aispend.slack.commands import parse_command
from aispend.spend.export import project_json
from aispend.spend.mix import weeks
from aispend.store.engine import session_scope
from aispend.store.models import OpenAIUsageDaily

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MONTH = date(2026, 11, 1)
END = NOW.date() + timedelta(days=1)
ADMIN = "UADMIN"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.generate(NOW.date())


@pytest.fixture
def service(engine: Engine, dataset: Dataset) -> Iterator[SpendService]:
    no_wait = lambda _seconds: None  # noqa: E731
    with SimulatedProviders(dataset) as providers:
        Poller(
            engine,
            openai=OpenAIClient(providers.openai.admin_key, providers.openai.base_url, sleep=no_wait),
            openrouter=OpenRouterClient(
                providers.openrouter.management_key, providers.openrouter.base_url, sleep=no_wait
            ),
            clock=lambda: NOW,
        ).poll()
    yield SpendService(engine, config())


def config() -> Config:
    return parse_config(
        {
            "admins": [ADMIN],
            "projects": [
                {"name": "search", "openai_projects": ["search"], "openrouter_keys": ["search-prod"]}
            ],
        }
    )


def test_tokens_per_model_equal_the_dataset_cached_and_reasoning_included(
    service: SpendService, dataset: Dataset
) -> None:
    report = service.project_report("search", NOW)
    assert report is not None
    search = next(p.id for p in dataset.openai_projects if p.name == "search")
    key = dataset.openrouter_key("search-prod").hash
    units = {(u.provider, u.model): u for u in report.units}
    openai_models = {u.model for u in dataset.openai_usage if u.project_id == search}
    assert openai_models
    for model in openai_models:
        truth = dataset.openai_usage_totals(MONTH, END, project_id=search, model=model)
        found = units[("openai", model)]
        assert (found.input_tokens, found.cached_input_tokens, found.output_tokens, found.requests) == truth
        assert found.reasoning_tokens is None  # the OpenAI usage API has no such figure
    # /activity covers completed UTC days only.
    rows = [r for r in dataset.openrouter_activity if r.key_hash == key and MONTH <= r.day < NOW.date()]
    for model in {r.model for r in rows}:
        mine = [r for r in rows if r.model == model]
        found = units[("openrouter", model)]
        assert found.input_tokens == sum(r.prompt_tokens for r in mine)
        assert found.output_tokens == sum(r.completion_tokens for r in mine)
        assert found.reasoning_tokens == sum(r.reasoning_tokens for r in mine)
        assert found.requests == sum(r.requests for r in mine)
        assert found.cached_input_tokens is None  # /activity does not report it
    assert any(u.reasoning_tokens for u in report.units)
    # Unit costs divide billed dollars by counted usage; nothing priced.
    top = report.units[0]
    money = next(m.usd for m in report.by_model if (m.provider, m.model) == (top.provider, top.model))
    assert top.usd == money and top.usd_per_request == money / top.requests
    assert top.usd_per_million_tokens == money * 1_000_000 / (top.input_tokens + top.output_tokens)
    totals = report.unit_totals
    assert totals is not None and totals.usd == report.total
    assert totals.requests == sum(u.requests for u in report.units)
    oa = dataset.openai_usage_totals(MONTH, END, project_id=search)
    assert totals.cached_input_tokens == oa.cached_tokens
    assert totals.cached_share == (Decimal(oa.cached_tokens) * 100 / oa.input_tokens).quantize(Decimal("0.1"))


def test_tokens_show_in_json_slack_project_and_models(service: SpendService) -> None:
    report = service.project_report("search", NOW)
    assert report is not None
    body = json.loads(json.dumps(project_json(report)))
    assert body["tokens"]["requests"] == report.unit_totals.requests  # type: ignore[union-attr]
    first = body["by_model"][0]
    assert {"input_tokens", "cached_input_tokens", "output_tokens", "reasoning_tokens"} <= set(first)
    assert Decimal(first["usd_per_request"]) > 0 and isinstance(first["requests"], int)
    project = json.dumps(answer(service, parse_command("project search"), ADMIN, NOW).message.blocks)
    assert "*Tokens*" in project and "/request" in project and "/1M tokens" in project
    models = json.dumps(answer(service, parse_command("models search"), ADMIN, NOW).message.blocks)
    assert "This month per model" in models and "cached" in models and "reasoning" in models
    team = json.dumps(answer(service, parse_command("models"), ADMIN, NOW).message.blocks)
    assert "This month per model" in team


def test_openai_usage_is_stored_by_batch_and_tier_and_the_mix_shows_the_batch_share(
    engine: Engine, service: SpendService, dataset: Dataset
) -> None:
    with session_scope(engine) as session:
        stored = {(r.batch, r.service_tier) for r in session.execute(select(OpenAIUsageDaily)).scalars()}
    assert ("true", "default") in stored and ("false", "default") in stored
    assert ("", "") in stored  # embeddings have no such grouping
    config = parse_config(
        {"admins": [ADMIN], "projects": [{"name": "pipeline", "openai_projects": ["data-pipeline"]}]}
    )
    pipeline = next(p.id for p in dataset.openai_projects if p.name == "data-pipeline")
    wk = weeks(NOW)
    rows = [
        u
        for u in dataset.openai_usage
        if u.endpoint == "completions" and u.project_id == pipeline and wk.this_start <= u.day <= wk.this_end
    ]
    batch = sum(u.input_tokens + u.output_tokens for u in rows if u.batch)
    every = sum(u.input_tokens + u.output_tokens for u in rows)
    mix = SpendService(engine, config).mix(NOW, "pipeline")
    assert batch > 0 and mix.batch_share == (Decimal(batch) * 100 / every).quantize(Decimal("0.1"))
    text = json.dumps(
        answer(SpendService(engine, config), parse_command("models pipeline"), ADMIN, NOW).message.blocks
    )
    assert f"OpenAI batch share: {mix.batch_share}%" in text
