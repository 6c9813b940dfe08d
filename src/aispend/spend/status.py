"""Which providers' figures a report may show: the data state per provider, from the poll runs.

Why: a 403 (an OpenAI admin key without ``api.usage.read``), a store that was never polled and a
poll that stopped succeeding all leave the store without rows, and rows that are not there sum to
$0.00, which reads as "all is well". Every report therefore carries, per configured provider, one
of these states and shows a figure only for ``ok``:

* ``not_configured`` — no key for the provider: it is left out of every answer;
* ``never_polled`` — configured, but its money endpoint has never been fetched;
* ``no_permission`` — the newest attempt was refused (401/403);
* ``error`` — every attempt so far failed for another reason;
* ``stale`` — the newest success is older than ``stale_after`` (polls keep failing);
* ``ok`` — fetched successfully within ``stale_after``.

Money endpoints: OpenAI ``costs``; OpenRouter ``keys`` (names, today's usage) and ``activity``
(the per-day breakdown). The first one of a provider must have run and decides staleness; the
others (``activity`` is fetched once a UTC day, and never for a key without spend) only count
when refused or failing. When endpoints disagree, the worst state wins. A past month is ``ok``
once a success happened after it ended (its figures no longer change), whatever the state now.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from aispend.clock import day_start, ensure_utc, month_start, next_month
from aispend.records import PROVIDERS, Provider
from aispend.spend.model import DataState, DataStatus, ProviderData

__all__ = [
    "CREDITS_ENDPOINTS",
    "MONEY_ENDPOINTS",
    "EndpointRun",
    "data_status",
    "endpoint_state",
    "for_month",
    "status_key",
]

MONEY_ENDPOINTS: Mapping[Provider, tuple[str, ...]] = {
    "openai": ("costs",),
    "openrouter": ("keys", "activity"),
}
"""Per provider, the endpoints its spend figures come from; the first one must have run."""
CREDITS_ENDPOINTS: tuple[str, ...] = ("credits",)

# Worst first: the state a provider gets when its endpoints disagree.
_SEVERITY: tuple[DataState, ...] = ("no_permission", "error", "never_polled", "stale", "ok")


@dataclass(frozen=True, slots=True)
class EndpointRun:
    """The newest poll run of one endpoint and when it last succeeded."""

    provider: str
    endpoint: str
    last_status: str  # ok | error | permission_denied
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    error: str | None = None


def endpoint_state(
    runs: Mapping[str, EndpointRun], endpoints: Iterable[str], now: datetime, stale_after: timedelta
) -> ProviderData:
    """The combined state of some endpoints of one provider (``runs`` by endpoint name)."""
    now = ensure_utc(now)
    worst: ProviderData | None = None
    for index, endpoint in enumerate(endpoints):  # the first one is the endpoint polled every time
        run = runs.get(endpoint)
        if run is None:
            state = ProviderData("never_polled") if index == 0 else None
        elif run.last_status == "permission_denied":
            state = ProviderData("no_permission", run.last_success_at, run.error)
        elif run.last_success_at is None:
            state = ProviderData("error", None, run.error)
        elif index == 0 and now - ensure_utc(run.last_success_at) > stale_after:
            state = ProviderData("stale", run.last_success_at, run.error)
        else:
            state = ProviderData("ok", run.last_success_at)
        if state is None:
            continue
        if worst is None or _SEVERITY.index(state.state) < _SEVERITY.index(worst.state):
            worst = state
    return worst if worst is not None else ProviderData("never_polled")


def data_status(
    runs: Iterable[EndpointRun],
    configured: Collection[str],
    now: datetime,
    *,
    stale_after: timedelta,
    endpoints: Mapping[Provider, tuple[str, ...]] = MONEY_ENDPOINTS,
) -> DataStatus:
    """Every provider's state (``not_configured`` ones included, so callers can say so)."""
    by_provider: dict[str, dict[str, EndpointRun]] = {}
    for run in runs:
        by_provider.setdefault(run.provider, {})[run.endpoint] = run
    status: DataStatus = {}
    for provider in PROVIDERS:
        if provider not in configured:
            status[provider] = ProviderData("not_configured")
        else:
            status[provider] = endpoint_state(
                by_provider.get(provider, {}), endpoints[provider], now, stale_after
            )
    return status


def for_month(status: DataStatus, month: date, now: datetime) -> DataStatus:
    """The state for a month's figures: a month that ended before a successful poll is complete.

    OpenAI re-fetches three days back for late corrections, so "ended" means three days after
    the last day of the month.
    """
    settled = day_start(next_month(month_start(month)) + timedelta(days=3))
    if ensure_utc(now) < settled:
        return status
    out: DataStatus = {}
    for provider, data in status.items():
        success = data.last_success_at
        if data.configured and not data.usable and success is not None and ensure_utc(success) >= settled:
            out[provider] = ProviderData("ok", success)
        else:
            out[provider] = data
    return out


def status_key(status: DataStatus) -> tuple[tuple[str, str], ...]:
    """A hashable summary (for caches): reports only depend on each provider's state."""
    return tuple((provider, data.state) for provider, data in sorted(status.items()))
