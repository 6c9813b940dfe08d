"""A deterministic, realistic provider dataset that is also the exact truth for tests.

The fake servers (:mod:`aispend.demo.simulated.servers`) serve this dataset in the providers' wire shapes,
and tests compare what the pipeline computes against the helpers here (``openai_cost_total`` …).
Because the same object is both what is served and what is expected, any difference a test sees is
a bug in the client, the store or the report, never in the fixture.

Design choices, and why:

* Everything comes from one ``random.Random(seed)``: the same ``(today, days, seed, sizes)`` always
  gives the same rows, so a failing test or a demo screenshot can be reproduced.
* Money is ``Decimal`` with at most nine decimal places, so the store's nano-dollar integers hold it
  exactly, yet amounts look like real float-ish dollars (``0.004821339``).
* OpenAI usage rows come first (tokens per day × project × key × model); cost rows are priced from
  those tokens, so Usage and Costs agree the way the real ones roughly do.
* "Today" is a partial day (the provider clock is ``as_of`` = 12:00 UTC today): OpenAI has a small
  bucket for it, OpenRouter counts it in ``usage_daily`` but never in ``/activity``.
"""

from __future__ import annotations

import gc
import hashlib
import random
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_CEILING, Decimal
from enum import Enum
from typing import Final, Literal, NamedTuple, TypeAlias

from aispend.records import (
    OpenAIApiKey,
    OpenAICost,
    OpenAIProject,
    OpenAIUsage,
    OpenRouterActivity,
    OpenRouterCredits,
    OpenRouterKey,
    OpenRouterWorkspace,
)

NANO: Final = Decimal("0.000000001")
_MILLION: Final = Decimal(1_000_000)
_ZERO: Final = Decimal(0)

DEFAULT_WORKSPACE: Final = OpenRouterWorkspace(
    id="0df9e665-d932-5740-b2c7-b52af166bc11", name="Default Workspace", slug="default"
)
RESEARCH_WORKSPACE: Final = OpenRouterWorkspace(
    id="550e8400-e29b-41d4-a716-446655440000", name="Research", slug="research"
)
"""A second workspace: its keys are invisible to a plain ``/keys`` listing."""

ACTIVITY_DAYS: Final = 30
"""OpenRouter ``/activity`` covers this many completed UTC days (never today)."""


class _AnyValue(Enum):
    ANY = "ANY"


ANY: Final = _AnyValue.ANY
"""Filter value meaning "do not filter on this field" (``None`` means "the field is null")."""

Match: TypeAlias = "str | Literal[_AnyValue.ANY] | None"

CostKey: TypeAlias = tuple[str | None, str | None, str | None]
"""Natural key of a cost row within a day: (project_id, api_key_id, line_item)."""


class TokenTotals(NamedTuple):
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    requests: int


def _matches(value: str | None, wanted: Match) -> bool:
    return wanted is ANY or value == wanted


def _days(start: date, end: date) -> Iterator[date]:
    """Days of the half-open range ``[start, end)``."""
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


def _between(rng: random.Random, low: int, high: int) -> int:
    """``rng.randint`` without its overhead (it dominated generating the benchmark dataset)."""
    return low + int(rng.random() * (high - low + 1))


def _jitter(rng: random.Random, spread: int = 3) -> Decimal:
    """A factor 1 ± spread % with five digits, so prices look measured rather than list prices."""
    return Decimal(_between(rng, 100_000 - spread * 1000, 100_000 + spread * 1000)) / 100_000


def _per_token(per_million: str) -> Decimal:
    return Decimal(per_million) / _MILLION


def quantity_unit(line_item: str | None) -> str | None:
    """The ``quantity_unit`` OpenAI reports for a line item (token lines count tokens)."""
    if line_item is None:
        return None
    if line_item.endswith((", input", ", output", ", cached input")) and "scale tier" not in line_item:
        return "tokens"
    if "file search" in line_item:
        return "gibibyte_hours"
    return None


# --------------------------------------------------------------------------------------------------
# Catalogues: real model snapshots and list prices (USD per 1M tokens).


@dataclass(frozen=True, slots=True)
class _OpenAIModel:
    snapshot: str
    endpoint: Literal["completions", "embeddings"]
    input_price: Decimal
    cached_price: Decimal
    output_price: Decimal
    tokens_in: int  # typical input tokens per request
    tokens_out: int
    cache_ratio_pct: int

    @property
    def line_items(self) -> tuple[str, ...]:
        if self.endpoint == "embeddings":
            return (f"{self.snapshot}, input",)
        return (f"{self.snapshot}, input", f"{self.snapshot}, cached input", f"{self.snapshot}, output")


def _chat(snapshot: str, inp: str, cached: str, out: str, tin: int, tout: int, cache: int) -> _OpenAIModel:
    return _OpenAIModel(
        snapshot, "completions", _per_token(inp), _per_token(cached), _per_token(out), tin, tout, cache
    )


def _embedding(snapshot: str, price: str, tin: int) -> _OpenAIModel:
    return _OpenAIModel(snapshot, "embeddings", _per_token(price), _ZERO, _ZERO, tin, 0, 0)


OPENAI_MODELS: Final[dict[str, _OpenAIModel]] = {
    m.snapshot: m
    for m in (
        _chat("gpt-4o-2024-08-06", "2.50", "1.25", "10.00", 1800, 350, 30),
        _chat("gpt-4o-mini-2024-07-18", "0.15", "0.075", "0.60", 1200, 250, 40),
        _chat("o3-2025-04-16", "2.00", "0.50", "8.00", 2500, 1600, 20),
        _chat("gpt-4.1-2025-04-14", "2.00", "0.50", "8.00", 2200, 400, 35),
        _chat("gpt-4.1-mini-2025-04-14", "0.40", "0.10", "1.60", 1500, 300, 25),
        _embedding("text-embedding-3-small", "0.02", 600),
        _embedding("text-embedding-3-large", "0.13", 600),
    )
}
_CHAT_POOL: Final = [m for m in OPENAI_MODELS if OPENAI_MODELS[m].endpoint == "completions"]
_EMBEDDING_POOL: Final = [m for m in OPENAI_MODELS if OPENAI_MODELS[m].endpoint == "embeddings"]

SCALE_TIER_LINE_ITEM: Final = "scale tier | gpt-4o-2024-08-06, reserved units"
FILE_SEARCH_LINE_ITEM: Final = "assistants api | file search"


@dataclass(frozen=True, slots=True)
class _RouterModel:
    slug: str
    permaslug: str
    prompt_price: Decimal
    completion_price: Decimal
    providers: tuple[str, ...]
    tokens_in: int
    tokens_out: int
    reasoning_pct: int


OPENROUTER_MODELS: Final[dict[str, _RouterModel]] = {
    m.slug: m
    for m in (
        _RouterModel(
            "openai/gpt-4.1", "openai/gpt-4.1-2025-04-14", _per_token("2"), _per_token("8"),
            ("OpenAI", "Azure"), 2000, 400, 0,
        ),
        _RouterModel(
            "anthropic/claude-sonnet-4", "anthropic/claude-4-sonnet-20250522", _per_token("3"),
            _per_token("15"), ("Anthropic", "Google Vertex", "Amazon Bedrock"), 3000, 600, 15,
        ),
        _RouterModel(
            "google/gemini-2.5-flash", "google/gemini-2.5-flash", _per_token("0.30"), _per_token("2.50"),
            ("Google Vertex", "Google AI Studio"), 2500, 500, 10,
        ),
        _RouterModel(
            "meta-llama/llama-3.3-70b-instruct", "meta-llama/llama-3.3-70b-instruct", _per_token("0.13"),
            _per_token("0.40"), ("Together", "DeepInfra", "Groq"), 1500, 300, 0,
        ),
        _RouterModel(
            "deepseek/deepseek-r1", "deepseek/deepseek-r1", _per_token("0.70"), _per_token("2.50"),
            ("DeepInfra", "Together"), 1200, 1800, 60,
        ),
    )
}  # fmt: skip

BYOK_FEE: Final = Decimal("0.05")
"""OpenRouter charges 5 % of the (estimated) upstream cost for BYOK requests."""


# --------------------------------------------------------------------------------------------------
# Profiles: who spends what. The five named OpenAI projects and six OpenRouter keys cover the cases
# the product must show (weekday-only spend, sporadic spend, a project that went quiet and was
# archived, org-level spend, a key near its cap, a disabled key, BYOK).


@dataclass(frozen=True, slots=True)
class _ProjectProfile:
    name: str
    keys: tuple[str, ...]
    models: tuple[str, ...]
    requests_per_day: int
    active_probability: int = 100  # percent of days with spend
    weekdays_only: bool = False
    quiet_for_days: int = 0  # no spend in the last N days (and archived when > 0)
    file_search: bool = False


_NAMED_PROJECTS: Final = (
    _ProjectProfile(
        "search", ("search-prod", "search-staging", "search-reindex"),
        ("gpt-4o-2024-08-06", "gpt-4o-mini-2024-07-18", "text-embedding-3-small"), 21000,
    ),
    _ProjectProfile(
        "support-bot", ("support-prod", "support-dev"), ("gpt-4o-mini-2024-07-18", "gpt-4.1-2025-04-14"),
        12000, file_search=True,
    ),
    _ProjectProfile(
        "data-pipeline", ("pipeline-worker", "pipeline-backfill"),
        ("gpt-4o-mini-2024-07-18", "o3-2025-04-16", "text-embedding-3-large"), 11000, weekdays_only=True,
    ),
    _ProjectProfile(
        "playground", ("alice-dev", "bob-dev", "shared-notebook"), ("o3-2025-04-16", "gpt-4.1-2025-04-14"),
        400, active_probability=55,
    ),
    _ProjectProfile(
        "legacy-etl", ("etl-cron", "etl-manual"), ("gpt-4o-mini-2024-07-18",), 16000, quiet_for_days=20,
    ),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class _KeyProfile:
    name: str
    models: tuple[str, ...]
    requests_per_day: int
    limit: Decimal | None = None
    limit_reset: str | None = None
    near_cap: bool = False  # limit chosen so that < 10 % remains this month
    disabled_days_ago: int = 0  # > 0: disabled, no spend since
    active_probability: int = 100
    byok_provider: str | None = None
    prehistory_usd: Decimal = _ZERO  # all-time usage from before the generated window
    workspace: OpenRouterWorkspace = DEFAULT_WORKSPACE


_NAMED_KEYS: Final = (
    _KeyProfile(
        "search-prod", ("openai/gpt-4.1", "google/gemini-2.5-flash"), 8000, prehistory_usd=Decimal("2841.37"),
    ),
    _KeyProfile(
        "support-prod", ("anthropic/claude-sonnet-4",), 600, limit_reset="monthly", near_cap=True,
        prehistory_usd=Decimal("1320.5"),
    ),
    _KeyProfile(
        "eval-batch", ("meta-llama/llama-3.3-70b-instruct", "deepseek/deepseek-r1"), 4000,
        limit=Decimal(5000), active_probability=60, prehistory_usd=Decimal("412.08"),
    ),
    _KeyProfile(
        "unnamed-dev", ("google/gemini-2.5-flash", "meta-llama/llama-3.3-70b-instruct"), 300,
        active_probability=40, workspace=RESEARCH_WORKSPACE,
    ),
    _KeyProfile(
        "staging-byok", ("openai/gpt-4.1",), 600, byok_provider="Azure", workspace=RESEARCH_WORKSPACE
    ),
    _KeyProfile(
        "labeling-2025", ("anthropic/claude-sonnet-4", "google/gemini-2.5-flash"), 900, disabled_days_ago=12,
        prehistory_usd=Decimal("96.4"),
    ),
)  # fmt: skip


def _stable_hex(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _openai_id(prefix: str, seed: int, name: str) -> str:
    """``proj_…``/``key_…`` ids in OpenAI's style (24 base62-ish characters)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    number = int(_stable_hex(seed, prefix, name), 16)
    chars = []
    for _ in range(24):
        number, rest = divmod(number, len(alphabet))
        chars.append(alphabet[rest])
    return f"{prefix}_{''.join(chars)}"


def _models_for(line_items: int) -> tuple[str, ...]:
    """Models whose line items add up to exactly ``line_items`` (3 per chat model, 1 per embedding)."""
    wanted = max(1, min(line_items, 3 * len(_CHAT_POOL) + len(_EMBEDDING_POOL)))
    chats = min(len(_CHAT_POOL), wanted // 3)
    embeddings = wanted - 3 * chats  # 0-2: the remainder always fits the embedding models
    return tuple(_CHAT_POOL[:chats]) + tuple(_EMBEDDING_POOL[:embeddings])


# --------------------------------------------------------------------------------------------------


class Dataset:
    """Everything both fake providers know, held as :mod:`aispend.records` rows (the exact truth).

    Build one with :meth:`generate` (realistic, small) or :meth:`sized` (benchmarks). Tests may
    mutate it while a server is running (``mutate_openai_cost``, or assign ``openrouter_credits`` /
    ``openrouter_keys``); the servers read it on every request.
    """

    def __init__(
        self,
        *,
        today: date,
        as_of: datetime,
        openai_projects: Sequence[OpenAIProject],
        openai_api_keys: Sequence[OpenAIApiKey],
        openai_costs: Sequence[OpenAICost],
        openai_usage: Sequence[OpenAIUsage],
        openrouter_keys: Sequence[OpenRouterKey],
        openrouter_activity: Sequence[OpenRouterActivity],
        openrouter_credits: OpenRouterCredits,
        openrouter_workspaces: Sequence[OpenRouterWorkspace] = (DEFAULT_WORKSPACE,),
        cost_quantities: dict[tuple[date, str | None, str | None, str | None], int] | None = None,
        first_day: date | None = None,
    ) -> None:
        self.today = today
        self.as_of = as_of
        self.openai_projects = list(openai_projects)
        self.openai_api_keys = list(openai_api_keys)
        self.openrouter_keys = list(openrouter_keys)
        self.openrouter_credits = openrouter_credits
        self.openrouter_workspaces = list(openrouter_workspaces)  # the first is the default one
        self._costs: dict[date, dict[CostKey, OpenAICost]] = defaultdict(dict)
        for cost in openai_costs:
            self._costs[cost.day][(cost.project_id, cost.api_key_id, cost.line_item)] = cost
        self._quantities = dict(cost_quantities or {})
        self._usage: dict[date, list[OpenAIUsage]] = defaultdict(list)
        for usage in openai_usage:
            self._usage[usage.day].append(usage)
        self._activity: dict[date, list[OpenRouterActivity]] = defaultdict(list)
        for row in openrouter_activity:
            self._activity[row.day].append(row)
        known = [*self._costs, *self._usage, *self._activity]
        self.first_day = first_day or min(known, default=today)

    # ---- construction -------------------------------------------------------------------------

    @classmethod
    def generate(
        cls,
        today: date,
        days: int = 60,
        seed: int = 7,
        *,
        projects: int = 5,
        line_items: int = 0,
        openrouter_keys: int = 6,
    ) -> Dataset:
        """A realistic dataset of ``days`` UTC days ending with ``today`` (partial, as of 12:00 UTC).

        ``projects``/``openrouter_keys`` beyond the named five/six add generated ``team-NNN`` /
        ``key-NNN`` entries; ``line_items`` > 0 gives every project exactly that many line items
        (otherwise each named project has its own realistic model mix).
        """
        if days < 1:
            raise ValueError("days must be at least 1")
        # The collector would rescan the growing heap of new rows again and again (half the time of
        # a benchmark-sized build); nothing generated here forms a cycle, so pause it meanwhile.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return _Generator(today, days, seed, projects, line_items, openrouter_keys).build()
        finally:
            if was_enabled:
                gc.enable()

    @classmethod
    def sized(
        cls,
        today: date,
        *,
        projects: int = 200,
        line_items: int = 10,
        openrouter_keys: int = 100,
        days: int = 60,
        seed: int = 7,
    ) -> Dataset:
        """A big dataset for benchmarks (defaults: 200 projects × 10 line items, 100 keys)."""
        return cls.generate(
            today, days, seed, projects=projects, line_items=line_items, openrouter_keys=openrouter_keys
        )

    # ---- flat views -----------------------------------------------------------------------------

    @property
    def openai_costs(self) -> list[OpenAICost]:
        return [cost for day in sorted(self._costs) for cost in self._costs[day].values()]

    @property
    def openai_usage(self) -> list[OpenAIUsage]:
        return [row for day in sorted(self._usage) for row in self._usage[day]]

    @property
    def openrouter_activity(self) -> list[OpenRouterActivity]:
        """All generated activity, including today's partial rows (which ``/activity`` never serves)."""
        return [row for day in sorted(self._activity) for row in self._activity[day]]

    def costs_on(self, day: date) -> list[OpenAICost]:
        return list(self._costs.get(day, {}).values())

    def usage_on(self, day: date, endpoint: str | None = None) -> list[OpenAIUsage]:
        return [u for u in self._usage.get(day, ()) if endpoint is None or u.endpoint == endpoint]

    def activity_on(self, day: date) -> list[OpenRouterActivity]:
        return list(self._activity.get(day, ()))

    def cost_quantity(self, cost: OpenAICost) -> int | None:
        """Billed quantity of a cost row (tokens, GiB-hours); None where OpenAI reports none."""
        return self._quantities.get((cost.day, cost.project_id, cost.api_key_id, cost.line_item))

    @property
    def activity_window(self) -> tuple[date, date]:
        """Half-open ``[first, today)``: the completed days OpenRouter ``/activity`` returns."""
        return self.today - timedelta(days=ACTIVITY_DAYS), self.today

    def project(self, project_id: str) -> OpenAIProject:
        return next(p for p in self.openai_projects if p.id == project_id)

    def workspace_keys(self, workspace_id: str | None = None) -> list[OpenRouterKey]:
        """The keys ``/keys`` lists for a workspace (the default one without an id)."""
        default = self.openrouter_workspaces[0].id
        wanted = workspace_id or default
        return [k for k in self.openrouter_keys if (k.workspace_id or default) == wanted]

    def openrouter_key(self, name_or_hash: str) -> OpenRouterKey:
        return next(k for k in self.openrouter_keys if name_or_hash in (k.hash, k.name))

    # ---- truths ---------------------------------------------------------------------------------

    def openai_cost_total(
        self,
        start: date,
        end: date,
        *,
        project_id: Match = ANY,
        api_key_id: Match = ANY,
        line_item: Match = ANY,
    ) -> Decimal:
        """Exact OpenAI cost over UTC days ``[start, end)``; ``None`` filters select null fields."""
        total = _ZERO
        for day in _days(start, end):
            for cost in self._costs.get(day, {}).values():
                if (
                    _matches(cost.project_id, project_id)
                    and _matches(cost.api_key_id, api_key_id)
                    and _matches(cost.line_item, line_item)
                ):
                    total += cost.amount
        return total

    def openai_usage_totals(
        self,
        start: date,
        end: date,
        *,
        endpoint: Match = ANY,
        project_id: Match = ANY,
        api_key_id: Match = ANY,
        model: Match = ANY,
    ) -> TokenTotals:
        """Summed OpenAI usage over UTC days ``[start, end)``."""
        inp = cached = out = requests = 0
        for day in _days(start, end):
            for row in self._usage.get(day, ()):
                if (
                    _matches(row.endpoint, endpoint)
                    and _matches(row.project_id, project_id)
                    and _matches(row.api_key_id, api_key_id)
                    and _matches(row.model, model)
                ):
                    inp += row.input_tokens
                    cached += row.cached_tokens
                    out += row.output_tokens
                    requests += row.requests
        return TokenTotals(inp, cached, out, requests)

    def openrouter_usage_total(
        self,
        start: date,
        end: date,
        *,
        key_hash: Match = ANY,
        model: Match = ANY,
        provider_name: Match = ANY,
        byok: bool = False,
    ) -> Decimal:
        """Exact OpenRouter credit usage (or BYOK usage with ``byok=True``) over ``[start, end)``.

        Includes today's partial day when the range covers it (it counts in the key counters);
        ``/activity`` itself only serves :attr:`activity_window`.
        """
        total = _ZERO
        for day in _days(start, end):
            for row in self._activity.get(day, ()):
                if (
                    _matches(row.key_hash, key_hash)
                    and _matches(row.model, model)
                    and _matches(row.provider_name, provider_name)
                ):
                    total += row.byok_usage if byok else row.usage
        return total

    # ---- mutations ------------------------------------------------------------------------------

    def mutate_openai_cost(
        self,
        day: date,
        *,
        project_id: str | None,
        api_key_id: str | None,
        line_item: str | None,
        new_amount: Decimal,
    ) -> OpenAICost:
        """Replace (or add) one cost row, as OpenAI does when it corrects a past day late."""
        if new_amount != new_amount.quantize(NANO):
            raise ValueError("amounts keep at most nine decimal places")
        key = (project_id, api_key_id, line_item)
        old = self._costs[day].get(key)
        new = (
            replace(old, amount=new_amount)
            if old
            else OpenAICost(day, project_id, api_key_id, line_item, new_amount)
        )
        self._costs[day][key] = new
        return new


# --------------------------------------------------------------------------------------------------


BATCH_PROJECT: Final = "data-pipeline"
BATCH_SHARE: Final = (7, 10)  # of that project's completions usage goes through the Batch API


def _batch_and_tier(usage: list[OpenAIUsage], projects: Sequence[OpenAIProject]) -> list[OpenAIUsage]:
    """Completions rows carry a batch flag and a service tier (``default``): the data pipeline
    sends 7/10 of its usage (every count, exactly) through the Batch API, nobody else does."""
    batch_ids = {p.id for p in projects if p.name == BATCH_PROJECT}
    num, den = BATCH_SHARE
    out: list[OpenAIUsage] = []
    for row in usage:
        if row.endpoint != "completions":
            out.append(row)
            continue
        if row.project_id not in batch_ids:
            out.append(replace(row, batch=False, service_tier="default"))
            continue
        part = replace(
            row,
            input_tokens=row.input_tokens * num // den,
            cached_tokens=row.cached_tokens * num // den,
            output_tokens=row.output_tokens * num // den,
            requests=row.requests * num // den,
            batch=True,
            service_tier="default",
        )
        rest = replace(
            row,
            input_tokens=row.input_tokens - part.input_tokens,
            cached_tokens=row.cached_tokens - part.cached_tokens,
            output_tokens=row.output_tokens - part.output_tokens,
            requests=row.requests - part.requests,
            batch=False,
            service_tier="default",
        )
        out.extend((part, rest))
    return out


class _Generator:
    """Builds a :class:`Dataset`; separate so the dataset itself stays a plain container."""

    def __init__(
        self, today: date, days: int, seed: int, projects: int, line_items: int, openrouter_keys: int
    ) -> None:
        self.today = today
        self.first = today - timedelta(days=days - 1)
        self.days = list(_days(self.first, today + timedelta(days=1)))
        self.seed = seed
        self.rng = random.Random(seed)
        self.n_projects = projects
        self.line_items = line_items
        self.n_keys = openrouter_keys
        self.as_of = datetime(today.year, today.month, today.day, 12, tzinfo=UTC)

    def _day_factor(self, day: date, weekdays_only: bool) -> Decimal | None:
        """Relative activity of a day; None when nothing is spent that day."""
        weekend = day.weekday() >= 5
        if weekend and weekdays_only:
            return None
        factor = Decimal(_between(self.rng, 80, 120)) / 100
        if weekend:
            factor *= Decimal("0.45")
        if day == self.today:
            factor *= Decimal("0.5")  # as of 12:00 UTC
        return factor

    # ---- OpenAI ---------------------------------------------------------------------------------

    def _project_profiles(self) -> list[_ProjectProfile]:
        profiles = list(_NAMED_PROJECTS[: self.n_projects])
        for i in range(len(profiles), self.n_projects):
            n_keys = _between(self.rng, 2, 3)
            profiles.append(
                _ProjectProfile(
                    f"team-{i:03d}",
                    tuple(f"team-{i:03d}-key-{k}" for k in range(n_keys)),
                    (*self.rng.sample(_CHAT_POOL, 2), self.rng.choice(_EMBEDDING_POOL)),
                    _between(self.rng, 500, 12000),
                    active_probability=self.rng.choice((100, 100, 90, 60)),
                )
            )
        if self.line_items > 0:
            models = _models_for(self.line_items)
            profiles = [replace(p, models=models) for p in profiles]
        return profiles

    def _openai(
        self,
    ) -> tuple[
        list[OpenAIProject],
        list[OpenAIApiKey],
        list[OpenAICost],
        list[OpenAIUsage],
        dict[tuple[date, str | None, str | None, str | None], int],
    ]:
        rng = self.rng
        projects: list[OpenAIProject] = []
        keys: list[OpenAIApiKey] = []
        costs: list[OpenAICost] = []
        usage: list[OpenAIUsage] = []
        quantities: dict[tuple[date, str | None, str | None, str | None], int] = {}

        def add_cost(
            day: date, pid: str | None, kid: str | None, item: str, qty: int | None, amount: Decimal
        ) -> None:
            if amount > 0:
                costs.append(OpenAICost(day, pid, kid, item, amount))
                if qty is not None:
                    quantities[(day, pid, kid, item)] = qty

        for profile in self._project_profiles():
            pid = _openai_id("proj", self.seed, profile.name)
            status = "archived" if profile.quiet_for_days else "active"
            projects.append(OpenAIProject(pid, profile.name, status))
            key_ids = [_openai_id("key", self.seed, f"{profile.name}/{k}") for k in profile.keys]
            keys.extend(OpenAIApiKey(kid, pid, name) for kid, name in zip(key_ids, profile.keys, strict=True))
            shares = [_between(rng, 20, 100) for _ in key_ids]
            quiet_from = (
                self.today - timedelta(days=profile.quiet_for_days) if profile.quiet_for_days else None
            )
            for day in self.days:
                if quiet_from is not None and day > quiet_from:
                    continue
                if _between(rng, 1, 100) > profile.active_probability:
                    continue
                factor = self._day_factor(day, profile.weekdays_only)
                if factor is None:
                    continue
                for kid, share in zip(key_ids, shares, strict=True):
                    for snapshot in profile.models:
                        model = OPENAI_MODELS[snapshot]
                        requests = int(
                            profile.requests_per_day * factor * share / sum(shares) / len(profile.models)
                        )
                        requests = int(requests * _between(rng, 70, 130) / 100)
                        if requests <= 0:
                            continue
                        inp = requests * model.tokens_in * _between(rng, 70, 130) // 100
                        out = requests * model.tokens_out * _between(rng, 70, 130) // 100
                        cached = inp * model.cache_ratio_pct * _between(rng, 60, 140) // 10_000
                        usage.append(
                            OpenAIUsage(day, model.endpoint, pid, kid, snapshot, inp, cached, out, requests)
                        )
                        jitter = _jitter(rng)
                        if model.endpoint == "embeddings":
                            add_cost(
                                day,
                                pid,
                                kid,
                                model.line_items[0],
                                inp,
                                (inp * model.input_price * jitter).quantize(NANO),
                            )
                            continue
                        uncached = inp - cached
                        item_in, item_cached, item_out = model.line_items
                        add_cost(
                            day,
                            pid,
                            kid,
                            item_in,
                            uncached,
                            (uncached * model.input_price * jitter).quantize(NANO),
                        )
                        add_cost(
                            day,
                            pid,
                            kid,
                            item_cached,
                            cached,
                            (cached * model.cached_price * jitter).quantize(NANO),
                        )
                        add_cost(
                            day, pid, kid, item_out, out, (out * model.output_price * jitter).quantize(NANO)
                        )
                if profile.file_search:  # storage is billed to the project, not to a key
                    gib_hours = _between(rng, 200, 260)
                    amount = (gib_hours * Decimal("0.1") / 24 * _jitter(rng, 1)).quantize(NANO)
                    add_cost(day, pid, None, FILE_SEARCH_LINE_ITEM, gib_hours, amount)

        # Org-level spend (Scale Tier): billed to the organization, never to a project.
        if self.n_projects:
            for day in self.days:
                part = Decimal("0.5") if day == self.today else Decimal(1)
                add_cost(
                    day, None, None, SCALE_TIER_LINE_ITEM, None, (Decimal("1500") / 31 * part).quantize(NANO)
                )
        return projects, keys, costs, usage, quantities

    # ---- OpenRouter -----------------------------------------------------------------------------

    def _key_profiles(self) -> list[_KeyProfile]:
        profiles = list(_NAMED_KEYS[: self.n_keys])
        slugs = list(OPENROUTER_MODELS)
        for i in range(len(profiles), self.n_keys):
            capped = _between(self.rng, 1, 4) == 1
            profiles.append(
                _KeyProfile(
                    f"key-{i:03d}",
                    tuple(self.rng.sample(slugs, 2)),
                    _between(self.rng, 100, 3000),
                    limit=Decimal(self.rng.choice((500, 1000, 2500))) if capped else None,
                    limit_reset="monthly" if capped else None,
                    active_probability=self.rng.choice((100, 80, 50)),
                )
            )
        return profiles

    def _openrouter(self) -> tuple[list[OpenRouterKey], list[OpenRouterActivity], OpenRouterCredits]:
        rng = self.rng
        keys: list[OpenRouterKey] = []
        activity: list[OpenRouterActivity] = []
        week_start = self.today - timedelta(days=self.today.weekday())
        month_start = self.today.replace(day=1)
        for profile in self._key_profiles():
            key_hash = _stable_hex(self.seed, "openrouter-key", profile.name)
            rows: list[OpenRouterActivity] = []
            stop = (
                self.today - timedelta(days=profile.disabled_days_ago) if profile.disabled_days_ago else None
            )
            for day in self.days:
                if stop is not None and day >= stop:
                    continue
                if _between(rng, 1, 100) > profile.active_probability:
                    continue
                factor = self._day_factor(day, weekdays_only=False)
                assert factor is not None
                for slug in profile.models:
                    model = OPENROUTER_MODELS[slug]
                    weights = [_between(rng, 10, 100) for _ in model.providers]
                    for provider, weight in zip(model.providers, weights, strict=True):
                        requests = int(
                            profile.requests_per_day * factor * weight / sum(weights) / len(profile.models)
                        )
                        if requests <= 0:
                            continue
                        prompt = requests * model.tokens_in * _between(rng, 60, 140) // 100
                        completion = requests * model.tokens_out * _between(rng, 60, 140) // 100
                        reasoning = completion * model.reasoning_pct // 100
                        cost = (
                            (prompt * model.prompt_price + completion * model.completion_price) * _jitter(rng)
                        ).quantize(NANO)
                        if cost <= 0:
                            continue
                        byok = profile.byok_provider == provider
                        usage = (cost * BYOK_FEE).quantize(NANO) if byok else cost
                        rows.append(
                            OpenRouterActivity(
                                day, key_hash, slug, provider, usage, cost if byok else _ZERO,
                                requests, prompt, completion, reasoning,
                            )
                        )  # fmt: skip
            activity.extend(rows)

            def total(since: date, rows: list[OpenRouterActivity] = rows) -> Decimal:
                return sum((r.usage for r in rows if r.day >= since), _ZERO)

            usage_all = profile.prehistory_usd + total(self.first)
            usage_monthly = total(month_start)
            limit = profile.limit
            if profile.near_cap:  # leave ~5 % of this month's cap
                limit = max(
                    Decimal(50), (usage_monthly * Decimal("1.05")).quantize(Decimal(1), ROUND_CEILING)
                )
            remaining = None
            if limit is not None:
                spent = usage_monthly if profile.limit_reset == "monthly" else usage_all
                remaining = max(_ZERO, limit - spent)
            keys.append(
                OpenRouterKey(
                    hash=key_hash,
                    name=profile.name,
                    label=f"sk-or-v1-{key_hash[:3]}...{key_hash[-3:]}",
                    disabled=bool(profile.disabled_days_ago),
                    limit=limit,
                    limit_remaining=remaining,
                    limit_reset=profile.limit_reset,
                    usage=usage_all,
                    usage_daily=total(self.today),
                    usage_weekly=total(week_start),
                    usage_monthly=usage_monthly,
                    byok_usage=sum((r.byok_usage for r in rows), _ZERO),
                    workspace_id=profile.workspace.id,
                )
            )
        total_usage = sum((k.usage for k in keys), _ZERO)
        week_ago = self.today - timedelta(days=7)
        burn = sum((r.usage for r in activity if week_ago <= r.day < self.today), _ZERO) / 7
        # Credits are bought in whole dollars; leave about four days of runway.
        total_credits = (total_usage + burn * 4).quantize(Decimal(1), ROUND_CEILING)
        return keys, activity, OpenRouterCredits(total_credits=total_credits, total_usage=total_usage)

    def build(self) -> Dataset:
        projects, api_keys, costs, usage, quantities = self._openai()
        usage = _batch_and_tier(usage, projects)
        keys, activity, credits = self._openrouter()
        return Dataset(
            today=self.today,
            as_of=self.as_of,
            openai_projects=projects,
            openai_api_keys=api_keys,
            openai_costs=costs,
            openai_usage=usage,
            openrouter_keys=keys,
            openrouter_activity=activity,
            openrouter_credits=credits,
            openrouter_workspaces=[DEFAULT_WORKSPACE, RESEARCH_WORKSPACE],
            cost_quantities=quantities,
            first_day=self.first,
        )
