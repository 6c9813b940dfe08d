"""Start-up failures of the real ``aispend`` process: one line saying what is wrong and what to set,
exit code 2 for configuration, 1 for a runtime problem, and never a traceback.

Each case runs ``python -m aispend`` in a subprocess (so logging, Bolt and uvicorn behave as in
production) against loopback fakes: the fake Slack Web API, or a port nobody listens on.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from aispend.cli import main
from aispend.clock import month_start, utcnow
from tests.fakes.fake_slack import FakeSlack

BOT_TOKEN = "xoxb-1-secretbotpart"
APP_TOKEN = "xapp-1-secretapppart"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    config = tmp_path / "aispend.yaml"
    config.write_text("timezone: UTC\nprojects:\n  - name: search\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OPENAI_", "OPENROUTER_"))}
    env |= {
        "AISPEND_CONFIG": str(config),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'startup.db'}",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": "startup-signing-secret",
        "PORT": str(_closed_port()),
    }
    return env


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def run(env: dict[str, str], *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "aispend", *args], env=env, capture_output=True, text=True, timeout=60
    )
    output = done.stdout + done.stderr
    assert "Traceback" not in output, output
    for secret in ("secretbotpart", "secretapppart", "s3cret"):
        assert secret not in output, output
    return done.returncode, output


# Bolt warns about this on every start when SLACK_BOT_TOKEN is in the environment and a client is
# passed (aispend passes its own, with retry handlers): noise, not part of the answer.
BOLT_NOISE = "WARNING slack_bolt.App: As you gave `client` as well, `token` will be unused."


def one_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip() and not line.endswith(BOLT_NOISE)]
    assert len(lines) == 1, output
    return lines[0]


def test_slack_unreachable_is_a_runtime_error(base_env: dict[str, str]) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/api/"
    code, output = run(base_env | {"SLACK_API_URL": url}, "serve")
    assert code == 1
    line = one_line(output)
    assert line.startswith(f"aispend: cannot reach Slack at {url} (") and line.endswith(
        "or set SLACK_API_URL"
    )


def test_a_rejected_bot_token_is_a_configuration_error(
    base_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    fake_slack.errors["auth.test"] = "invalid_auth"
    code, output = run(base_env | {"SLACK_API_URL": fake_slack.api_url}, "serve")
    assert code == 2
    assert one_line(output) == (
        "aispend: Slack rejected SLACK_BOT_TOKEN (invalid_auth): set it to the app's Bot User OAuth Token "
        "(xoxb-…, under OAuth & Permissions)"
    )
    assert fake_slack.calls("/api/auth.test")


def test_slack_failing_at_start_up_is_a_runtime_error(
    base_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    fake_slack.errors["auth.test"] = "fatal_error"
    code, output = run(base_env | {"SLACK_API_URL": fake_slack.api_url}, "serve")
    assert code == 1
    assert "Slack answered auth.test with 'fatal_error'" in one_line(output)


def test_a_bot_token_given_as_the_app_token_is_named_before_any_call(
    base_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    env = base_env | {"SLACK_API_URL": fake_slack.api_url, "SLACK_APP_TOKEN": "xoxb-2-secretapppart"}
    code, output = run(env, "serve", "--socket")
    assert code == 2
    assert one_line(output).startswith(
        "aispend: SLACK_APP_TOKEN is a bot token, not an app-level token: "
        "set it to an app-level token (xapp-…"
    )
    assert fake_slack.requests == []


def test_an_app_token_slack_refuses_is_a_configuration_error(
    base_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    fake_slack.errors["apps.connections.open"] = "invalid_auth"
    env = base_env | {"SLACK_API_URL": fake_slack.api_url, "SLACK_APP_TOKEN": APP_TOKEN}
    code, output = run(env, "serve", "--socket")
    assert code == 2
    assert one_line(output).startswith("aispend: Slack rejected SLACK_APP_TOKEN (invalid_auth): set it to")
    assert fake_slack.calls("/api/apps.connections.open")


@pytest.mark.parametrize("url", ["not-a-url", "ftp://proxy.example/v1", "https://", "https://a b.example/v1"])
def test_a_bad_openai_base_url_is_a_configuration_error(base_env: dict[str, str], url: str) -> None:
    code, output = run(base_env | {"OPENAI_ADMIN_KEY": "sk-admin-x", "OPENAI_BASE_URL": url}, "poll")
    assert code == 2
    assert one_line(output) == (
        "aispend: invalid environment setting OPENAI_BASE_URL: must be an http(s) URL such as "
        f"https://api.openai.com/v1, got {url!r}"
    )


def test_a_base_url_with_credentials_is_not_echoed(base_env: dict[str, str]) -> None:
    code, output = run(base_env | {"OPENROUTER_BASE_URL": "ftp://user:s3cret@proxy/v1"}, "check")
    assert code == 2
    assert "OPENROUTER_BASE_URL" in one_line(output)


@pytest.mark.parametrize(
    ("url", "driver"),
    [
        ("foo://x", "'foo'"),
        ("mysql://u:s3cret@db/aispend", "'mysql'"),
        ("postgresql+nodriver://u@h/d", "'postgresql+nodriver'"),
    ],
)
def test_an_unknown_database_driver_is_a_configuration_error(
    base_env: dict[str, str], url: str, driver: str
) -> None:
    code, output = run(base_env | {"DATABASE_URL": url}, "spend")
    assert code == 2
    line = one_line(output)
    assert line.startswith(
        f"aispend: DATABASE_URL names the database driver {driver}, which is not available"
    )
    assert line.endswith("use sqlite:///path/to/aispend.db or postgresql+psycopg://user@host/dbname")


def test_a_month_past_the_calendar_is_a_usage_error(base_env: dict[str, str]) -> None:
    code, output = run(base_env, "spend", "--month", "9999-12")
    assert code == 2
    assert one_line(output).startswith(
        "aispend: --month 9999-12 is out of range: use a month from 2000-01 to "
    )


@pytest.mark.parametrize("month", ["1999-12", "0001-01", "next"])
def test_months_before_2000_or_after_the_current_one_are_usage_errors(
    base_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], month: str
) -> None:
    for name, value in base_env.items():
        monkeypatch.setenv(name, value)
    current = month_start(utcnow().date())
    if month == "next":
        month = f"{month_start(current + timedelta(days=31)):%Y-%m}"
    assert main(["spend", "--month", month]) == 2
    assert capsys.readouterr().err == (
        f"aispend: --month {month} is out of range: use a month from 2000-01 to {current:%Y-%m}\n"
    )
    assert main(["spend", "--month", f"{current:%Y-%m}", "--json"]) == 0


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_a_database_that_cannot_be_reached_is_one_runtime_line_without_the_password(
    base_env: dict[str, str], tmp_path: Path, backend: str
) -> None:
    if backend == "postgresql":
        url = f"postgresql+psycopg://aispend:s3cret@127.0.0.1:{_closed_port()}/aispend"
        shown, check = url.replace("s3cret", "***"), "check that it is running and reachable"
    else:
        url = shown = f"sqlite:///{tmp_path / 'no-such-dir' / 'aispend.db'}"
        check = "check that its directory exists and is writable"
    code, output = run(base_env | {"DATABASE_URL": url}, "spend")
    assert code == 1
    line = one_line(output)
    assert line.startswith(f"aispend: cannot reach the database {shown}: OperationalError: ")
    assert line.endswith(f"; {check}, or set DATABASE_URL")


def test_a_port_in_use_is_one_runtime_line_before_anything_starts(
    base_env: dict[str, str], fake_slack: FakeSlack
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = base_env | {"SLACK_API_URL": fake_slack.api_url, "PORT": str(port)}
        code, output = run(env, "serve", "--host", "127.0.0.1")
    assert code == 1
    assert one_line(output) == (
        f"aispend: cannot listen on 127.0.0.1:{port} (Address already in use): stop what uses it, or set PORT"
    )
    assert fake_slack.requests == []  # checked before Slack is asked anything
