"""One provider id claimed twice under different spellings: by id in one project and by name in
another (or by two spellings of its name). The literal check cannot see it; ``aispend check``
resolves names to ids from the stored names (after a poll) or by asking the providers
(``--keys``), and reports it with both places, exit code 2, instead of letting the second project
silently take all the spend.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from aispend.cli import main
from aispend.clock import utcnow
from aispend.config import load_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.serve import build_runtime
from aispend.settings import Settings
from tests.fakes.fake_slack import FakeSlack


@pytest.fixture
def dataset() -> Dataset:
    return Dataset.generate(utcnow().date())


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dataset: Dataset) -> Iterator[Path]:
    for name in ("OPENAI_ADMIN_KEY", "OPENROUTER_MANAGEMENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "aispend.yaml"
    monkeypatch.setenv("AISPEND_CONFIG", str(config))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'claims.db'}")
    with SimulatedProviders(dataset) as providers:
        for key, value in providers.environ().items():
            monkeypatch.setenv(key, value)
        yield config


def _config(search_project: str, other_project: str, search_key: str, other_key: str) -> str:
    return (
        "projects:\n"
        f"  - name: search\n    openai_projects: [{search_project}]\n    openrouter_keys: [{search_key}]\n"
        f"  - name: growth\n    openai_projects: [{other_project}]\n    openrouter_keys: [{other_key}]\n"
    )


def _ids(dataset: Dataset) -> tuple[str, str]:
    project_id = next(p.id for p in dataset.openai_projects if p.name == "search")
    key_hash = next(k.hash for k in dataset.openrouter_keys if k.name == "search-prod")
    return project_id, key_hash


def _expected(project_id: str, key_hash: str) -> list[str]:
    return [
        f"  projects[1].openai_projects[0]: '{project_id}' is the same OpenAI project ({project_id}, named "
        "'search') as 'search' in projects[0].openai_projects[0] (project 'search'); all its spend would "
        "go to 'growth': claim it in one project only",
        f"  projects[1].openrouter_keys[0]: '{key_hash}' is the same OpenRouter key ({key_hash}, named "
        "'search-prod') as 'search-prod' in projects[0].openrouter_keys[0] (project 'search'); all its "
        "spend would go to 'growth': claim it in one project only",
    ]


def test_check_reports_an_id_and_its_name_in_two_projects_from_the_stored_names(
    env: Path, dataset: Dataset, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    project_id, key_hash = _ids(dataset)
    env.write_text(_config("search", project_id, "search-prod", key_hash), encoding="utf-8")
    assert main(["check"]) == 0  # nothing stored yet: only the literal check, and it says so
    assert "were not resolved to ids" in capsys.readouterr().out
    assert main(["poll"]) == 0  # the names arrive with this poll, and the poll says so at once
    assert capsys.readouterr().err.splitlines() == [
        "aispend: double claim in the config (see `aispend check`): " + line.strip()
        for line in _expected(project_id, key_hash)
    ]
    for name in ("OPENAI_ADMIN_KEY", "OPENROUTER_MANAGEMENT_KEY"):
        monkeypatch.delenv(name)  # the stored names alone must be enough
    assert main(["check"]) == 2
    out, err = capsys.readouterr()
    assert "OK" not in out
    assert err.splitlines() == ["invalid configuration (2 problems):", *_expected(project_id, key_hash)]


def test_check_keys_asks_the_providers_before_any_poll(
    env: Path, dataset: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    project_id, key_hash = _ids(dataset)
    env.write_text(_config("search", project_id, "search-prod", key_hash), encoding="utf-8")
    assert main(["check", "--keys"]) == 2
    out, err = capsys.readouterr()
    assert "OpenAI names (projects, API keys): ok" in out and "OpenRouter key names: ok" in out
    assert err.splitlines()[1:] == _expected(project_id, key_hash)
    assert not (env.parent / "claims.db").exists()  # check never creates a store


def test_distinct_claims_pass_before_and_after_a_poll(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    env.write_text(_config("search", "support-bot", "search-prod", "support-prod"), encoding="utf-8")
    assert main(["check", "--keys"]) == 0
    assert main(["poll"]) == 0
    assert main(["check"]) == 0
    assert "OK (2 projects" in capsys.readouterr().out


def test_the_scheduled_poll_logs_each_double_claim_once(
    env: Path,
    dataset: Dataset,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    project_id, key_hash = _ids(dataset)
    env.write_text(_config("search", project_id, "search-prod", key_hash), encoding="utf-8")
    fake = FakeSlack().start()
    try:
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-claims")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", "claims-secret")
        monkeypatch.setenv("SLACK_API_URL", fake.api_url)
        runtime = build_runtime(Settings(), load_config(env))
        with caplog.at_level(logging.WARNING, logger="aispend.serve"):
            runtime.poll()
            runtime.poll()
        runtime.lock.release()
    finally:
        fake.stop()
    logged = [r.getMessage() for r in caplog.records if "double claim" in r.getMessage()]
    assert logged == [
        "double claim in the config (see `aispend check`): " + line.strip()
        for line in _expected(project_id, key_hash)
    ]


def test_check_keys_resolves_names_of_keys_in_every_workspace(
    env: Path, dataset: Dataset, capsys: pytest.CaptureFixture[str]
) -> None:
    hidden = next(k for k in dataset.openrouter_keys if k.name == "staging-byok")
    assert hidden not in dataset.workspace_keys()  # a plain /keys listing does not show it
    env.write_text(
        "projects:\n  - name: staging\n    openrouter_keys: [staging-byok]\n"
        f"  - name: research\n    openrouter_keys: [{hidden.hash}]\n",
        encoding="utf-8",
    )
    assert main(["check", "--keys"]) == 2
    (problem,) = capsys.readouterr().err.splitlines()[1:]
    assert problem.startswith(f"  projects[1].openrouter_keys[0]: '{hidden.hash}' is the same OpenRouter key")
