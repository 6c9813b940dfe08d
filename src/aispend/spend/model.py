"""Plain records in and out of the spend model.

Inputs (``TeamProject``, ``SpendLine``, ``KeyDay``, ``Directory``) are what the store hands over; outputs
(``ProjectReport``, ``Pace``, ``Runway``, ...) are what the CLI, Slack answers, alerts and the digest
render. Nothing here touches Slack, HTTP or SQL; money is ``Decimal`` dollars; days are UTC.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from aispend.records import PROVIDERS, Provider

# ----------------------------------------------------------------------------------------- inputs


Visibility = Literal["public", "owner"]


@dataclass(frozen=True, slots=True)
class TeamProject:
    """One of the team's projects, as the domain needs it: matchers, owner, budget, thresholds.

    The config file is validated at the edge (``aispend.config.ProjectConfig``, pydantic) and
    handed over as this plain record, so the domain imports no validation framework.
    """

    name: str
    owner: str | None = None
    channel: str | None = None
    monthly_budget_usd: Decimal | None = None
    alert_at_percent: tuple[Decimal, ...] = (Decimal(80), Decimal(100))
    visibility: Visibility = "public"
    openai_projects: tuple[str, ...] = ()
    openai_api_keys: tuple[str, ...] = ()
    openrouter_keys: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SpendLine:
    """Money for one UTC day and one provider grouping.

    OpenAI: ``project_ref`` = project id, ``key_ref`` = API key id (None when the costs API could
    not group by key), ``billed_item`` = line item, ``model`` = the model named by the line item.
    OpenRouter: ``key_ref`` = key hash, ``model`` = model slug, ``billed_item`` = upstream provider (route).
    ``provisional`` marks figures that will still change (OpenAI today; OpenRouter days filled from
    key ``usage_daily`` before ``/activity`` covers them).
    """

    provider: Provider
    day: date
    amount: Decimal
    project_ref: str | None = None
    key_ref: str | None = None
    model: str | None = None
    billed_item: str | None = None
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    provisional: bool = False


@dataclass(frozen=True, slots=True)
class MonthSpend:
    """A UTC month's spend as the report assembly takes it.

    ``lines``: the month's spend at any grain (the store's month rollup plus the provisional
    OpenRouter fills, or daily lines); ``daily``/``provisional``: per project, the amount per UTC
    day and the days holding provisional spend. Both cover the same money.
    """

    month: date
    lines: Sequence[SpendLine]
    daily: Mapping[str, Mapping[date, Decimal]]
    provisional: Mapping[str, Collection[date]]


@dataclass(frozen=True, slots=True)
class UsageLine:
    """Tokens and requests for one provider grouping over a period (never money).

    OpenAI usage API: ``project_ref``/``key_ref`` as in :class:`SpendLine`, cached input known,
    no reasoning count (the API has none). OpenRouter ``/activity``: ``key_ref`` = key hash,
    reasoning known (a part of the output tokens), cached input not reported.
    """

    provider: Provider
    model: str | None
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None
    project_ref: str | None = None
    key_ref: str | None = None


@dataclass(frozen=True, slots=True)
class KeyDay:
    """The last OpenRouter ``/keys`` reading of a UTC day for one key (``usage_daily`` so far)."""

    day: date
    key_hash: str
    usage_daily: Decimal
    taken_at: datetime


@dataclass(frozen=True, slots=True)
class Directory:
    """Names for provider ids, from the stored name tables (config may use ids or names)."""

    openai_projects: dict[str, str] = field(default_factory=dict)  # project id -> name
    openai_keys: dict[str, str] = field(default_factory=dict)  # api key id -> name
    openrouter_keys: dict[str, str] = field(default_factory=dict)  # key hash -> name
    openrouter_workspaces: dict[str, str] = field(default_factory=dict)  # key hash -> workspace name


# ---------------------------------------------------------------------------------------- outputs

PaceStatus = Literal["on_track", "at_risk", "over", "insufficient_history", "no_budget", "no_data"]
Confidence = Literal["high", "medium", "low", "none"]
DataState = Literal["ok", "stale", "no_permission", "error", "never_polled", "not_configured"]
"""Whether a provider's figures can be shown (method in ``spend/status.py``): only ``ok`` can."""


@dataclass(frozen=True, slots=True)
class ProviderData:
    """How far a provider's stored figures can be trusted right now.

    Anything but ``ok`` means the figure is *unknown*, never zero: a 403, a store that was never
    polled or a poll that stopped succeeding all look like "$0" if rendered as a number.
    """

    state: DataState
    last_success_at: datetime | None = None
    error: str | None = None

    @property
    def usable(self) -> bool:
        return self.state == "ok"

    @property
    def configured(self) -> bool:
        return self.state != "not_configured"


DataStatus = dict[Provider, ProviderData]
"""Per provider; a report without one (built by older callers and tests) treats every provider
as ``ok``."""
RunwayStatus = Literal["ok", "low", "depleted", "stale", "unknown"]


@dataclass(frozen=True, slots=True)
class Pace:
    """Budget pace for one project and month (method documented in ``spend/pace.py``)."""

    status: PaceStatus
    spent: Decimal
    budget: Decimal | None
    used_percent: Decimal | None
    forecast: Decimal | None  # month-end projection; None with insufficient history
    daily_rate: Decimal | None
    crosses_on: date | None  # the UTC day the budget is (or was) crossed at the current rate
    days_of_data: int
    left_out: tuple[Provider, ...] = ()  # configured providers without data, not in this pace


@dataclass(frozen=True, slots=True)
class ModelSpend:
    provider: Provider
    model: str
    usd: Decimal


@dataclass(frozen=True, slots=True)
class Units:
    """Tokens, requests and unit costs of one model (or a whole project, ``model`` None).

    Dollars come only from the billing figures (Costs API, OpenRouter usage); tokens and requests
    only from the usage endpoints; unit costs divide the one by the other and are None where
    either side is missing. ``cached_input_tokens`` is None where the provider does not report it
    (OpenRouter), ``reasoning_tokens`` likewise (OpenAI); reasoning is part of the output.
    """

    provider: Provider | None
    model: str | None
    usd: Decimal | None
    requests: int
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int | None
    reasoning_tokens: int | None
    cached_base_tokens: int = 0  # input tokens of the rows that report a cached part

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @property
    def usd_per_request(self) -> Decimal | None:
        if self.usd is None or self.requests <= 0:
            return None
        return self.usd / self.requests

    @property
    def usd_per_million_tokens(self) -> Decimal | None:
        if self.usd is None or self.tokens <= 0:
            return None
        return self.usd * 1_000_000 / self.tokens

    @property
    def cached_share(self) -> Decimal | None:
        """Percent of input tokens served from the cache (one decimal), None when unknown."""
        if self.cached_input_tokens is None or self.cached_base_tokens <= 0:
            return None
        return (Decimal(self.cached_input_tokens) * 100 / self.cached_base_tokens).quantize(Decimal("0.1"))


@dataclass(frozen=True, slots=True)
class BilledItemSpend:
    """OpenAI line item or OpenRouter provider route."""

    provider: Provider
    billed_item: str
    usd: Decimal


@dataclass(frozen=True, slots=True)
class DayPoint:
    day: date
    usd: Decimal
    provisional: bool


@dataclass(frozen=True, slots=True)
class ProjectReport:
    project: str
    month: date  # first day of the UTC month
    as_of: datetime
    owner: str | None
    channel: str | None
    visibility: Visibility
    total: Decimal
    by_provider: dict[Provider, Decimal]
    by_model: tuple[ModelSpend, ...]  # largest first
    by_billed_item: tuple[BilledItemSpend, ...]  # largest first
    daily: tuple[DayPoint, ...]  # every UTC day of the month up to as_of, zeros included
    provisional_since: date | None
    pace: Pace
    # Per provider (``not_configured`` ones included). ``by_provider`` holds only providers with
    # data; ``total`` sums those. Empty: every provider counts as having data.
    data: DataStatus = field(default_factory=dict)
    units: tuple[Units, ...] = ()  # per model, in ``by_model`` order, then models without money
    unit_totals: Units | None = None  # the whole project (None: no usage read)

    @property
    def missing(self) -> tuple[Provider, ...]:
        """Configured providers whose figures are unknown (not in ``total``)."""
        return missing_providers(self.data)

    @property
    def known(self) -> bool:
        """False when no provider has data: the total is unknown, not zero."""
        return has_any_data(self.data)


@dataclass(frozen=True, slots=True)
class UnattributedRef:
    """A provider reference whose spend matched no project: fix the config with it."""

    provider: Provider
    kind: Literal["openai_project", "openai_api_key", "openrouter_key", "org"]
    ref: str | None
    name: str | None
    usd: Decimal
    workspace: str | None = None  # OpenRouter: the workspace the key lives in, when known


@dataclass(frozen=True, slots=True)
class Unattributed:
    by_provider: dict[Provider, Decimal]
    refs: tuple[UnattributedRef, ...]  # largest first

    @property
    def total(self) -> Decimal:
        return sum(self.by_provider.values(), Decimal(0))


@dataclass(frozen=True, slots=True)
class TeamReport:
    """The whole team's UTC month: every configured project's report plus the unattributed
    bucket (one project's month alone is a :class:`ProjectReport`)."""

    month: date
    as_of: datetime
    projects: tuple[ProjectReport, ...]
    unattributed: Unattributed
    provider_totals: dict[Provider, Decimal]  # == sum over projects + unattributed, exactly
    data: DataStatus = field(default_factory=dict)  # as in ProjectReport
    units: tuple[Units, ...] = ()  # per model, team-wide (unattributed included)
    # Projects left out because the audience may not see them (``spend.visibility``); their spend
    # is in no figure of this report (units included).
    hidden: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal:
        return sum(self.provider_totals.values(), Decimal(0))

    @property
    def missing(self) -> tuple[Provider, ...]:
        return missing_providers(self.data)

    @property
    def known(self) -> bool:
        return has_any_data(self.data)


@dataclass(frozen=True, slots=True)
class KeyCap:
    """An OpenRouter key whose own spending cap is nearly used up (cap, not account balance)."""

    key_hash: str
    name: str | None
    limit: Decimal
    limit_remaining: Decimal
    percent_remaining: Decimal


@dataclass(frozen=True, slots=True)
class Runway:
    """OpenRouter prepaid credit runway (method documented in ``spend/runway.py``)."""

    as_of: datetime
    snapshot_at: datetime | None
    balance: Decimal | None
    burn_per_day: Decimal | None
    burn_24h: Decimal | None
    burn_7d: Decimal | None
    basis: Literal["24h", "7d"] | None
    confidence: Confidence
    days_left: Decimal | None
    runs_out_on: date | None
    stale: bool
    status: RunwayStatus
    low_keys: tuple[KeyCap, ...]
    data: ProviderData | None = None  # the ``/credits`` endpoint's state; None: not known
    # BYOK (bring-your-own-key) spend over the same 7 complete UTC days as ``burn_7d``: billed by
    # the user's own provider accounts, not drawn from credits, so left out of the burn.
    byok_7d: Decimal | None = None
    keys_hidden: bool = False  # caps of keys the audience may not see are left out of low_keys


@dataclass(frozen=True, slots=True)
class ModelShare:
    provider: Provider
    model: str
    this_week: Decimal
    last_week: Decimal
    share_now: Decimal  # percent of this week's spend
    share_before: Decimal  # percent of last week's spend
    shift_pp: Decimal  # percentage points, share_now - share_before
    is_new: bool


@dataclass(frozen=True, slots=True)
class MixReport:
    project: str | None
    week_start: date  # first day of the 7-day window ending yesterday (UTC)
    this_week: Decimal
    last_week: Decimal
    models: tuple[ModelShare, ...]  # by this week's spend, largest first
    data: DataStatus = field(default_factory=dict)  # as in ProjectReport
    batch_share: Decimal | None = None  # percent of OpenAI completions tokens sent via Batch API
    hidden_spend: bool = False  # spend the audience may not see was left out (never how much)

    @property
    def missing(self) -> tuple[Provider, ...]:
        return missing_providers(self.data)

    @property
    def known(self) -> bool:
        return has_any_data(self.data)


@dataclass(frozen=True, slots=True)
class RouteCost:
    model: str
    provider_name: str
    usd: Decimal
    requests: int
    tokens: int
    usd_per_million_tokens: Decimal | None
    share_of_model: Decimal  # percent of this model's spend served by this provider
    byok_usd: Decimal = Decimal(0)  # BYOK usage OpenRouter reports for this route (not in usd)


@dataclass(frozen=True, slots=True)
class RoutesReport:
    start: date
    end: date  # inclusive
    routes: tuple[RouteCost, ...]
    hidden_spend: bool = False  # spend the audience may not see was left out (never how much)


@dataclass(frozen=True, slots=True)
class Mover:
    project: str
    this_week: Decimal
    last_week: Decimal
    delta: Decimal
    delta_percent: Decimal | None  # None when last week was zero


def missing_providers(data: DataStatus) -> tuple[Provider, ...]:
    """Configured providers without usable data, in a stable order."""
    return tuple(p for p, d in data.items() if d.configured and not d.usable)


def has_any_data(data: DataStatus) -> bool:
    """Whether some provider's figures are known (an empty status: every one is)."""
    return not data or any(d.usable for d in data.values())


def shown_providers(data: DataStatus) -> tuple[Provider, ...]:
    """The providers an answer mentions at all: the configured ones (every one without a status)."""
    return PROVIDERS if not data else tuple(p for p in PROVIDERS if p in data and data[p].configured)
