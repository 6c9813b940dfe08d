"""Tokens joined to money (``spend/units.py``): unknown stays unknown, nothing is priced."""

from __future__ import annotations

from decimal import Decimal

from aispend.spend.model import ModelSpend, UsageLine
from aispend.spend.units import attach_units, model_units, project_units


def test_models_without_money_or_usage_have_no_unit_cost() -> None:
    money = [ModelSpend("openai", "gpt-4o", Decimal("30")), ModelSpend("openai", "(unspecified)", Decimal(5))]
    usage = [
        UsageLine("openai", "gpt-4o", 10, 1_000_000, 500_000, cached_input_tokens=250_000, project_ref="p"),
        UsageLine("openai", "gpt-4o", 5, 1_000_000, 500_000, cached_input_tokens=0, project_ref="p"),
        UsageLine("openrouter", "x/y", 4, 100, 50, reasoning_tokens=20, key_ref="k"),
        UsageLine("openai", None, 3, 10, 10),  # no model: left out of the per-model view
    ]
    gpt, unspecified, router = model_units(money, usage)
    assert (gpt.requests, gpt.input_tokens, gpt.cached_input_tokens) == (15, 2_000_000, 250_000)
    assert gpt.usd_per_request == Decimal(2) and gpt.usd_per_million_tokens == Decimal(10)
    assert gpt.cached_share == Decimal("12.5") and gpt.reasoning_tokens is None
    assert unspecified.requests == 0 and unspecified.usd_per_request is None
    assert router.usd is None and router.usd_per_request is None and router.reasoning_tokens == 20
    assert router.cached_input_tokens is None and router.cached_share is None


def test_a_project_total_sums_what_is_reported_and_shares_over_it() -> None:
    usage = [
        UsageLine("openai", "a", 1, 100, 10, cached_input_tokens=50),
        UsageLine("openrouter", "b", 1, 300, 10, reasoning_tokens=5),
    ]
    total = project_units(Decimal(4), usage)
    assert total.cached_input_tokens == 50 and total.cached_share == Decimal("50.0")
    assert total.reasoning_tokens == 5 and total.usd_per_request == Decimal(2)
    assert project_units(None, usage).usd_per_request is None


def test_usage_is_attributed_like_money() -> None:
    lines = [
        UsageLine("openai", "a", 1, 1, 1, project_ref="p1"),
        UsageLine("openrouter", "b", 1, 1, 1, key_ref="k"),
    ]
    owners = {("openai", "p1"): "alpha", ("openrouter", "k"): None}
    per = attach_units(lambda provider, project, key: owners[(provider, project or key or "")], lines)
    assert list(per) == ["alpha"] and per["alpha"] == [lines[0]]
