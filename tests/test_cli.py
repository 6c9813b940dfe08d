"""The command line end to end: simulated providers over loopback, a real store, real output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from aispend.cli import main
from aispend.clock import month_start, utcnow
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders

CONFIG = """
timezone: Europe/Berlin
projects:
  - name: search
    owner: U0SEARCH01
    monthly_budget_usd: 2500
    openai_projects: [search]
    openrouter_keys: [search-prod]
  - name: support
    openai_projects: [support-bot]
"""


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, Dataset]]:
    dataset = Dataset.generate(utcnow().date())
    config = tmp_path / "aispend.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    for name in ("OPENAI_ADMIN_KEY", "OPENROUTER_MANAGEMENT_KEY", "DATABASE_URL", "AISPEND_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AISPEND_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    with SimulatedProviders(dataset) as providers:
        for key, value in providers.environ().items():
            monkeypatch.setenv(key, value)
        yield tmp_path, dataset


def test_poll_then_spend_json_gives_exact_decimal_strings(
    env: tuple[Path, Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    _, dataset = env
    assert main(["poll"]) == 0
    assert "costs" in capsys.readouterr().out
    assert main(["spend", "SEARCH", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) >= {
        "project", "month", "as_of", "owner", "total_usd", "budget_usd", "forecast_usd", "pace",
        "by_provider", "by_model", "provisional_since",
    }  # fmt: skip
    today = utcnow().date()
    search_id = next(p.id for p in dataset.openai_projects if p.name == "search")
    first = month_start(today)
    assert report["project"] == "search" and report["budget_usd"] == "2500"
    assert isinstance(report["total_usd"], str)
    assert report["by_provider"]["openai"] == str(
        dataset.openai_cost_total(first, today + timedelta(days=1), project_id=search_id).normalize()
    ) or report["by_provider"]["openai"] == format(
        dataset.openai_cost_total(first, today + timedelta(days=1), project_id=search_id), "f"
    )
    assert all(isinstance(m["usd"], str) for m in report["by_model"])

    assert main(["spend", "--json"]) == 0
    everything = json.loads(capsys.readouterr().out)
    assert [p["project"] for p in everything["projects"]] == ["search", "support"]
    assert set(everything["unattributed"]) >= {"openai", "openrouter"}
    assert all(isinstance(m["delta_usd"], str) for m in everything["movers"])

    assert main(["credits", "--json"]) == 0
    credits = json.loads(capsys.readouterr().out)
    assert credits["balance_usd"] == format(dataset.openrouter_credits.balance, "f")


def test_unknown_project_and_bad_month_exit_2(
    env: tuple[Path, Dataset], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["spend", "nope"]) == 2
    assert "unknown project 'nope' (projects: search, support)" in capsys.readouterr().err
    assert main(["spend", "--month", "2026-13"]) == 2
    assert "month must look like 2026-11" in capsys.readouterr().err


def test_check_lists_every_problem_with_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "projects:\n  - name: a\n    monthly_budget_usd: 0\n"
        "  - name: b\n    monthly_budget_usd: -1\n    colour: red\n"
    )
    monkeypatch.setenv("AISPEND_CONFIG", str(bad))
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert "projects[0].monthly_budget_usd: must be > 0" in err
    assert "projects[1].monthly_budget_usd: must be > 0" in err
    assert "projects[1].colour: unknown key" in err


def test_check_keys_probes_permissions(env: tuple[Path, Dataset], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--keys"]) == 0
    out = capsys.readouterr().out
    assert "OpenAI costs (api.usage.read): ok" in out and "OpenRouter credits (management key): ok" in out


def test_check_keys_reports_a_key_without_permission(
    env: tuple[Path, Dataset], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-proj-simulated")  # a project key lacks api.usage.read
    assert main(["check", "--keys"]) == 1
    out = capsys.readouterr().out
    assert "no permission" in out and "sk-proj-simulated" not in out


def test_poll_without_keys_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "aispend.yaml").write_text("projects: []\n")
    monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path / "aispend.yaml"))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    monkeypatch.delenv("OPENROUTER_MANAGEMENT_KEY", raising=False)
    assert main(["poll"]) == 2
    assert "OPENAI_ADMIN_KEY" in capsys.readouterr().err


def test_a_malformed_database_url_is_a_configuration_error_that_never_echoes_the_password(
    env: tuple[Path, Dataset], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "not a url with s3cret")
    assert main(["spend"]) == 2
    err = capsys.readouterr().err
    assert "DATABASE_URL is not a database URL: use sqlite:///" in err and "s3cret" not in err
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://u:s3cret@localhost:port/db")
    assert main(["spend"]) == 2
    assert "s3cret" not in capsys.readouterr().err


def test_serve_without_slack_settings_exits_2(
    env: tuple[Path, Dataset], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert main(["serve"]) == 2
    assert "SLACK_BOT_TOKEN" in capsys.readouterr().err
