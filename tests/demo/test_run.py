"""The quick start: ``aispend demo`` runs offline and shows what Slack would say."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console

from aispend.demo.run import run_demo
from aispend.digest.chart import PNG_SIGNATURE


def test_demo_runs_offline_and_prints_the_slack_answers() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, highlight=False)
    assert run_demo(console=console, now=datetime(2026, 11, 27, 12, 30, tzinfo=UTC)) == 0
    out = buffer.getvalue()
    for title in ("/aispend project search", "/aispend projects", "/aispend credits", "App Home"):
        assert title in out
    assert "answered 429 + Retry-After" in out
    assert "unattributed" in out
    assert '"total_usd": "' in out  # the JSON contract: amounts as strings
    assert "demo finished" in out


def test_the_demo_shows_alerts_firing_once_acknowledged_and_resolving() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, highlight=False)
    assert run_demo(console=console, now=datetime(2026, 11, 27, 12, 30, tzinfo=UTC)) == 0
    out = buffer.getvalue()
    assert "new alert" in out and "the second evaluation sent 0 messages" in out
    assert "Acknowledged by @" in out
    assert "thread reply" in out and "Resolved at" in out and "alerts resolved" in out


def test_demo_shows_the_weekly_digest_and_names_its_chart() -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, highlight=False)
    assert run_demo(console=console, now=datetime(2026, 11, 25, 12, 30, tzinfo=UTC)) == 0
    out = buffer.getvalue()
    assert "weekly digest · 2026-W47" in out and "By provider" in out
    written = next(line for line in out.splitlines() if "the digest chart" in line)
    chart = Path(written.rsplit(" ", 1)[-1])
    assert chart.read_bytes().startswith(PNG_SIGNATURE)
