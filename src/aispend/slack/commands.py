"""Parse the text after ``/aispend`` into a typed command (README: Slack app).

Grammar: ``help`` · ``project <name>`` · ``projects`` · ``credits`` · ``models [project]`` ·
``routes`` · ``unattributed`` · ``health`` · ``alerts``, each optionally followed by ``share``. Words are
case-insensitive; anything empty or garbled becomes ``help`` (with what was not understood).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CommandKind = Literal[
    "help", "project", "projects", "credits", "models", "routes", "unattributed", "health", "alerts"
]

_ALIASES: dict[str, CommandKind] = {
    "help": "help",
    "?": "help",
    "project": "project",
    "projects": "projects",
    "credits": "credits",
    "credit": "credits",
    "models": "models",
    "mix": "models",
    "routes": "routes",
    "unattributed": "unattributed",
    "health": "health",
    "status": "health",
    "alerts": "alerts",
    "alert": "alerts",
}
_NO_ARGUMENT: frozenset[CommandKind] = frozenset(
    {"help", "projects", "credits", "routes", "unattributed", "health", "alerts"}
)


@dataclass(frozen=True, slots=True)
class Command:
    kind: CommandKind
    argument: str | None = None  # project name for ``project`` and ``models``
    share: bool = False
    not_understood: str | None = None  # raw text that fell back to help (echo it escaped)
    missing_argument: bool = False  # ``project`` without a name


def parse_command(text: str) -> Command:
    words = text.split()
    share = len(words) > 1 and words[-1].lower() == "share"
    if share:
        words = words[:-1]
    if not words:
        return Command("help", share=share)
    kind = _ALIASES.get(words[0].lower())
    rest = words[1:]
    if kind is None:
        return Command("help", share=share, not_understood=text.strip())
    if kind == "project":
        if not rest:
            return Command("help", share=share, missing_argument=True)
        if len(rest) > 1:
            return Command("help", share=share, not_understood=text.strip())
        return Command("project", argument=rest[0], share=share)
    if kind == "models":
        if len(rest) > 1:
            return Command("help", share=share, not_understood=text.strip())
        return Command("models", argument=rest[0] if rest else None, share=share)
    if kind in _NO_ARGUMENT and rest:
        return Command("help", share=share, not_understood=text.strip())
    return Command(kind, share=share)


def suggest(name: str, known: Iterable[str], *, limit: int = 3) -> list[str]:
    """Close project names for "did you mean …" (case-insensitive, original spelling returned)."""
    by_lower = {item.lower(): item for item in known}
    matches = difflib.get_close_matches(name.lower(), list(by_lower), n=limit, cutoff=0.6)
    return [by_lower[match] for match in matches]
