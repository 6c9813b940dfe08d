"""A real ``aispend serve`` process on loopback, for tests that attack it from outside.

The server runs as its own process (``python -m aispend -v serve``) with its log (debug level)
captured in a file, so a test can assert on status codes, on what reached the log and on the
process's peak memory (``VmHWM``) exactly as an operator would see them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

SECRET = "hostile-signing-secret"

CONFIG = """\
projects:
  - name: search
    owner: U0OWNER
    openai_projects: [proj_search]
  - name: atlas
    owner: U0ATLAS
    visibility: owner
"""


@dataclass(frozen=True)
class Served:
    url: str
    pid: int
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def peak_rss_kib(self) -> int:
        """The process's high-water resident set size (``VmHWM``), in KiB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise AssertionError("no VmHWM in /proc status")

    def metric(self, http: httpx.Client, line_prefix: str) -> int:
        """The sum of every sample of ``/metrics`` whose line starts with ``line_prefix``."""
        total = 0
        for line in http.get("/metrics").text.splitlines():
            if line.startswith(line_prefix):
                total += int(float(line.rsplit(" ", 1)[1]))  # the exposition writes counters as 2.0
        return total


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_process(
    tmp_path: Path, env: Mapping[str, str], *, ready_timeout: float = 30.0, verbose: bool = True
) -> Iterator[Served]:
    """Start ``aispend serve`` with ``env`` on top of a minimal one; stop it (SIGTERM) afterwards.

    ``verbose``: debug logging (``-v``), for tests that read the log; benchmarks log at INFO."""
    config = tmp_path / "aispend.yaml"
    if not config.exists():
        config.write_text(CONFIG, encoding="utf-8")
    port = free_port()
    full = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "OPENAI_", "OPENROUTER_", "DATABASE_", "AISPEND_"))
    }
    full |= {
        "AISPEND_CONFIG": str(config),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "SLACK_BOT_TOKEN": "xoxb-hostile",
        "SLACK_SIGNING_SECRET": SECRET,
        "PORT": str(port),
        **env,
    }
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "aispend", *(["-v"] if verbose else []), "serve"],
            env=full,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"aispend serve exited {process.returncode}:\n{log.read_text()}")
            try:
                httpx.get(url + "/metrics", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise AssertionError(f"aispend serve did not start:\n{log.read_text()}") from None
                time.sleep(0.1)
        yield Served(url, process.pid, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


def signed_headers(
    body: str | bytes, *, content_type: str = "application/x-www-form-urlencoded"
) -> dict[str, str]:
    ts = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body) or ""
    return {"content-type": content_type, "x-slack-request-timestamp": ts, "x-slack-signature": signature}


def command_body(text: str, *, user: str = "U0OWNER", response_url: str, trigger: str = "1.2.3") -> str:
    return urlencode(
        {"command": "/aispend", "text": text, "user_id": user, "team_id": "T0FAKE", "channel_id": "C0CHAN",
         "api_app_id": "A0APP", "response_url": response_url, "trigger_id": trigger}
    )  # fmt: skip
