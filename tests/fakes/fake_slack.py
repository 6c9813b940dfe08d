"""A fake Slack Web API on loopback that records every request (reference/slack.md §5.2).

Endpoints: ``/api/<method>`` (``auth.test``, ``chat.postMessage``, ``views.publish``,
``apps.connections.open`` (the ``socket_url`` of a :class:`~tests.fakes.socket_mode.FakeSocketMode`),
``files.getUploadURLExternal`` with a loopback ``upload_url``, ``files.completeUploadExternal``,
anything else ``{"ok": true}``), ``/upload/<id>`` (byte sink) and ``/response/<key>``
(response_url sink). ``rate_limit_next[method] = n`` answers the next n calls with 429 and
``Retry-After: 1``; ``errors[method] = "invalid_auth"`` answers every call of that method with
``{"ok": false, "error": "invalid_auth"}``, as Slack does for a bad token; ``fail_next[method] =
[500, 429, …]`` answers the next calls with those statuses in turn (429s carry ``Retry-After: 1``).
Bolt's follow-up work is asynchronous, so tests wait with :meth:`wait_for`.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    @property
    def data(self) -> dict[str, Any]:
        """The body as a dict: JSON or form-encoded (form values that hold JSON are decoded)."""
        text = self.body.decode("utf-8", errors="replace")
        if self.headers.get("content-type", "").startswith("application/json"):
            loaded = json.loads(text) if text else {}
            return loaded if isinstance(loaded, dict) else {"_": loaded}
        out: dict[str, Any] = {}
        for key, value in parse_qsl(text, keep_blank_values=True):
            try:
                out[key] = json.loads(value) if value[:1] in "[{" else value
            except ValueError:
                out[key] = value
        return out


@dataclass
class FakeSlack:
    requests: list[Recorded] = field(default_factory=list)
    rate_limit_next: dict[str, int] = field(default_factory=dict)
    socket_url: str | None = None  # what apps.connections.open hands out (a FakeSocketMode's url)
    errors: dict[str, str] = field(default_factory=dict)
    fail_next: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._ts = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-slack", daemon=True)

    # ---------------------------------------------------------------------------- lifecycle

    def start(self) -> FakeSlack:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reset(self) -> None:
        with self._cond:
            self.requests.clear()
            self.rate_limit_next.clear()
            self.errors.clear()
            self.fail_next.clear()

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def api_url(self) -> str:
        return self.base_url + "/api/"

    def response_url(self, key: str = "cmd") -> str:
        return f"{self.base_url}/response/{key}"

    # ------------------------------------------------------------------------------ queries

    def calls(self, path: str) -> list[Recorded]:
        with self._cond:
            return [r for r in self.requests if r.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 5.0) -> list[Recorded]:
        """Block until ``count`` requests reached ``path``; AssertionError on timeout."""
        with self._cond:
            done = self._cond.wait_for(
                lambda: len([r for r in self.requests if r.path == path]) >= count, timeout
            )
            seen = [r for r in self.requests if r.path == path]
        if not done:
            raise AssertionError(f"expected {count} request(s) to {path} within {timeout}s, saw {len(seen)}")
        return seen

    # ------------------------------------------------------------------------------ serving

    def _answer(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/upload/"):
            return 200, {"Content-Type": "text/plain"}, b"OK"
        if path.startswith("/response/"):
            return 200, {"Content-Type": "text/plain"}, b"ok"
        if not path.startswith("/api/"):
            return 404, {"Content-Type": "text/plain"}, b"not found"
        method = path.removeprefix("/api/")
        with self._cond:
            limited = self.rate_limit_next.get(method, 0)
            if limited:
                self.rate_limit_next[method] = limited - 1
            error = self.errors.get(method)
            scripted = self.fail_next.get(method) or []
            failure = scripted.pop(0) if scripted else None
        if error is not None:
            return 200, {}, _json({"ok": False, "error": error})
        if failure == 429:
            limited = 1
        elif failure is not None:
            return failure, {}, _json({"ok": False, "error": "internal_error"})
        if limited:
            return 429, {"Retry-After": "1"}, _json({"ok": False, "error": "ratelimited"})
        body: dict[str, Any] = {"ok": True}
        if method == "auth.test":
            body |= {"url": "https://fake.slack.com/", "team": "Fake", "user": "aispend", "team_id": "T0FAKE"}
            body |= {"user_id": "U0BOT", "bot_id": "B0BOT"}
        elif method == "chat.update":
            body |= {"channel": "C0FAKE", "ts": "1700000000.000001"}
        elif method == "chat.postMessage":
            body |= {"channel": "C0FAKE", "ts": f"1700000000.{next(self._ts):06d}"}
        elif method == "views.publish":
            body |= {"view": {"id": "V0FAKE", "type": "home"}}
        elif method == "files.getUploadURLExternal":
            body |= {"upload_url": f"{self.base_url}/upload/F0FAKE", "file_id": "F0FAKE"}
        elif method == "apps.connections.open":
            if self.socket_url is None:
                return 200, {}, _json({"ok": False, "error": "not_allowed_token_type"})
            body |= {"url": self.socket_url}
        elif method == "files.completeUploadExternal":
            body |= {"files": [{"id": "F0FAKE", "title": "chart"}]}
        return 200, {}, _json(body)

    def _record(self, recorded: Recorded) -> None:
        with self._cond:
            self.requests.append(recorded)
            self._cond.notify_all()


def _json(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def _handler(fake: FakeSlack) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            path = self.path.split("?", 1)[0]
            status, headers, payload = fake._answer(path)
            fake._record(
                Recorded(
                    method=self.command,
                    path=path,
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                    status=status,
                )
            )
            self.send_response(status)
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = _serve
        do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
