"""Neutralising text from outside before it is shown."""

from __future__ import annotations

import pytest

from aispend.text import REPLACEMENT, neutralise


@pytest.mark.parametrize(
    "char",
    ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u061c", "\u200b", "\u200d", "\u2060",
     "\ufeff", "\x1b", "\x00", "\x9b", "\u00ad", "\U000e0041", "\udcff"],
)  # fmt: skip
def test_invisible_and_direction_changing_characters_become_a_visible_mark(char: str) -> None:
    assert neutralise(f"key{char}name") == f"key{REPLACEMENT}name"


def test_line_breaks_and_tabs_become_spaces_so_no_line_is_forged() -> None:
    assert neutralise("a\nb\r\nc\td\u2028e\x85f") == "a b  c d e f"


def test_ordinary_names_pass_unchanged() -> None:
    for name in ("gpt-4o", "anthropic/claude-3.5-sonnet", "Café ☕ 模型", "naïve—key", "👍🏽"):
        assert neutralise(name) == name
