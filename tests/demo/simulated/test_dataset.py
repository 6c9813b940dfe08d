"""The generated dataset is deterministic, realistic in shape, and internally consistent.

Other tests treat it as the exact truth, so its own invariants (amounts exact in nano-dollars,
Usage agreeing with Costs, key counters agreeing with activity) are checked here once.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from aispend.demo.simulated.dataset import ANY, NANO, SCALE_TIER_LINE_ITEM, Dataset
from aispend.money import from_nanos, to_nanos
from aispend.records import OpenAIUsage

TODAY = date(2026, 11, 27)
TOMORROW = TODAY + timedelta(days=1)
LINE_ITEM = re.compile(
    r"^(?:[a-z ]+ \| )?[a-z0-9.\-]+(?:, (?:input|cached input|output|reserved units))?$|file search"
)


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return Dataset.generate(TODAY)


def test_same_seed_same_data_other_seed_other_data(ds: Dataset) -> None:
    again = Dataset.generate(TODAY)
    assert again.openai_costs == ds.openai_costs
    assert again.openai_usage == ds.openai_usage
    assert again.openrouter_keys == ds.openrouter_keys
    assert again.openrouter_activity == ds.openrouter_activity
    assert again.openrouter_credits == ds.openrouter_credits
    other = Dataset.generate(TODAY, seed=8)
    assert other.openai_costs != ds.openai_costs


def test_window_and_clock(ds: Dataset) -> None:
    assert ds.first_day == TODAY - timedelta(days=59)
    assert ds.as_of.isoformat() == "2026-11-27T12:00:00+00:00"
    assert min(c.day for c in ds.openai_costs) == ds.first_day
    assert max(c.day for c in ds.openai_costs) == TODAY
    assert ds.activity_window == (TODAY - timedelta(days=30), TODAY)


def test_openai_projects_and_keys_look_real(ds: Dataset) -> None:
    names = [p.name for p in ds.openai_projects]
    assert names == ["search", "support-bot", "data-pipeline", "playground", "legacy-etl"]
    assert all(re.fullmatch(r"proj_[A-Za-z0-9]{24}", p.id) for p in ds.openai_projects)
    assert {p.name: p.status for p in ds.openai_projects}["legacy-etl"] == "archived"
    per_project: dict[str, int] = defaultdict(int)
    for key in ds.openai_api_keys:
        assert re.fullmatch(r"key_[A-Za-z0-9]{24}", key.id)
        per_project[key.project_id] += 1
    assert sorted(per_project.values()) == [2, 2, 2, 3, 3]


def test_amounts_are_exact_in_nanos_and_look_like_floats(ds: Dataset) -> None:
    amounts = [c.amount for c in ds.openai_costs] + [a.usage for a in ds.openrouter_activity]
    assert all(a > 0 and a == a.quantize(NANO) and from_nanos(to_nanos(a)) == a for a in amounts)
    # Not round list prices: most amounts use (nearly) all nine places.
    assert sum(1 for a in amounts if places(a) >= 7) > len(amounts) * 0.8


def places(amount: Decimal) -> int:
    exponent = amount.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return -exponent


def test_line_items_in_the_real_free_text_form(ds: Dataset) -> None:
    items = {c.line_item for c in ds.openai_costs}
    assert {
        "gpt-4o-2024-08-06, input",
        "gpt-4o-2024-08-06, output",
        "gpt-4o-mini-2024-07-18, cached input",
    } <= items
    assert all(item is not None and LINE_ITEM.search(item) for item in items), items


def test_null_groupings_org_level_and_project_level(ds: Dataset) -> None:
    org = [c for c in ds.openai_costs if c.project_id is None]
    assert (
        org
        and {c.line_item for c in org} == {SCALE_TIER_LINE_ITEM}
        and all(c.api_key_id is None for c in org)
    )
    project_level = [c for c in ds.openai_costs if c.project_id and c.api_key_id is None]
    assert project_level and {c.line_item for c in project_level} == {"assistants api | file search"}
    total = ds.openai_cost_total(ds.first_day, TOMORROW)
    parts = ds.openai_cost_total(ds.first_day, TOMORROW, project_id=None) + sum(
        (ds.openai_cost_total(ds.first_day, TOMORROW, project_id=p.id) for p in ds.openai_projects),
        Decimal(0),
    )
    assert parts == total


def test_quiet_days_and_partial_today(ds: Dataset) -> None:
    ids = {p.name: p.id for p in ds.openai_projects}
    legacy_last = max(c.day for c in ds.openai_costs if c.project_id == ids["legacy-etl"])
    assert legacy_last == TODAY - timedelta(days=20)
    pipeline_days = {c.day for c in ds.openai_costs if c.project_id == ids["data-pipeline"]}
    assert pipeline_days and all(d.weekday() < 5 for d in pipeline_days)
    playground_days = {c.day for c in ds.openai_costs if c.project_id == ids["playground"]}
    assert 10 < len(playground_days) < 50
    week = ds.openai_cost_total(TODAY - timedelta(days=7), TODAY, project_id=ids["search"]) / 7
    today = ds.openai_cost_total(TODAY, TOMORROW, project_id=ids["search"])
    assert 0 < today < week * Decimal("0.75")


def test_usage_agrees_with_cost_quantities(ds: Dataset) -> None:
    quantities: dict[tuple[date, str | None, str | None, str | None], int | None] = {
        (c.day, c.project_id, c.api_key_id, c.line_item): ds.cost_quantity(c) for c in ds.openai_costs
    }
    assert {u.endpoint for u in ds.openai_usage} == {"completions", "embeddings"}
    # Batch and non-batch rows of one grouping add up to what the costs count.
    merged: dict[tuple[object, ...], OpenAIUsage] = {}
    for row in ds.openai_usage:
        group = (row.day, row.endpoint, row.project_id, row.api_key_id, row.model)
        seen = merged.get(group)
        merged[group] = (
            row
            if seen is None
            else replace(
                seen,
                input_tokens=seen.input_tokens + row.input_tokens,
                cached_tokens=seen.cached_tokens + row.cached_tokens,
                output_tokens=seen.output_tokens + row.output_tokens,
                requests=seen.requests + row.requests,
            )
        )
    assert any(u.batch for u in ds.openai_usage) and len(merged) < len(ds.openai_usage)
    for u in merged.values():
        key = (u.day, u.project_id, u.api_key_id)
        if u.endpoint == "embeddings":
            assert quantities[(*key, f"{u.model}, input")] == u.input_tokens
            assert u.cached_tokens == u.output_tokens == 0
            continue
        assert quantities.get((*key, f"{u.model}, input")) == u.input_tokens - u.cached_tokens
        assert quantities.get((*key, f"{u.model}, cached input"), 0) == u.cached_tokens
        assert quantities[(*key, f"{u.model}, output")] == u.output_tokens


def test_openrouter_keys(ds: Dataset) -> None:
    keys = {k.name: k for k in ds.openrouter_keys}
    assert set(keys) == {
        "search-prod",
        "support-prod",
        "eval-batch",
        "unnamed-dev",
        "staging-byok",
        "labeling-2025",
    }
    assert all(re.fullmatch(r"[0-9a-f]{64}", k.hash) for k in ds.openrouter_keys)
    near = keys["support-prod"]
    assert near.limit is not None and near.limit_remaining is not None
    assert 0 < near.limit_remaining < near.limit * Decimal("0.1")
    assert near.limit_remaining == near.limit - near.usage_monthly
    assert keys["eval-batch"].limit_remaining == keys["eval-batch"].limit - keys["eval-batch"].usage  # type: ignore[operator]
    disabled = [k for k in ds.openrouter_keys if k.disabled]
    assert [k.name for k in disabled] == ["labeling-2025"]
    assert max(a.day for a in ds.openrouter_activity if a.key_hash == disabled[0].hash) < TODAY - timedelta(
        days=11
    )
    assert keys["staging-byok"].byok_usage > 0


def test_openrouter_counters_match_activity(ds: Dataset) -> None:
    week_start = TODAY - timedelta(days=TODAY.weekday())
    for key in ds.openrouter_keys:

        def total(since: date, key_hash: str = key.hash) -> Decimal:
            return ds.openrouter_usage_total(since, TOMORROW, key_hash=key_hash)

        assert key.usage_daily == total(TODAY)
        assert key.usage_weekly == total(week_start)
        assert key.usage_monthly == total(TODAY.replace(day=1))
        assert key.usage >= total(ds.first_day)
        assert key.byok_usage == ds.openrouter_usage_total(
            ds.first_day, TOMORROW, key_hash=key.hash, byok=True
        )
    assert ds.openrouter_credits.total_usage == sum((k.usage for k in ds.openrouter_keys), Decimal(0))


def test_openrouter_runway_is_a_few_days(ds: Dataset) -> None:
    burn = ds.openrouter_usage_total(TODAY - timedelta(days=7), TODAY) / 7
    runway = ds.openrouter_credits.balance / burn
    assert 2 < runway < 7
    assert ds.openrouter_credits.total_credits == ds.openrouter_credits.total_credits.to_integral_value()


def test_openrouter_activity_shape(ds: Dataset) -> None:
    providers: dict[str, set[str]] = defaultdict(set)
    for row in ds.openrouter_activity:
        providers[row.model].add(row.provider_name)
        assert 0 <= row.reasoning_tokens <= row.completion_tokens
    assert all(len(p) >= 2 for p in providers.values())
    assert "openai/gpt-4.1" in providers and "Azure" in providers["openai/gpt-4.1"]
    assert any(r.reasoning_tokens for r in ds.openrouter_activity)


def test_truth_filters_any_versus_null(ds: Dataset) -> None:
    scale = ds.openai_cost_total(ds.first_day, TOMORROW, line_item=SCALE_TIER_LINE_ITEM)
    assert ds.openai_cost_total(ds.first_day, TOMORROW, project_id=None, api_key_id=None) == scale
    assert ds.openai_cost_total(ds.first_day, TOMORROW, project_id=ANY) == ds.openai_cost_total(
        ds.first_day, TOMORROW
    )
    assert ds.openai_cost_total(TODAY, TODAY) == 0  # half-open range
    search = ds.openai_projects[0].id
    tokens = ds.openai_usage_totals(TODAY, TOMORROW, project_id=search, endpoint="completions")
    assert tokens.requests > 0 and tokens.input_tokens > tokens.cached_tokens > 0


def test_mutate_openai_cost_is_a_late_correction() -> None:
    ds = Dataset.generate(TODAY, days=5)
    row = ds.costs_on(TODAY - timedelta(days=2))[3]
    before = ds.openai_cost_total(row.day, row.day + timedelta(days=1))
    new = ds.mutate_openai_cost(
        row.day, project_id=row.project_id, api_key_id=row.api_key_id, line_item=row.line_item,
        new_amount=row.amount + Decimal("1.000000001"),
    )  # fmt: skip
    assert new.amount == row.amount + Decimal("1.000000001")
    assert ds.openai_cost_total(row.day, row.day + timedelta(days=1)) == before + Decimal("1.000000001")
    assert len(ds.costs_on(row.day)) == len(Dataset.generate(TODAY, days=5).costs_on(row.day))
    with pytest.raises(ValueError, match="nine decimal places"):
        ds.mutate_openai_cost(
            row.day, project_id=None, api_key_id=None, line_item="x", new_amount=Decimal("1e-10")
        )


def test_sized_dataset_for_benchmarks() -> None:
    started = time.perf_counter()
    big = Dataset.sized(TODAY, days=10)  # the default 60 days take ~2 s; the shape is the same
    elapsed = time.perf_counter() - started
    assert len(big.openai_projects) == 200 and len(big.openrouter_keys) == 100
    items: dict[str | None, set[str | None]] = defaultdict(set)
    for cost in big.costs_on(TODAY - timedelta(days=1)):
        if cost.api_key_id is not None:
            items[cost.project_id].add(cost.line_item)
    assert max(len(v) for v in items.values()) == 10
    assert elapsed < 5, f"generating the benchmark dataset took {elapsed:.1f}s"
    small = Dataset.generate(TODAY, days=3, projects=2, line_items=4, openrouter_keys=2)
    assert [p.name for p in small.openai_projects] == ["search", "support-bot"]
    assert {c.line_item for c in small.openai_costs if c.api_key_id} == {
        "gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06, cached input", "gpt-4o-2024-08-06, output",
        "text-embedding-3-small, input",
    }  # fmt: skip
