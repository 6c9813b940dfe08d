"""``aispend serve`` as a real process: health in both modes, live Socket Mode, graceful SIGTERM.

An orchestrator stops a container with SIGTERM and sends SIGKILL 10 s later; a stop that needs
the SIGKILL leaves the leader lock, the scheduler and the socket to time out on their own.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.socket_mode import FakeSocketMode

STOP_LIMIT_S = 10.0


@pytest.fixture
def socket_mode() -> Iterator[FakeSocketMode]:
    fake = FakeSocketMode().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_slack(socket_mode: FakeSocketMode) -> Iterator[FakeSlack]:
    fake = FakeSlack(socket_url=socket_mode.url).start()
    yield fake
    fake.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start(
    tmp_path: Path, fake_slack: FakeSlack, *args: str, extra_env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    config = tmp_path / "aispend.yaml"
    config.write_text("timezone: UTC\nprojects:\n  - name: search\n    owner: U0OWNER\n")
    port = _free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OPENAI_", "OPENROUTER_", "SLACK_", "AISPEND_"))
    }
    env |= {
        "AISPEND_CONFIG": str(config),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "PORT": str(port),
        "SLACK_API_URL": fake_slack.api_url,
        "SLACK_BOT_TOKEN": "xoxb-0000-test",
        "SLACK_SIGNING_SECRET": "process-secret",
        "SLACK_APP_TOKEN": "xapp-1-test",
    } | (extra_env or {})
    proc = subprocess.Popen(
        [sys.executable, "-m", "aispend", "serve", *args, "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited early ({proc.returncode}): {proc.communicate()[0]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"/healthz never answered: {proc.communicate()[0]}")


def _stop(proc: subprocess.Popen[str]) -> tuple[float, str]:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    try:
        output, _ = proc.communicate(timeout=STOP_LIMIT_S + 5)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate()
        raise AssertionError(f"serve ignored SIGTERM: {output}") from None
    return time.monotonic() - started, output


def test_http_mode_serves_health_and_metrics_then_stops_on_sigterm(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    proc, base = _start(tmp_path, fake_slack)
    assert httpx.get(f"{base}/metrics", timeout=2).status_code == 200
    took, output = _stop(proc)
    assert proc.returncode == 0, output
    assert took < STOP_LIMIT_S, f"stop took {took:.1f}s"
    assert "Traceback" not in output


def test_socket_mode_answers_over_the_socket_serves_health_and_stops_on_sigterm(
    tmp_path: Path, fake_slack: FakeSlack, socket_mode: FakeSocketMode
) -> None:
    proc, base = _start(tmp_path, fake_slack, "--socket")
    try:
        socket_mode.wait_connected()
        assert httpx.get(f"{base}/metrics", timeout=2).status_code == 200
        socket_mode.send(
            {
                "envelope_id": "env-help-1",
                "type": "slash_commands",
                "accepts_response_payload": True,
                "payload": {
                    "token": "unused",
                    "team_id": "T1",
                    "team_domain": "fake",
                    "channel_id": "C1",
                    "channel_name": "general",
                    "user_id": "U0ANYONE",
                    "user_name": "anyone",
                    "command": "/aispend",
                    "text": "help",
                    "api_app_id": "A1",
                    "response_url": fake_slack.response_url(),
                    "trigger_id": "1.2.3",
                },
            }
        )
        ack = socket_mode.wait_for_ack("env-help-1")
        assert "/aispend project" in str(ack.get("payload")), ack
    finally:
        took, output = _stop(proc)
    assert proc.returncode == 0, output
    assert took < STOP_LIMIT_S, f"stop took {took:.1f}s"
    socket_mode.wait_disconnected(timeout=2)  # slack_sdk's client closes TCP without a close frame
    assert "Traceback" not in output


def test_json_logs_carry_the_poll_and_lifecycle_and_never_a_secret(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """LOG_FORMAT=json: every line of ours, Bolt's and uvicorn's is one JSON object, and no key,
    token or signing secret appears anywhere, even at DEBUG (-v logs request details)."""
    dataset = Dataset.generate(date.today())
    with SimulatedProviders(dataset) as providers:
        env = providers.environ() | {"LOG_FORMAT": "json"}
        proc, base = _start(tmp_path, fake_slack, "-v", extra_env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            health = httpx.get(f"{base}/readyz", timeout=2).json()
            if health["last_poll_at"] is not None:
                break
            time.sleep(0.2)
        _, output = _stop(proc)
    assert proc.returncode == 0, output
    records = [json.loads(line) for line in output.splitlines() if line.strip()]
    messages = [(r["level"], r["logger"], r["message"]) for r in records]
    assert any(m[2].startswith("poll finished") for m in messages), messages
    assert any(m[1] == "aispend.serve" and m[2].startswith("scheduler started") for m in messages)
    assert any(m[1].startswith("uvicorn") for m in messages), "uvicorn's records bypassed the handler"
    assert not any("will be unused" in m[2] for m in messages)
    for secret in (
        env["OPENAI_ADMIN_KEY"],
        env["OPENROUTER_MANAGEMENT_KEY"],
        "xoxb-0000-test",
        "process-secret",
        "xapp-1-test",
    ):
        assert secret not in output, f"{secret[:8]}… leaked into the log"


def test_socket_mode_stops_on_sigterm_sent_while_it_is_still_connecting(
    tmp_path: Path, fake_slack: FakeSlack
) -> None:
    """An orchestrator may stop a pod the moment it is up: the socket client's threads, still
    starting, must not keep the process alive past the stop."""
    proc, _ = _start(tmp_path, fake_slack, "--socket")
    took, output = _stop(proc)
    assert proc.returncode == 0, output
    assert took < STOP_LIMIT_S, f"stop took {took:.1f}s"


def test_a_thread_that_never_ends_cannot_hold_the_process_past_the_stop() -> None:
    script = (
        "import threading, time\n"
        "from aispend.serve import exit_watchdog\n"
        "threading.Thread(target=lambda: time.sleep(3600), name='stuck-worker').start()\n"
        "exit_watchdog(3, grace=0.2)\n"
    )
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 3, done.stderr
    assert time.monotonic() - started < 10
    assert "stuck-worker" in done.stderr
