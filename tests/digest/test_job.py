"""Posting the weekly digest against a polled store and the fake Slack Web API on loopback.

The store is seeded the production way (a poll of the simulated providers); expected figures are
summed from the stored rows with SQL, not hard-coded.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, delete, func, select

from aispend.config import Config, parse_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.digest.chart import PNG_SIGNATURE
from aispend.digest.job import DigestPoster, weekly_digest
from aispend.digest.weeks import IsoWeek
from aispend.ingest import Poller
from aispend.money import from_nanos
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.service import SpendService
from aispend.slack.client import make_web_client
from aispend.slack.gateway import SlackGateway
from aispend.store import digests
from aispend.store.engine import open_store
from aispend.store.models import DigestPost, OpenAICostDaily, OpenRouterActivityDaily, SpendDay, table_of
from aispend.terminal import render_blocks
from tests.fakes.fake_slack import FakeSlack

POLLED_AT = datetime(2026, 11, 25, 12, 30, tzinfo=UTC)  # a Wednesday: week 47 is complete
WEEK = IsoWeek(2026, 47)
SCHEDULED = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 09:00 in Berlin
CHANNEL = "C0DIGEST01"


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.generate(POLLED_AT.date())


@pytest.fixture(scope="module")
def config(dataset: Dataset) -> Config:
    return parse_config(
        {
            "timezone": "Europe/Berlin",
            "digest": {"channel": CHANNEL, "weekday": "mon", "time": "09:00"},
            "projects": [
                {
                    "name": "search",
                    "owner": "U0SEARCH01",
                    "monthly_budget_usd": 2000,
                    "openai_projects": ["search"],
                    "openrouter_keys": ["search-prod"],
                },
                {"name": "support", "owner": "U0SUPPORT1", "openai_projects": ["support-bot"]},
                {"name": "labs", "owner": "U0LABS0001", "openrouter_keys": ["eval-batch"]},
            ],
        }
    )


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, dataset: Dataset) -> Iterator[Engine]:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('digest') / 'store.db'}")
    with SimulatedProviders(dataset) as providers:
        summary = Poller(
            engine,
            openai=OpenAIClient(providers.openai.admin_key, providers.openai.base_url),
            openrouter=OpenRouterClient(providers.openrouter.management_key, providers.openrouter.base_url),
            clock=lambda: POLLED_AT,
        ).poll()
    assert summary.ok, summary.errors
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def poster(store: Engine, config: Config, slack: FakeSlack) -> DigestPoster:
    slack.reset()
    with store.begin() as conn:
        conn.execute(delete(table_of(DigestPost)))
    return _poster(store, config, slack)


def _poster(store: Engine, config: Config, slack: FakeSlack) -> DigestPoster:
    gateway = SlackGateway(make_web_client("xoxb-test", slack.api_url))
    return DigestPoster(store, SpendService(store, config), gateway, config)


def _sum(engine: Engine, query: object) -> Decimal:
    with engine.connect() as conn:
        return from_nanos(int(conn.execute(query).scalar_one() or 0))  # type: ignore[call-overload]


def _posted(slack: FakeSlack, method: str) -> int:
    return sum(1 for r in slack.calls(f"/api/{method}") if r.status == 200)


def test_the_digest_figures_equal_the_stores(poster: DigestPoster, store: Engine, dataset: Dataset) -> None:
    digest = poster.render(WEEK, POLLED_AT).digest
    day = table_of(SpendDay).c
    in_week = (day.day >= WEEK.start, day.day <= WEEK.end)
    for provider in ("openai", "openrouter"):
        stored = _sum(store, select(func.sum(day.amount_nanos)).where(day.provider == provider, *in_week))
        assert stored > 0
        assert digest.by_provider[provider].now == stored
    before = WEEK.previous()
    stored_before = _sum(
        store, select(func.sum(day.amount_nanos)).where(day.day >= before.start, day.day <= before.end)
    )
    assert digest.total.before == stored_before

    costs = table_of(OpenAICostDaily).c
    activity = table_of(OpenRouterActivityDaily).c
    search_id = next(p.id for p in dataset.openai_projects if p.name == "search")
    search_hash = dataset.openrouter_key("search-prod").hash
    expected = _sum(
        store,
        select(func.sum(costs.amount_nanos)).where(
            costs.project_id == search_id, costs.day >= WEEK.start, costs.day <= WEEK.end
        ),
    ) + _sum(
        store,
        select(func.sum(activity.usage_nanos)).where(
            activity.key_hash == search_hash, activity.day >= WEEK.start, activity.day <= WEEK.end
        ),
    )
    by_project = {p.project: p.spend.now for p in digest.projects}
    assert by_project["search"] == expected
    assert sum(by_project.values(), Decimal(0)) + digest.unattributed.now == digest.total.now
    assert not digest.provisional_days  # /activity covered the whole week when it was polled


def test_the_digest_is_posted_once_per_week_with_its_chart(poster: DigestPoster, slack: FakeSlack) -> None:
    outcome = weekly_digest(poster, lambda: SCHEDULED)
    assert (outcome.week, outcome.status, outcome.file_id) == (WEEK, "posted", "F0FAKE")
    assert _posted(slack, "chat.postMessage") == 1
    post = slack.calls("/api/chat.postMessage")[0].data
    assert post["channel"] == CHANNEL and "week 47" in post["text"]
    # files_upload_v2: the upload URL, the bytes to it, then the share into the channel.
    assert _posted(slack, "files.getUploadURLExternal") == 1
    (upload,) = slack.calls("/upload/F0FAKE")
    assert upload.body.startswith(PNG_SIGNATURE)
    (complete,) = slack.calls("/api/files.completeUploadExternal")
    assert complete.data["channel_id"] == CHANNEL

    for later in (SCHEDULED + timedelta(minutes=1), SCHEDULED + timedelta(days=6, hours=23)):
        assert weekly_digest(poster, lambda at=later: at).status == "already_posted"  # type: ignore[misc]
    assert len(slack.requests) == 4  # nothing more was sent
    record = digests.find_week(poster._engine, WEEK.label)
    assert record is not None and record.status == "posted" and record.message_ts == outcome.message_ts


def test_a_missed_schedule_is_caught_up_once(
    poster: DigestPoster, store: Engine, config: Config, slack: FakeSlack
) -> None:
    started = SCHEDULED + timedelta(days=2, hours=3)  # the bot was down on Monday, back on Wednesday
    assert weekly_digest(poster, lambda: started).status == "posted"
    other_replica = _poster(store, config, slack)
    assert weekly_digest(other_replica, lambda: started + timedelta(minutes=5)).status == "already_posted"
    assert weekly_digest(poster, lambda: started + timedelta(hours=1)).status == "already_posted"
    assert _posted(slack, "chat.postMessage") == 1
    # The next week's digest is due at the next occurrence, not before.
    assert weekly_digest(poster, lambda: SCHEDULED + timedelta(days=7) - timedelta(seconds=1)).status == (
        "already_posted"
    )


def test_a_failed_post_is_retried_on_the_next_run_and_posted_once(
    poster: DigestPoster, slack: FakeSlack
) -> None:
    slack.rate_limit_next["chat.postMessage"] = 3  # more than the client's two retries
    failed = poster.post_due(SCHEDULED)
    assert failed.status == "failed" and failed.error is not None and "ratelimited" in failed.error
    assert _posted(slack, "chat.postMessage") == 0
    assert poster.post_due(SCHEDULED + timedelta(minutes=15)).status == "posted"
    assert _posted(slack, "chat.postMessage") == 1
    record = digests.find_week(poster._engine, WEEK.label)
    assert record is not None and record.attempts == 2 and record.error is None


def test_a_failed_chart_upload_does_not_repost_the_message(poster: DigestPoster, slack: FakeSlack) -> None:
    slack.rate_limit_next["files.getUploadURLExternal"] = 3
    assert poster.post_due(SCHEDULED).status == "failed"
    assert poster.post_due(SCHEDULED + timedelta(minutes=15)).status == "posted"
    assert _posted(slack, "chat.postMessage") == 1
    assert _posted(slack, "files.completeUploadExternal") == 1


def test_a_crash_between_claim_and_post_is_posted_later_once(poster: DigestPoster, slack: FakeSlack) -> None:
    dead = digests.claim_week(
        poster._engine, WEEK.label, CHANNEL, "dead-replica", SCHEDULED, timedelta(minutes=10)
    )
    assert dead is not None  # ...and that process died before posting
    assert poster.post_due(SCHEDULED + timedelta(minutes=5)).status == "busy"
    assert len(slack.requests) == 0
    assert poster.post_due(SCHEDULED + timedelta(minutes=15)).status == "posted"
    assert poster.post_due(SCHEDULED + timedelta(minutes=30)).status == "already_posted"
    assert _posted(slack, "chat.postMessage") == 1


def test_an_empty_week_posts_one_line_and_no_chart(poster: DigestPoster, slack: FakeSlack) -> None:
    quiet = IsoWeek(2026, 30)  # before the backfilled history
    outcome = poster.post_week(quiet, POLLED_AT)
    assert outcome.status == "posted" and outcome.file_id is None
    (post,) = slack.calls("/api/chat.postMessage")
    assert len(post.data["blocks"]) == 1
    assert post.data["text"].startswith("No AI spend recorded in week 30")
    assert not slack.calls("/api/files.getUploadURLExternal")


def test_a_never_polled_store_renders_unknown_not_zero_and_leaves_unconfigured_providers_out(
    tmp_path_factory: pytest.TempPathFactory, config: Config
) -> None:
    engine = open_store(f"sqlite:///{tmp_path_factory.mktemp('never') / 'store.db'}")
    try:
        service = SpendService(engine, config, providers=("openai",))
        rendered = DigestPoster(engine, service, None, config).render(IsoWeek(2026, 47), POLLED_AT)
    finally:
        engine.dispose()
    assert rendered.digest.missing.keys() == {"openai"} and not rendered.digest.empty
    text = render_blocks(rendered.message.blocks)
    assert "OpenAI figures unknown: not polled yet" in text
    assert "$0.00" not in text and "$0.00" not in rendered.message.text
    assert "OpenRouter" not in text
    assert rendered.chart is None  # a chart without one known figure would only show empty bars
