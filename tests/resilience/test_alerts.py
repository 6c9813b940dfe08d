"""Alerts through the real poll job (``Runtime.poll``: poll, evaluate, deliver) on PostgreSQL.

The runtime is ``aispend serve``'s own (``build_runtime``), against the hostile provider and a fake
Slack; only its clock moves by hand (the poller's too), so "three failed poll intervals" takes no
wall time. Retry sleeps of the provider clients are recorded, not slept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from aispend.clock import utcnow
from aispend.config import parse_config
from aispend.ingest import Poller
from aispend.providers.limits import Limits
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.serve import Runtime, build_runtime
from aispend.settings import Settings
from tests.fakes.fake_slack import FakeSlack
from tests.hostile import server as hostile
from tests.hostile.server import HostileProvider

INTERVAL = timedelta(minutes=15)
CHANNEL = "C0ALERTS"


class Clock:
    def __init__(self) -> None:
        self.now = utcnow().replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runtime(
    pg_store: str, provider: HostileProvider, fake_slack: FakeSlack, clock: Clock
) -> Iterator[Runtime]:
    settings = Settings.model_validate(
        provider.environ()
        | {
            "DATABASE_URL": pg_store,
            "SLACK_BOT_TOKEN": "xoxb-resilience",
            "SLACK_SIGNING_SECRET": "resilience-secret",
            "SLACK_API_URL": fake_slack.api_url,
        }
    )
    config = parse_config(
        {
            "timezone": "UTC",
            "poll_interval_minutes": 15,
            "alert_channel": CHANNEL,
            "openrouter": {"low_credit_usd": 10, "low_runway_days": 1},
            "projects": [
                {"name": "hostile", "openai_projects": ["proj_hostile"], "openrouter_keys": ["hostile-key"]}
            ],
        }
    )
    built = build_runtime(settings, config)
    assert built.engine is not None
    limits = Limits(request_seconds=2.0, poll_seconds=30.0)
    options: dict[str, Any] = {"limits": limits, "sleep": lambda _seconds: None}
    built.clock = clock
    built.poller = Poller(
        built.engine,
        openai=OpenAIClient(hostile.ADMIN_KEY, provider.base_url, **options),
        openrouter=OpenRouterClient(hostile.MANAGEMENT_KEY, provider.base_url, **options),
        backfill_days=3,
        clock=clock,
        limits=limits,
    )
    yield built
    built.engine.dispose()


def posted(fake_slack: FakeSlack, words: str) -> list[dict[str, Any]]:
    """Top-level alert messages Slack accepted whose text mentions ``words``."""
    found = []
    for call in fake_slack.calls("/api/chat.postMessage"):
        data = call.data
        if call.status == 200 and "thread_ts" not in data and words in json.dumps(data):
            found.append(data)
    return found


def test_stale_data_fires_after_three_failed_intervals_and_resolves_on_recovery(
    runtime: Runtime, provider: HostileProvider, fake_slack: FakeSlack, clock: Clock
) -> None:
    start = clock.now
    summary = runtime.poll()
    assert summary is not None and summary.ok
    provider.behaviours["/organization/costs"] = lambda q: hostile.answer(
        {"error": {"message": "down"}}, status=503
    )
    for failed in (1, 2, 3):
        clock.now = start + failed * INTERVAL + timedelta(seconds=5)
        summary = runtime.poll()
        assert summary is not None and not summary.ok
        stale = posted(fake_slack, "openai/costs")
        # fires once the endpoint has had no success for more than 3 intervals, not before
        assert len(stale) == (1 if failed == 3 else 0), (failed, stale)
    assert stale[0]["channel"] == CHANNEL
    # only that endpoint: names (hourly) and /activity (daily) are not stale for being quiet
    assert runtime.metrics.value("aispend_alerts_sent_total", rule="stale_data") == 1
    assert runtime.metrics.value("aispend_alerts_sent_total", rule="stale_data") == 1

    clock.now = start + 3 * INTERVAL + timedelta(minutes=5)  # still failing: no second post
    runtime.poll()
    assert len(posted(fake_slack, "openai/costs")) == 1

    provider.behaviours["/organization/costs"] = hostile.cost_page
    clock.now = start + 4 * INTERVAL
    summary = runtime.poll()
    assert summary is not None and summary.ok
    assert runtime.metrics.value("aispend_alerts_resolved_total", rule="stale_data") == 1
    assert fake_slack.calls("/api/chat.update"), "the alert message is updated to resolved"
    assert len(posted(fake_slack, "openai/costs")) == 1


def test_alerts_owed_while_slack_is_down_are_delivered_once_after_it_recovers(
    runtime: Runtime, provider: HostileProvider, fake_slack: FakeSlack, clock: Clock
) -> None:
    start = clock.now
    assert runtime.poll() is not None
    assert posted(fake_slack, "low") == []
    # the balance falls under the line while Slack answers 503 to everything
    provider.behaviours["/credits"] = lambda q: hostile.answer(
        {"data": {"total_credits": 100, "total_usage": 95}}
    )
    fake_slack.fail_next["chat.postMessage"] = [503] * 50
    clock.now = start + INTERVAL
    runtime.poll()
    assert runtime.metrics.value("aispend_slack_errors_total", where="alert_delivery") >= 1
    assert runtime.metrics.value("aispend_alerts_sent_total", rule="low_credits") == 0
    assert all(call.status != 200 for call in fake_slack.calls("/api/chat.postMessage"))

    fake_slack.fail_next.clear()  # Slack is back
    for tick in (2, 3, 4):
        clock.now = start + tick * INTERVAL
        runtime.poll()
    delivered = [d for d in posted(fake_slack, "credit") if d["channel"] == CHANNEL]
    assert len(delivered) == 1, delivered
    assert runtime.metrics.value("aispend_alerts_sent_total", rule="low_credits") == 1
