"""``aispend serve`` wiring: settings in, the production app out, driven over loopback fakes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import create_engine, text

from aispend.clock import utcnow
from aispend.config import parse_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.ingest import PollSummary
from aispend.records import OpenRouterCredits
from aispend.serve import Runtime, ServeError, build_runtime
from aispend.settings import Settings
from aispend.store import reads, writes
from aispend.store.engine import session_scope
from tests.fakes.asgi_server import serve_in_thread
from tests.fakes.fake_slack import FakeSlack

SECRET = "serve-signing-secret"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body) or "",
    }


def test_runtime_polls_and_answers_from_the_store(
    tmp_path: Path, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = Dataset.generate(utcnow().date())
    config = parse_config(
        {"projects": [{"name": "search", "openai_projects": ["search"], "openrouter_keys": ["search-prod"]}]}
    )
    with SimulatedProviders(dataset) as providers:
        for key, value in providers.environ().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
        monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
        runtime = build_runtime(Settings(), config)
        assert runtime.scheduler.get_job("poll") is not None
        with serve_in_thread(runtime.web) as url, httpx.Client(base_url=url) as client:
            assert client.get("/readyz").json()["last_poll_at"] is None
            ancient = plant_an_ancient_snapshot(runtime)
            summary = runtime.poll()
            assert summary is not None and summary.ok
            check_pruned(runtime, ancient)
            check_answers(client, fake_slack)
            check_metrics(runtime, summary)


def plant_an_ancient_snapshot(runtime: Runtime) -> datetime:
    """A credit snapshot older than the retention (README "Retention"), for the poll job to prune."""
    assert runtime.engine is not None and runtime.config is not None
    engine = runtime.engine
    taken_at = utcnow() - timedelta(days=runtime.config.retention_days + 1)
    with session_scope(engine) as session:
        writes.record_openrouter_credits(session, OpenRouterCredits(Decimal(10), Decimal(1)), taken_at)
    return taken_at


def check_pruned(runtime: Runtime, ancient: datetime) -> None:
    assert runtime.engine is not None
    with session_scope(runtime.engine) as session:
        kept = [s.taken_at for s in reads.credit_snapshots(session, ancient - timedelta(days=1))]
    assert kept and min(kept) > ancient  # the poll job pruned it and kept the poll's own snapshot


def check_metrics(runtime: Runtime, summary: PollSummary) -> None:
    """/metrics carries what the poll did and the figures the store now holds."""
    metrics = runtime.metrics
    for result in summary.results:
        labels = {"provider": str(result.provider), "endpoint": result.endpoint}
        assert metrics.value("aispend_polls_total", outcome="ok", **labels) >= 1
        assert metrics.value("aispend_poll_last_success_timestamp_seconds", **labels) > 0
    written = sum(r.count.inserted + r.count.updated + r.count.deleted for r in summary.results)
    exposed = sum(
        sample.value
        for family in text_string_to_metric_families(metrics.render().decode())
        if family.name == "aispend_rows_written"
        for sample in family.samples
        if sample.name == "aispend_rows_written_total"
    )
    assert exposed == written > 0
    now = utcnow()
    search = runtime.service.project_report("search", now)
    assert search is not None
    assert metrics.value("aispend_project_spend_usd", project="search") == pytest.approx(float(search.total))
    balance = runtime.service.runway(now).balance
    assert balance is not None
    assert metrics.value("aispend_openrouter_balance_usd") == pytest.approx(float(balance))


def check_answers(client: httpx.Client, fake_slack: FakeSlack) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    body = urlencode(
        {"command": "/aispend", "text": "project search", "user_id": "U0ANYONE", "team_id": "T1",
         "channel_id": "C1", "response_url": fake_slack.response_url(), "trigger_id": "1.2.3"}
    )  # fmt: skip
    answer = client.post("/slack/events", content=body, headers=signed(body))
    assert answer.status_code == 200
    assert "search" in answer.text and "$" in answer.text
    assert "aispend_slack_commands_total" in client.get("/metrics").text
    forged = client.post(
        "/slack/events", content=body, headers={**signed(body), "x-slack-signature": "v0=00"}
    )
    assert forged.status_code == 401


def test_runtime_requires_the_slack_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    with pytest.raises(ServeError, match="SLACK_SIGNING_SECRET"):
        build_runtime(Settings(), parse_config({}))
    with pytest.raises(ServeError, match="SLACK_APP_TOKEN"):
        build_runtime(Settings(), parse_config({}), socket_mode=True)


def test_readiness_follows_the_schema_and_liveness_the_scheduler(
    tmp_path: Path, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A database migrated past this release, or a scheduler that stopped, is visible to the
    orchestrator: /readyz and /healthz answer 503 with the reason."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-not-used-here")
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
    runtime = build_runtime(Settings(), parse_config({}))
    with serve_in_thread(runtime.web) as url, httpx.Client(base_url=url) as client:
        assert client.get("/readyz").status_code == 200  # never polled, but just started
        with create_engine(f"sqlite:///{tmp_path / 'serve.db'}").begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'from_a_newer_release'"))
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "migrations" in ready.json()["reasons"][0]
        runtime.scheduler.start(paused=True)
        runtime.started = True
        assert client.get("/healthz").status_code == 200
        runtime.scheduler.shutdown(wait=False)
        alive = client.get("/healthz")
        assert alive.status_code == 503 and alive.json()["reason"] == "the poll scheduler stopped"
