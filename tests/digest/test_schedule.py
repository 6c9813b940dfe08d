"""The digest on the scheduler: a CronTrigger in the team's zone, and posted after a poll when due."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from aispend.clock import utcnow
from aispend.config import parse_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.scheduler import DIGEST_MISFIRE_GRACE, LeaderLock, build_scheduler
from aispend.serve import build_runtime
from aispend.settings import Settings
from tests.fakes.fake_slack import FakeSlack

DIGEST = {"channel": "C0DIGEST01", "weekday": "fri", "time": "16:30"}


def test_the_digest_job_is_a_cron_trigger_in_the_team_zone(engine: Engine) -> None:
    config = parse_config({"timezone": "America/New_York", "digest": DIGEST})
    lock = LeaderLock(engine, key=random.getrandbits(48))
    ran: list[str] = []
    scheduler = build_scheduler(config, poll=lambda: None, lock=lock, digest=lambda: ran.append("digest"))
    job = scheduler.get_job("weekly_digest")
    assert job is not None and isinstance(job.trigger, CronTrigger)
    assert str(job.trigger.timezone) == "America/New_York"
    fields = {f.name: str(f) for f in job.trigger.fields}
    assert (fields["day_of_week"], fields["hour"], fields["minute"]) == ("fri", "16", "30")
    assert job.coalesce is True and job.max_instances == 1
    assert job.misfire_grace_time == DIGEST_MISFIRE_GRACE
    # With a poll job, the catch-up runs after each poll instead of a separate start-up job.
    assert scheduler.get_job("weekly_digest_catch_up") is None
    fire = job.trigger.get_next_fire_time(None, datetime(2026, 11, 23, tzinfo=UTC))
    assert fire == datetime(2026, 11, 27, 21, 30, tzinfo=UTC)  # Friday 16:30 in New York
    try:
        job.func()
    finally:
        lock.release()
    assert ran == ["digest"]


def test_without_a_poll_job_the_digest_catches_up_at_start(engine: Engine) -> None:
    config = parse_config({"digest": DIGEST})
    lock = LeaderLock(engine, key=random.getrandbits(48))
    scheduler = build_scheduler(config, poll=None, lock=lock, digest=lambda: None)
    assert scheduler.get_job("poll") is None
    assert scheduler.get_job("weekly_digest_catch_up") is not None
    assert build_scheduler(parse_config({}), poll=None, lock=lock, digest=lambda: None).get_jobs() == []


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_a_started_bot_posts_the_due_digest_after_its_first_poll_once(
    tmp_path: Path, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = Dataset.generate(utcnow().date())
    config = parse_config(
        {
            "digest": DIGEST,
            "projects": [
                {"name": "search", "openai_projects": ["search"], "openrouter_keys": ["search-prod"]}
            ],
        }
    )
    with SimulatedProviders(dataset) as providers:
        for key, value in providers.environ().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "secret")
        monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
        runtime = build_runtime(Settings(), config)
        assert runtime.digest is not None and runtime.scheduler.get_job("weekly_digest") is not None
        runtime.poll()
        fake_slack.wait_for("/api/chat.postMessage")
        fake_slack.wait_for("/api/files.completeUploadExternal")
        runtime.poll()
        runtime.post_digest()  # the scheduled job at its time: the week is already out
    assert len(fake_slack.calls("/api/chat.postMessage")) == 1
    assert len(fake_slack.calls("/api/files.completeUploadExternal")) == 1
    assert "aispend_digests_posted_total 1.0" in runtime.metrics.render().decode()
