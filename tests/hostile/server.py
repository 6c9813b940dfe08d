"""A loopback provider server that misbehaves on purpose, for both providers' paths at once.

Every path answers like a small, well-behaved OpenAI or OpenRouter API by default (one cost row,
one usage row, one OpenRouter key with one day of activity), so a poll against it succeeds; a
test then scripts one path to be hostile: pages that never end, a body that never ends, a body
dripped one byte at a time, ``429 Retry-After: 60`` forever, or an absurd amount. Both clients use
the same base URL (their paths do not overlap). Listens on 127.0.0.1 only, in daemon threads.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Query = dict[str, list[str]]
# A behaviour gets the query and returns (status, headers, body chunks); chunks may never end.
Behaviour = Callable[[Query], tuple[int, dict[str, str], Iterator[bytes]]]

ADMIN_KEY = "sk-admin-hostile-test-key"
MANAGEMENT_KEY = "sk-or-v1-hostile-management-key"
KEY_HASH = "hash-hostile-0001"


def _today() -> date:
    return datetime.now(UTC).date()


def _start(query: Query) -> int:
    return int(query.get("start_time", [str(int(datetime.now(UTC).timestamp()))])[0])


def answer(body: Any, status: int = 200, headers: dict[str, str] | None = None, raw: str = "") -> Any:
    """A whole JSON answer; the string ``"<raw>"`` in ``body`` is replaced by ``raw`` verbatim, so
    a test can send any JSON number (``1e10``) exactly as written."""
    text = json.dumps(body)
    if raw:
        text = text.replace('"<raw>"', raw)
    return status, {"Content-Type": "application/json", **(headers or {})}, iter([text.encode()])


def _bucket(query: Query, results: list[Any]) -> dict[str, Any]:
    return {
        "object": "bucket",
        "start_time": _start(query),
        "end_time": _start(query) + 86_400,
        "results": results,
    }


def cost_result(amount: Any = "<raw>") -> dict[str, Any]:
    return {
        "object": "organization.costs.result",
        "amount": {"value": amount, "currency": "usd"},
        "line_item": "gpt-4o, input",
        "project_id": "proj_hostile",
        "api_key_id": None,
    }


def cost_page(
    query: Query, amount: str = "1.5", *, has_more: bool = False, next_page: str | None = None
) -> Any:
    page = {"object": "page", "data": [_bucket(query, [cost_result()])], "has_more": has_more}
    return answer({**page, "next_page": next_page}, raw=amount)


def usage_page(query: Query, tokens: str = "10") -> Any:
    result = {
        "object": "organization.usage.completions.result",
        "input_tokens": "<raw>",
        "output_tokens": 5,
        "num_model_requests": 1,
        "project_id": "proj_hostile",
        "api_key_id": None,
        "model": "gpt-4o",
    }
    return answer(
        {"object": "page", "data": [_bucket(query, [result])], "has_more": False, "next_page": None},
        raw=tokens,
    )


def activity(query: Query, usage: str = "1.25") -> Any:
    row = {
        "date": (_today() - timedelta(days=1)).isoformat(),
        "model": "openai/gpt-4o",
        "model_permaslug": "openai/gpt-4o",
        "endpoint_id": "e1",
        "provider_name": "OpenAI",
        "usage": "<raw>",
        "byok_usage_inference": 0,
        "requests": 3,
        "prompt_tokens": 30,
        "completion_tokens": 20,
        "reasoning_tokens": 0,
    }
    return answer({"data": [row]}, raw=usage)


def default_behaviours() -> dict[str, Behaviour]:
    return {
        "/organization/projects": lambda q: answer(
            {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}
        ),
        "/organization/costs": cost_page,
        "/organization/usage/completions": usage_page,
        "/organization/usage/embeddings": usage_page,
        "/credits": lambda q: answer({"data": {"total_credits": 100, "total_usage": 25}}),
        "/keys": lambda q: answer(
            {
                "data": [
                    {
                        "hash": KEY_HASH,
                        "name": "hostile-key",
                        "label": "sk-or-v1-abc...xyz",
                        "disabled": False,
                        "limit": None,
                        "usage": 5,
                        "usage_daily": 1,
                        "usage_weekly": 2,
                        "usage_monthly": 5,
                    }
                ]
            }
        ),
        "/activity": activity,
    }


# -- hostile behaviours ---------------------------------------------------------------------------


def endless_pages(query: Query) -> Any:
    """``has_more: true`` with a fresh cursor, every time."""
    return cost_page(query, has_more=True, next_page=f"page_{uuid.uuid4().hex}")


def endless_buckets(query: Query) -> Any:
    """A costs page whose ``data`` array never closes: one more bucket, forever."""
    bucket = json.dumps(_bucket(query, [cost_result(0.25)])).encode()

    def body() -> Iterator[bytes]:
        yield b'{"object": "page", "has_more": false, "next_page": null, "data": [' + bucket
        chunk = b", ".join([bucket] * 200)
        while True:
            yield b", " + chunk

    return 200, {"Content-Type": "application/json"}, body()


def endless_string(query: Query) -> Any:
    """A small answer that never ends: one JSON string that goes on forever."""

    def body() -> Iterator[bytes]:
        yield b'{"data": {"total_credits": "'
        chunk = b"9" * 65536
        while True:
            yield chunk

    return 200, {"Content-Type": "application/json"}, body()


def drip(behaviour: Behaviour, every: float) -> Behaviour:
    """``behaviour``'s answer, one byte every ``every`` seconds (headers sent at once)."""

    def dripping(query: Query) -> Any:
        status, headers, chunks = behaviour(query)

        def body() -> Iterator[bytes]:
            for chunk in chunks:
                for index in range(len(chunk)):
                    time.sleep(every)
                    yield chunk[index : index + 1]

        return status, headers, body()

    return dripping


def retry_after(seconds: int = 60) -> Behaviour:
    return lambda q: answer(
        {"error": {"message": "Rate limit reached, slow down", "type": "rate_limit"}},
        status=429,
        headers={"Retry-After": str(seconds)},
    )


def slow(behaviour: Behaviour, seconds: float) -> Behaviour:
    """``behaviour``'s answer after ``seconds`` of silence (within any read timeout used here)."""

    def delayed(query: Query) -> Any:
        time.sleep(seconds)
        return behaviour(query)

    return delayed


# -- the server ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # bodies end when the connection closes: no length needed

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        owner = self.server.owner
        path = parts.path.removeprefix("/v1")
        owner.record(path)
        behaviour = owner.behaviours.get(path)
        if behaviour is None:
            status, headers, chunks = answer({"error": {"message": f"no route {path}"}}, status=404)
        else:
            status, headers, chunks = behaviour(parse_qs(parts.query))
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            for chunk in chunks:
                if owner.stopping.is_set():
                    return
                self.wfile.write(chunk)
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            return  # the client hung up: exactly what the caps are for

    def log_message(self, format: str, *args: object) -> None:
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: HostileProvider


class HostileProvider:
    """Both providers on one loopback port; ``behaviours[path]`` scripts each path."""

    def __init__(self) -> None:
        self.behaviours: dict[str, Behaviour] = default_behaviours()
        self.hits: dict[str, int] = {}
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def record(self, path: str) -> None:
        with self._lock:
            self.hits[path] = self.hits.get(path, 0) + 1

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def environ(self) -> dict[str, str]:
        return {
            "OPENAI_ADMIN_KEY": ADMIN_KEY,
            "OPENAI_BASE_URL": self.base_url,
            "OPENROUTER_MANAGEMENT_KEY": MANAGEMENT_KEY,
            "OPENROUTER_BASE_URL": self.base_url,
        }

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
