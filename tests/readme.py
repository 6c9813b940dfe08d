"""The README is the user contract: tests read its examples from the file itself, so an example
that stops working (or a documented key that stops existing) fails a test."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def code_block(language: str, first_line: str = "") -> str:
    """The first fenced ``language`` block of README.md whose text starts with ``first_line``."""
    for body in re.findall(rf"^```{language}\n(.*?)^```", README.read_text(encoding="utf-8"), re.M | re.S):
        if body.startswith(first_line):
            return str(body)
    raise LookupError(f"README.md has no ```{language} block starting with {first_line!r}")
