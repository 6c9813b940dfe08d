"""Tokens and unit costs per model and per project: the usage figures joined to the money.

Why a join and not a price list: dollars come only from OpenAI's Costs API and OpenRouter's own
usage figures (what is billed), tokens and requests only from the usage endpoints. A model's cost
per request or per 1M tokens is therefore its billed dollars divided by its counted tokens, never a
list price times tokens. Where one side is missing (a line item that names no model, a model with
no usage rows), the unit cost is unknown (None), not estimated.

OpenAI reports cached input tokens but no reasoning tokens; OpenRouter ``/activity`` reports
reasoning tokens (a part of the completion tokens, so never added to the output again) but no
cached input. A figure no row reports stays None rather than 0; a project total mixing both
providers sums the rows that report it, and its cached share is taken over those rows' input.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal

from aispend.records import Provider
from aispend.spend.model import ModelSpend, SpendLine, Units, UsageLine
from aispend.spend.reports import model_label

__all__ = ["attach_units", "model_units", "project_units", "team_models"]

_Key = tuple[Provider, str]


def _add(total: int | None, part: int | None) -> int | None:
    """Sum of the reported parts; None until some row reports the figure."""
    if part is None:
        return total
    return part if total is None else total + part


class _Sum:
    __slots__ = ("cached", "cached_base", "input", "output", "reasoning", "requests", "seen")

    def __init__(self) -> None:
        self.requests = 0
        self.input = 0
        self.output = 0
        self.cached: int | None = None
        self.cached_base = 0  # input tokens of the rows that report their cached part
        self.reasoning: int | None = None
        self.seen = False

    def add(self, line: UsageLine) -> None:
        self.seen = True
        self.requests += line.requests
        self.input += line.input_tokens
        self.output += line.output_tokens
        self.cached = _add(self.cached, line.cached_input_tokens)
        if line.cached_input_tokens is not None:
            self.cached_base += line.input_tokens
        self.reasoning = _add(self.reasoning, line.reasoning_tokens)


def model_units(by_model: Sequence[ModelSpend], usage: Iterable[UsageLine]) -> tuple[Units, ...]:
    """One :class:`Units` per model: those with money first (``by_model`` order), then models
    with usage but no billed dollars (usd None). Usage without a model name is left out."""
    sums: dict[_Key, _Sum] = {}
    for line in usage:
        if line.model is None:
            continue
        sums.setdefault((line.provider, line.model), _Sum()).add(line)
    out: list[Units] = []
    for money in by_model:
        found = sums.pop((money.provider, money.model), None)
        out.append(_units(money.provider, money.model, money.usd, found))
    for (provider, model), found in sorted(sums.items(), key=lambda kv: (-kv[1].requests, kv[0])):
        out.append(_units(provider, model, None, found))
    return tuple(out)


def project_units(total: Decimal | None, usage: Iterable[UsageLine]) -> Units:
    """The whole project's tokens and unit costs (``total``: its billed dollars, if known)."""
    found = _Sum()
    for line in usage:
        found.add(line)
    return _units(None, None, total, found)


def _units(provider: Provider | None, model: str | None, usd: Decimal | None, found: _Sum | None) -> Units:
    if found is None or not found.seen:
        return Units(provider, model, usd, 0, 0, 0, None, None, 0)
    return Units(
        provider=provider,
        model=model,
        usd=usd,
        requests=found.requests,
        input_tokens=found.input,
        output_tokens=found.output,
        cached_input_tokens=found.cached,
        reasoning_tokens=found.reasoning,
        cached_base_tokens=found.cached_base,
    )


def attach_units(
    project_for_ref: Callable[[Provider, str | None, str | None], str | None], usage: Iterable[UsageLine]
) -> dict[str, list[UsageLine]]:
    """Usage lines per project, attributed like money (the same matchers and specificity)."""
    per_project: dict[str, list[UsageLine]] = {}
    for line in usage:
        name = project_for_ref(line.provider, line.project_ref, line.key_ref)
        if name is not None:
            per_project.setdefault(name, []).append(line)
    return per_project


def team_models(lines: Sequence[SpendLine]) -> list[ModelSpend]:
    """Billed dollars per (provider, model) over every line, largest first."""
    sums: dict[_Key, Decimal] = {}
    for line in lines:
        key = (line.provider, model_label(line))
        sums[key] = sums.get(key, Decimal(0)) + line.amount
    ordered = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))
    return [ModelSpend(provider=p, model=m, usd=usd) for (p, m), usd in ordered]
