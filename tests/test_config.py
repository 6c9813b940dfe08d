"""The aispend.yaml schema: every problem reported with its path, numbers exact."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from aispend.config import ConfigError, load_config
from tests.readme import code_block

EXAMPLE = """
timezone: Europe/Berlin
alert_channel: C0123ALERTS
poll_interval_minutes: 15
backfill_days: 60
digest:
  channel: C0123ALERTS
  weekday: mon
  time: "09:00"
openrouter:
  low_credit_usd: 50
  low_runway_days: 7
projects:
  - name: search
    owner: U0123OWNER
    channel: C0456SEARCH
    monthly_budget_usd: 2000.10
    alert_at_percent: [100, 80]
    visibility: public
    openai_projects: [proj_abc]
    openai_api_keys: [key_abc]
    openrouter_keys: [search-prod]
admins: [U0999ADMIN]
"""


def test_the_readme_example_is_a_valid_config(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, code_block("yaml", "# aispend.yaml")))
    assert [p.name for p in config.projects] == ["search"]
    assert config.digest is not None and config.alert_channel == "C0123ALERTS"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "aispend.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    return caught.value.problems


def test_the_example_loads_with_exact_numbers(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, EXAMPLE))
    project = config.project("SEARCH")
    assert project is not None and project.name == "search"
    assert project.monthly_budget_usd == Decimal("2000.10")
    assert isinstance(project.monthly_budget_usd, Decimal)
    assert project.alert_at_percent == (Decimal(80), Decimal(100))
    assert config.digest is not None and config.digest.at.hour == 9
    assert config.tz.key == "Europe/Berlin"
    assert config.is_admin("U0999ADMIN") and not config.is_admin("U0123OWNER")


def test_defaults_for_an_empty_file(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.projects == () and config.timezone == "UTC" and config.backfill_days == 60


def test_every_invalid_field_is_reported_with_its_path(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """
timezone: Mars/Olympus
poll_interval_minutes: 0
alert_chanel: C0123ALERTS
digest: {channel: general, weekday: someday, time: "25:00"}
projects:
  - name: search
    owner: bob
    monthly_budget_usd: 0
    alert_at_percent: []
    visibility: secret
  - name: Search
    monthly_budget_usd: -5
    openrouter_keys: [shared]
  - name: other
    openrouter_keys: [shared]
""",
    )
    expected_paths = [
        "timezone:",
        "poll_interval_minutes:",
        "alert_chanel: unknown key",
        "digest.channel:",
        "digest.weekday:",
        "digest.time:",
        "projects[0].owner:",
        "projects[0].monthly_budget_usd: must be > 0",
        "projects[0].alert_at_percent:",
        "projects[0].visibility:",
        "projects[1].monthly_budget_usd: must be > 0",
        "projects[1].name: 'Search' repeats projects[0].name",
        "projects[2].openrouter_keys[0]: 'shared' is already claimed by project 'Search'",
    ]
    for path in expected_paths:
        assert any(problem.startswith(path) for problem in found), (path, found)
    assert len(found) == len(expected_paths)


def test_typos_in_nested_keys_are_errors(tmp_path: Path) -> None:
    assert problems(tmp_path, "projects:\n  - name: a\n    alert_at_percnt: [50]\n") == [
        "projects[0].alert_at_percnt: unknown key "
        "(check the spelling; the Configure section of README.md lists every key)"
    ]


def test_yaml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    found = problems(tmp_path, "projects:\n  - name: [unclosed\n")
    assert len(found) == 1 and "not valid YAML (line" in found[0]


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.yaml")
    assert "config file not found" in caught.value.problems[0]


def test_the_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    assert "top level must be a mapping" in problems(tmp_path, "- a\n- b\n")[0]


def test_the_optional_alerts_section(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "alerts:\n  spike_factor: 4.5\n  spike_min_usd: 25\n"))
    assert (config.alerts.spike_factor, config.alerts.spike_min_usd) == (Decimal("4.5"), Decimal(25))
    defaults = load_config(write(tmp_path, "{}\n")).alerts
    assert (defaults.spike_factor, defaults.spike_min_usd) == (Decimal(3), Decimal(10))
    found = problems(tmp_path, "alerts:\n  spike_factor: 1\n  spike_min_usd: -1\n  spike: 2\n")
    assert [p.split(":")[0] for p in found] == ["alerts.spike_factor", "alerts.spike_min_usd", "alerts.spike"]
