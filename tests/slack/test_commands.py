"""Parsing ``/aispend`` text and "did you mean"."""

from __future__ import annotations

import pytest

from aispend.slack.commands import Command, parse_command, suggest


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command("help")),
        ("   ", Command("help")),
        ("help", Command("help")),
        ("HELP share", Command("help", share=True)),
        ("project search", Command("project", argument="search")),
        ("Project Search SHARE", Command("project", argument="Search", share=True)),
        ("project", Command("help", missing_argument=True)),
        ("project a b", Command("help", not_understood="project a b")),
        ("projects", Command("projects")),
        ("projects share", Command("projects", share=True)),
        ("credits", Command("credits")),
        ("models", Command("models")),
        ("models search", Command("models", argument="search")),
        ("models search share", Command("models", argument="search", share=True)),
        ("routes", Command("routes")),
        ("unattributed", Command("unattributed")),
        ("health", Command("health")),
        ("health now", Command("help", not_understood="health now")),
        ("share", Command("help", not_understood="share")),
        ("frobnicate <!channel>", Command("help", not_understood="frobnicate <!channel>")),
        ("\tcredits\n", Command("credits")),
    ],
)
def test_parse(text: str, expected: Command) -> None:
    assert parse_command(text) == expected


def test_suggest_is_case_insensitive_and_keeps_spelling() -> None:
    known = ["search", "Atlas", "billing"]
    assert suggest("serch", known) == ["search"]
    assert suggest("atlsa", known) == ["Atlas"]
    assert suggest("zzzzzz", known) == []
