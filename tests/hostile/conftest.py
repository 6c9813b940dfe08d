"""Fixtures for the hostile suite: the hostile provider, and ``aispend`` run as a real process.

Caps and deadlines are made small through the same environment variables an operator would set
(README "Limits"), so every test ends in seconds; what a test asserts is that the poll ends,
reports the error where ``/aispend health`` shows it, and goes on with the other endpoints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import psutil
import pytest

from aispend.clock import utcnow
from aispend.config import load_config
from aispend.service import SpendService
from aispend.slack.blocks import health_message
from aispend.store.engine import make_engine
from tests.hostile.server import HostileProvider

CONFIG = """
timezone: UTC
projects:
  - name: hostile
    openai_projects: [proj_hostile]
    openrouter_keys: [hostile-key]
"""

# Small caps so that every hostile answer is cut within seconds (README "Limits").
SMALL_LIMITS = {
    "AISPEND_MAX_PAGES": "50",
    "AISPEND_MAX_ROWS": "20000",
    "AISPEND_MAX_PAGE_BYTES": str(16 << 20),
    "AISPEND_MAX_BODY_BYTES": str(1 << 20),
    "AISPEND_REQUEST_SECONDS": "2",
    "AISPEND_POLL_SECONDS": "20",
}
_OURS = ("OPENAI_", "OPENROUTER_", "AISPEND_", "DATABASE_URL", "SLACK_")


@dataclass
class Run:
    """One finished ``aispend`` process: exit code, output, wall time, peak resident memory."""

    code: int
    out: str
    err: str
    seconds: float
    peak_rss: int


@dataclass
class Cli:
    """``aispend`` against the hostile provider and one database, as a separate process."""

    provider: HostileProvider
    database_url: str
    config: Path
    limits: dict[str, str]

    def environ(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith(_OURS)}
        env.update(self.provider.environ())
        env.update(self.limits)
        env.update(
            {"DATABASE_URL": self.database_url, "AISPEND_CONFIG": str(self.config), "PYTHONUNBUFFERED": "1"}
        )
        env.update(extra or {})
        return env

    def start(self, *args: str, extra: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "aispend", *args],
            env=self.environ(extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def run(self, *args: str, extra: Mapping[str, str] | None = None, timeout: float = 120) -> Run:
        """Run to the end, sampling the process's memory; a hung process fails the test."""
        started = time.monotonic()
        process = self.start(*args, extra=extra)
        watched = psutil.Process(process.pid)
        peak = 0
        while process.poll() is None:
            try:
                peak = max(peak, watched.memory_info().rss)
            except psutil.Error:
                pass
            if time.monotonic() - started > timeout:
                process.kill()
                out, err = process.communicate()
                pytest.fail(f"aispend {' '.join(args)} still running after {timeout}s\n{out}\n{err}")
            time.sleep(0.05)
        out, err = process.communicate()
        return Run(process.returncode, out, err, time.monotonic() - started, peak)

    def health(self) -> tuple[dict[tuple[str, str], tuple[str, str | None]], str]:
        """Each endpoint's last status and error, and the ``/aispend health`` answer as text."""
        engine = make_engine(self.database_url)
        try:
            service = SpendService(engine, load_config(self.config))
            health = service.health(utcnow())
        finally:
            engine.dispose()
        statuses: dict[tuple[str, str], tuple[str, str | None]] = {
            (e.provider, e.endpoint): (e.last_status, e.error) for e in health.endpoints
        }
        rendered = health_message(health, tz=ZoneInfo("UTC"))
        return statuses, json.dumps(rendered.blocks)


@pytest.fixture
def provider() -> Iterator[HostileProvider]:
    with HostileProvider() as running:
        yield running


def _cli(provider: HostileProvider, database_url: str, tmp_path: Path) -> Cli:
    config = tmp_path / "aispend.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return Cli(provider, database_url, config, dict(SMALL_LIMITS))


@pytest.fixture
def cli(provider: HostileProvider, tmp_path: Path) -> Cli:
    """On SQLite."""
    return _cli(provider, f"sqlite:///{tmp_path / 'hostile.db'}", tmp_path)


@pytest.fixture
def cli_any_db(provider: HostileProvider, db_url: str, tmp_path: Path) -> Cli:
    """On SQLite and on PostgreSQL (a schema of its own)."""
    return _cli(provider, db_url, tmp_path)
