"""Normalized provider records: the vocabulary shared by providers, store, ingest and spend.

Provider clients turn wire JSON into these; the store persists them; the spend model reads them.
Money is ``Decimal`` dollars; days are UTC calendar days; a ``None`` grouping field means the
provider did not attribute the row (OpenAI ``project_id: null`` rows are org-level spend).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Literal

Provider = Literal["openai", "openrouter"]
PROVIDERS: tuple[Provider, ...] = ("openai", "openrouter")


# Endpoints the poller does not fetch on every poll, and how often it does: OpenAI's project and
# key names and OpenRouter ``/activity`` (each once per UTC day, see ``ingest``). A quiet
# endpoint is stale only this long plus the usual three poll intervals after its last success.
POLLED_EVERY: dict[tuple[str, str], timedelta] = {
    ("openai", "projects"): timedelta(days=1),
    ("openrouter", "activity"): timedelta(days=1),
}


class PollStatus(StrEnum):
    """How one endpoint of one poll ended: stored in ``poll_run.status``, shown by
    ``aispend poll`` and ``/aispend health``."""

    OK = "ok"
    ERROR = "error"
    PERMISSION_DENIED = "permission_denied"  # 401/403: "no permission", never "$0"


@dataclass(frozen=True, slots=True)
class OpenAICost:
    """One ``/organization/costs`` result: dollars for a UTC day (billing truth)."""

    day: date
    project_id: str | None
    api_key_id: str | None
    line_item: str | None
    amount: Decimal


@dataclass(frozen=True, slots=True)
class OpenAIUsage:
    """One ``/organization/usage/{endpoint}`` result: tokens and requests for a UTC day."""

    day: date
    endpoint: str  # completions, embeddings, ...
    project_id: str | None
    api_key_id: str | None
    model: str | None
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    requests: int
    batch: bool | None = None  # completions only: the Batch API (None: not grouped by it)
    service_tier: str | None = None  # completions only: e.g. default, flex, scale, priority


@dataclass(frozen=True, slots=True)
class OpenAIProject:
    id: str
    name: str | None
    status: str


@dataclass(frozen=True, slots=True)
class OpenAIApiKey:
    id: str
    project_id: str
    name: str | None


@dataclass(frozen=True, slots=True)
class OpenRouterCredits:
    """``/credits``: balance = total_credits - total_usage (may be negative)."""

    total_credits: Decimal
    total_usage: Decimal

    @property
    def balance(self) -> Decimal:
        return self.total_credits - self.total_usage


@dataclass(frozen=True, slots=True)
class OpenRouterKey:
    """One ``/keys`` entry. ``limit`` is the key's spending cap (not the balance); None = no cap."""

    hash: str
    name: str | None
    label: str | None
    disabled: bool
    limit: Decimal | None
    limit_remaining: Decimal | None
    limit_reset: str | None
    usage: Decimal
    usage_daily: Decimal
    usage_weekly: Decimal
    usage_monthly: Decimal
    byok_usage: Decimal
    workspace_id: str | None = None  # None: the account's default workspace (or unknown)


@dataclass(frozen=True, slots=True)
class OpenRouterWorkspace:
    """One ``/workspaces`` entry: ``/keys`` lists one workspace's keys at a time."""

    id: str
    name: str
    slug: str | None = None


@dataclass(frozen=True, slots=True)
class OpenRouterActivity:
    """One completed UTC day × model × provider for one key (rows from ``/activity``).

    Rows the API returns for the same (day, model, provider_name) but different endpoints are
    summed by the client, so this is the natural key together with ``key_hash``.
    """

    day: date
    key_hash: str
    model: str
    provider_name: str
    usage: Decimal
    byok_usage: Decimal
    requests: int
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int


@dataclass(frozen=True, slots=True)
class CreditSnapshot:
    """A stored ``/credits`` reading."""

    taken_at: datetime
    total_credits: Decimal
    total_usage: Decimal

    @property
    def balance(self) -> Decimal:
        return self.total_credits - self.total_usage
