"""``aispend alerts [--dry-run]`` end to end: simulated providers, a real store, the fake Slack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aispend.cli import main
from aispend.clock import utcnow
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from tests.fakes.fake_slack import FakeSlack

CONFIG = """
alert_channel: C0ALERTS
openrouter:
  low_credit_usd: 100000000
projects:
  - name: search
    owner: U0SEARCH01
    channel: C0SEARCH
    monthly_budget_usd: 1
    openai_projects: [search]
    openrouter_keys: [search-prod]
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSlack]:
    config = tmp_path / "aispend.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    for name in ("OPENAI_ADMIN_KEY", "OPENROUTER_MANAGEMENT_KEY", "SLACK_BOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AISPEND_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    fake = FakeSlack().start()
    monkeypatch.setenv("SLACK_API_URL", fake.api_url)
    with SimulatedProviders(Dataset.generate(utcnow().date())) as providers:
        for key, value in providers.environ().items():
            monkeypatch.setenv(key, value)
        yield fake
    fake.stop()


def test_dry_run_posts_nothing_then_a_real_run_posts_once(
    env: FakeSlack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["poll"]) == 0
    capsys.readouterr()
    assert main(["alerts", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would post → C0SEARCH" in out and "would post → C0ALERTS" in out
    assert "OpenRouter credits are low" in out
    assert env.calls("/api/chat.postMessage") == []
    assert main(["alerts"]) == 2  # no token: a clear usage error
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    assert main(["alerts"]) == 0
    sent = capsys.readouterr().out.count("sent: post")
    posted = env.calls("/api/chat.postMessage")
    assert sent == len(posted) >= 2
    assert main(["alerts"]) == 0
    assert "sent:" not in capsys.readouterr().out
    assert len(env.calls("/api/chat.postMessage")) == len(posted)
    assert main(["alerts", "--dry-run"]) == 0
    assert "nothing would be posted" in capsys.readouterr().out
