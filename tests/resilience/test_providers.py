"""Provider failures under the real poller on PostgreSQL: each is reported for its endpoint, the
other endpoints go on, and what the last good poll stored is still what every answer shows.

The hostile provider (``tests.hostile.server``) answers well until a test scripts one path; the
clients' retry sleeps are recorded instead of slept, so 5xx bursts and 429 storms take no time
and the waits they asked for can be checked.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from aispend.clock import utcnow
from aispend.config import parse_config
from aispend.ingest import Poller, PollSummary
from aispend.providers.limits import Limits
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.records import PollStatus
from aispend.service import SpendService
from aispend.store.engine import open_store
from tests.hostile import server as hostile
from tests.hostile.server import Behaviour, HostileProvider, Query

CONFIG = parse_config(
    {
        "timezone": "UTC",
        "projects": [
            {"name": "hostile", "openai_projects": ["proj_hostile"], "openrouter_keys": ["hostile-key"]}
        ],
    }
)


@pytest.fixture
def store(pg_store: str) -> Iterator[Engine]:
    engine = open_store(pg_store)
    yield engine
    engine.dispose()


class Polls:
    """The production poller against the hostile provider, on a clock that moves 15 min a poll."""

    def __init__(self, engine: Engine, provider: HostileProvider) -> None:
        self.engine = engine
        self.waits: list[float] = []
        self._ticks = itertools.count()
        self._start = utcnow().replace(microsecond=0)
        self.now = self._start
        limits = Limits(request_seconds=1.0, poll_seconds=30.0)
        options: dict[str, Any] = {"limits": limits, "sleep": self.waits.append}
        self.poller = Poller(
            engine,
            openai=OpenAIClient(hostile.ADMIN_KEY, provider.base_url, **options),
            openrouter=OpenRouterClient(hostile.MANAGEMENT_KEY, provider.base_url, **options),
            backfill_days=3,
            clock=lambda: self.now,
            limits=limits,
        )
        self.service = SpendService(engine, CONFIG, providers=("openai", "openrouter"))

    def poll(self) -> PollSummary:
        self.now = self._start + timedelta(minutes=15) * next(self._ticks)
        return self.poller.poll()

    def shown(self) -> dict[str, Any]:
        """What the answers show: month total per provider, the project, balance and burn."""
        month = self.service.team_report(self.now)
        runway = self.service.runway(self.now)
        return {
            "providers": {str(p): str(v) for p, v in month.provider_totals.items()},
            "projects": {r.project: str(r.total) for r in month.projects},
            "balance": str(runway.balance),
        }


def _kept(shown: dict[str, Any], endpoint: str) -> Any:
    """The figures the failing endpoint feeds (the fake's other windows move with the clock)."""
    provider = endpoint.split("/", 1)[0]
    if endpoint.startswith("openai/usage"):
        return None  # usage carries tokens, not money
    return shown["providers"].get(provider), shown["balance"] if provider == "openrouter" else None


def _statuses(summary: PollSummary) -> dict[str, tuple[PollStatus, str | None]]:
    return {f"{r.provider}/{r.endpoint}": (r.status, r.error) for r in summary.results}


def status(code: int) -> Behaviour:
    return lambda q: hostile.answer({"error": {"message": f"upstream said {code}"}}, status=code)


def truncated(good: Behaviour) -> Behaviour:
    def cut(query: Query) -> Any:
        code, headers, chunks = good(query)
        whole = b"".join(chunks)
        return code, headers, iter([whole[: len(whole) // 2]])

    return cut


def drifted_costs(query: Query) -> Any:
    """Costs whose shape changed: the amount's value became a string, the day an ISO date."""
    drifted = {"object": "organization.costs.result", "amount": {"value": "1.5", "currency": "usd"}}
    bucket = {**hostile._bucket(query, [drifted]), "start_time": "2026-11-29"}
    return hostile.answer({"object": "page", "has_more": False, "next_page": None, "data": [bucket]})


def drifted_credits(query: Query) -> Any:
    return hostile.answer({"data": {"credits": "100", "used": "25"}})


def _credits(query: Query) -> Any:
    return hostile.default_behaviours()["/credits"](query)


# (kind, path scripted, its behaviour, the endpoint that must fail, what its error must say)
COSTS, SHAPE, JSON = "/organization/costs", "unexpected response shape", "not valid JSON"
Case = tuple[str, str, Callable[[], Behaviour], str, str]
CASES: list[Case] = [
    ("timeout", "/credits", lambda: hostile.slow(_credits, 3), "openrouter/credits", "1 s request deadline"),
    ("5xx-storm", "/organization/costs", lambda: status(503), "openai/costs", "503"),
    ("429-storm", "/keys", lambda: hostile.retry_after(60), "openrouter/keys", "Retry-After 60s"),
    ("truncated-json", COSTS, lambda: truncated(hostile.cost_page), "openai/costs", JSON),
    ("truncated-json", "/credits", lambda: truncated(_credits), "openrouter/credits", JSON),
    ("schema-drift", COSTS, lambda: drifted_costs, "openai/costs", SHAPE),
    ("schema-drift", "/credits", lambda: drifted_credits, "openrouter/credits", SHAPE),
    ("403", "/organization/usage/completions", lambda: status(403), "openai/usage/completions", "403"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "path", "make", "endpoint", "says"), CASES, ids=[f"{c[0]}:{c[1]}" for c in CASES]
)
def test_a_failing_endpoint_is_reported_and_the_last_good_data_stays(
    store: Engine,
    provider: HostileProvider,
    kind: str,
    path: str,
    make: Callable[[], Behaviour],
    endpoint: str,
    says: str,
) -> None:
    polls = Polls(store, provider)
    for _ in range(2):  # the backfill, then the incremental window every later poll asks for
        first = polls.poll()
        assert first.ok, _statuses(first)
    good = polls.shown()
    assert good["providers"] and good["balance"] != "None"

    provider.behaviours[path] = make()
    failed = polls.poll()
    statuses = _statuses(failed)
    state, error = statuses.pop(endpoint)
    assert state is (PollStatus.PERMISSION_DENIED if kind == "403" else PollStatus.ERROR), (kind, error)
    assert error is not None and says in error, error
    for other, (other_state, other_error) in statuses.items():
        if kind == "429-storm" and other.startswith("openrouter/"):
            continue  # a provider still throttling after the retries is not asked again this poll
        assert other_state is PollStatus.OK, (other, other_error)
    assert _kept(polls.shown(), endpoint) == _kept(good, endpoint)  # nothing bad stored, nothing good lost
    health = {(e.provider, e.endpoint): e for e in polls.service.health(polls.now).endpoints}
    shown = health[tuple(endpoint.split("/", 1))]  # type: ignore[index]
    assert shown.last_status == str(state)

    provider.behaviours[path] = hostile.default_behaviours()[path]
    recovered = polls.poll()
    assert recovered.ok, _statuses(recovered)


def test_a_short_5xx_burst_is_absorbed_by_the_retries(store: Engine, provider: HostileProvider) -> None:
    polls = Polls(store, provider)
    assert polls.poll().ok
    good = polls.shown()
    burst = itertools.count()
    costs = hostile.cost_page

    def flaky(query: Query) -> Any:
        return status(502)(query) if next(burst) < 2 else costs(query)

    provider.behaviours["/organization/costs"] = flaky
    summary = polls.poll()
    assert summary.ok, _statuses(summary)
    assert len(polls.waits) == 2 and all(0 < wait <= 8.5 for wait in polls.waits), polls.waits
    assert polls.shown() == good


def test_a_429_storm_waits_what_the_provider_asks_within_the_poll_budget(
    store: Engine, provider: HostileProvider
) -> None:
    polls = Polls(store, provider)
    assert polls.poll().ok
    provider.behaviours["/credits"] = hostile.retry_after(5)
    summary = polls.poll()
    state, error = _statuses(summary)["openrouter/credits"]
    assert state is PollStatus.ERROR and error is not None and "429" in error, error
    assert polls.waits and all(wait == 5 for wait in polls.waits), polls.waits
