"""Config files written by mistake or by someone hostile: duplicate keys and foreign encodings.

PyYAML keeps the last of two equal keys, so a second ``visibility: public`` would publish a private
project and a second ``projects:`` would drop a list; both must be errors with line numbers, and
``aispend check`` must say so with exit code 2 rather than "OK" or a traceback.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from aispend.cli import main
from aispend.config import ConfigError, load_config

PRIVATE_MADE_PUBLIC = """\
projects:
  - name: secret
    owner: U0OWNER001
    visibility: owner
    openai_projects: [proj_secret]
    visibility: public
"""

TWO_PROJECT_LISTS = """\
projects:
  - name: search
    openai_projects: [proj_search]
timezone: UTC
projects:
  - name: support
"""


def _problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "aispend.yaml"
    monkeypatch.setenv("AISPEND_CONFIG", str(path))
    for name in ("OPENAI_ADMIN_KEY", "OPENROUTER_MANAGEMENT_KEY"):
        monkeypatch.delenv(name, raising=False)
    return path


def test_a_second_visibility_key_is_an_error_naming_both_lines(config_file: Path) -> None:
    config_file.write_text(PRIVATE_MADE_PUBLIC, encoding="utf-8")
    assert _problems(config_file) == [
        f"{config_file} line 6: duplicate key 'visibility' (first at line 4); "
        "each key may appear once in a mapping"
    ]


def test_two_top_level_project_lists_are_an_error(config_file: Path) -> None:
    config_file.write_text(TWO_PROJECT_LISTS, encoding="utf-8")
    (problem,) = _problems(config_file)
    assert "line 5: duplicate key 'projects' (first at line 1)" in problem


def test_every_duplicate_is_reported_in_one_run_at_any_depth(config_file: Path) -> None:
    config_file.write_text(
        "openrouter:\n  low_credit_usd: 5\n  low_credit_usd: 6\n"
        "projects:\n  - {name: a, name: b}\n"
        "timezone: UTC\ntimezone: Europe/Berlin\n",
        encoding="utf-8",
    )
    problems = _problems(config_file)
    assert [p.split(": duplicate key ")[1].split(" (")[0] for p in problems] == [
        "'low_credit_usd'",
        "'name'",
        "'timezone'",
    ]
    assert "line 3:" in problems[0] and "line 5:" in problems[1] and "line 7:" in problems[2]


def test_a_merge_key_overridden_by_an_explicit_key_is_not_a_duplicate(config_file: Path) -> None:
    config_file.write_text(
        "openrouter:\n  <<: {low_credit_usd: 5, low_runway_days: 3}\n  low_credit_usd: 9\n",
        encoding="utf-8",
    )
    config = load_config(config_file)
    assert (config.openrouter.low_credit_usd, config.openrouter.low_runway_days) == (Decimal(9), Decimal(3))


def test_check_exits_2_on_a_duplicate_key_and_never_says_ok(
    config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config_file.write_text(PRIVATE_MADE_PUBLIC, encoding="utf-8")
    assert main(["check"]) == 2
    out, err = capsys.readouterr()
    assert "OK" not in out
    assert "duplicate key 'visibility'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ("projects:\n  - name: caf\xe9\n".encode("latin-1"), "byte 0xe9 at line 2, column 14"),
        ("timezone: UTC\n".encode("utf-16"), "byte 0xff at line 1, column 1"),
        (b"\xef\xbb\xbftimezone: UTC\n# \x80\n", "byte 0x80 at line 2, column 3"),
    ],
    ids=["latin-1", "utf-16", "bom-then-bad-byte"],
)
def test_a_file_that_is_not_utf8_exits_2_with_the_first_bad_byte(
    config_file: Path, capsys: pytest.CaptureFixture[str], raw: bytes, where: str
) -> None:
    config_file.write_bytes(raw)
    assert main(["check"]) == 2
    err = capsys.readouterr().err
    assert f"not UTF-8 text ({where}); save the file as UTF-8" in err
    assert "Traceback" not in err


def test_a_utf8_file_with_a_byte_order_mark_loads(config_file: Path) -> None:
    config_file.write_bytes("\ufefftimezone: Europe/Berlin\n".encode())
    assert load_config(config_file).timezone == "Europe/Berlin"


def test_a_directory_as_config_path_is_a_message_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AISPEND_CONFIG", str(tmp_path))
    assert main(["check"]) == 2
    assert "is a directory" in capsys.readouterr().err
