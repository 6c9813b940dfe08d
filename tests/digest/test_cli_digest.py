"""``aispend digest``: dry run in the terminal with the chart on disk; posting once; clear refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aispend.cli import main
from aispend.clock import utcnow
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.digest.chart import PNG_SIGNATURE
from aispend.digest.weeks import report_week
from tests.fakes.fake_slack import FakeSlack

CONFIG = """
timezone: Europe/Berlin
projects:
  - name: search
    owner: U0SEARCH01
    monthly_budget_usd: 2500
    openai_projects: [search]
    openrouter_keys: [search-prod]
"""
DIGEST = """
digest:
  channel: C0DIGEST01
  weekday: mon
  time: "00:00"
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    dataset = Dataset.generate(utcnow().date())
    for name in ("SLACK_BOT_TOKEN", "SLACK_API_URL", "OPENAI_ADMIN_KEY", "OPENROUTER_MANAGEMENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path / "aispend.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    (tmp_path / "aispend.yaml").write_text(CONFIG, encoding="utf-8")
    with SimulatedProviders(dataset) as providers:
        for key, value in providers.environ().items():
            monkeypatch.setenv(key, value)
        assert main(["poll"]) == 0
    yield tmp_path


def test_dry_run_prints_the_digest_and_writes_the_chart(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    chart = env / "chart.png"
    assert main(["digest", "--dry-run", "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    week = report_week(utcnow())
    assert f"week {week.week}" in out and "nothing posted" in out
    assert f"chart written to {chart}" in out
    assert chart.read_bytes().startswith(PNG_SIGNATURE)


def test_posting_needs_a_digest_section_and_a_token(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["digest"]) == 2
    assert "no `digest:` section" in capsys.readouterr().err
    (env / "aispend.yaml").write_text(CONFIG + DIGEST, encoding="utf-8")
    assert main(["digest"]) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err


def test_digest_posts_once(
    env: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (env / "aispend.yaml").write_text(CONFIG + DIGEST, encoding="utf-8")
    fake = FakeSlack().start()
    try:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_API_URL", fake.api_url)
        capsys.readouterr()
        assert main(["digest"]) == 0
        assert "posted to C0DIGEST01" in capsys.readouterr().out
        assert main(["digest"]) == 0
        assert "already posted" in capsys.readouterr().out
        assert len(fake.calls("/api/chat.postMessage")) == 1
    finally:
        fake.stop()
