"""Fake OpenAI and OpenRouter HTTP servers that serve a :class:`Dataset` in the real wire shapes.

They exist so the offline demo and the tests run the *production* HTTP clients unchanged: only the
base URL differs. Shapes follow ``reference/providers.md`` and the official OpenAPI documents (the
contract tests validate every body against them), including the awkward parts a client must cope
with: money as JSON numbers with many digits, whole-day cost buckets with empty ``results``,
bucket-count paging with opaque cursors, null grouping fields, unknown extra fields
(``organization_id``), per-endpoint rows that repeat a (day, model, provider) in ``/activity``,
401/403 error bodies, and injectable faults (429 with ``Retry-After``, 500, truncated JSON).

Servers listen on 127.0.0.1 only, on a free port, in a daemon thread; the provider clock is
``dataset.as_of``, never the wall clock, so responses are reproducible.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Final, NamedTuple, Self
from urllib.parse import parse_qs, urlsplit

from aispend.demo.simulated.dataset import NANO, OPENROUTER_MODELS, Dataset, quantity_unit
from aispend.records import OpenRouterActivity

OPENAI_ADMIN_KEY: Final = "sk-admin-simulated"
OPENROUTER_MANAGEMENT_KEY: Final = "sk-or-v1-simulated-management"

ORGANIZATION_ID: Final = "org-SimulatedOrg0000000000"
KEYS_PAGE_SIZE: Final = 100
DAY: Final = 86_400

Json = Any
Query = dict[str, list[str]]


# --------------------------------------------------------------------------------------------------
# Exact JSON


def dumps_exact(value: object) -> str:
    """``json.dumps`` that writes ``Decimal`` as a JSON number with its exact digits.

    The real APIs send money as JSON numbers; going through ``float`` here would hide exactly the
    precision bugs the tests exist to catch. Plain notation (never ``1E-9``) matches what the
    providers send and what every JSON parser accepts.
    """
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"not a finite amount: {value}")
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, dict):
        items = (f"{json.dumps(str(k))}: {dumps_exact(v)}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(dumps_exact(v) for v in value) + "]"
    return json.dumps(value)


# --------------------------------------------------------------------------------------------------
# Requests, faults, errors


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it; ``path`` is relative to the API root (``/credits``)."""

    method: str
    path: str
    query: Mapping[str, list[str]]
    status: int


@dataclass(slots=True)
class Fault:
    """An injected failure for requests whose path starts with ``path_prefix``.

    ``times=None`` fires on every matching request until removed; ``truncate=True`` serves the real
    body cut in half (a malformed payload) with ``status`` (default 200).
    """

    path_prefix: str
    status: int
    headers: dict[str, str]
    body: Json | None
    times: int | None
    truncate: bool
    fired: int = 0

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times


class Faults:
    """The fault queue of one server; thread-safe, first matching fault fires first."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(
        self,
        path_prefix: str,
        status: int | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        body: Json | None = None,
        times: int | None = 1,
        truncate: bool = False,
    ) -> Fault:
        """Queue a fault; ``status`` defaults to 500, or 200 with ``truncate``; returns it."""
        if times is not None and times < 1:
            raise ValueError("times must be at least 1 (or None for always)")
        fault = Fault(
            path_prefix=path_prefix,
            status=status if status is not None else (200 if truncate else 500),
            headers=dict(headers or {}),
            body=body,
            times=times,
            truncate=truncate,
        )
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def take(self, path: str, full_path: str) -> Fault | None:
        """The fault to fire for this request (counted as fired), if any."""
        with self._lock:
            for fault in self._faults:
                if not fault.exhausted and (
                    path.startswith(fault.path_prefix) or full_path.startswith(fault.path_prefix)
                ):
                    fault.fired += 1
                    return fault
        return None


class HTTPError(Exception):
    """Raised by a route to answer with the provider's error body."""

    def __init__(self, status: int, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param


class Response(NamedTuple):
    status: int
    body: bytes
    headers: dict[str, str]


def _json_response(status: int, body: Json, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        status, dumps_exact(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )


# --------------------------------------------------------------------------------------------------
# Query helpers


def _one(query: Query, name: str) -> str | None:
    values = query.get(name)
    return values[-1] if values else None


def _many(query: Query, name: str) -> list[str]:
    """Array parameter in any form clients send: ``a=x&a=y``, ``a[]=x&a[]=y`` or ``a=x,y``."""
    raw = [*query.get(name, []), *query.get(f"{name}[]", [])]
    return [part for value in raw for part in value.split(",") if part]


def _int(query: Query, name: str, default: int | None, low: int, high: int) -> int:
    text = _one(query, name)
    if text is None:
        if default is None:
            raise HTTPError(400, f"Missing required parameter: '{name}'.", param=name)
        return default
    try:
        value = int(text)
    except ValueError:
        raise HTTPError(400, f"Invalid value for '{name}': expected an integer.", param=name) from None
    if not low <= value <= high:
        raise HTTPError(400, f"Invalid '{name}': must be between {low} and {high}.", param=name)
    return value


def _bool(query: Query, name: str, default: bool) -> bool:
    text = _one(query, name)
    return default if text is None else text.lower() == "true"


def _day_of(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


def _unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def _encode_cursor(day: date) -> str:
    return "page_" + base64.urlsafe_b64encode(f"bucket:{day.isoformat()}".encode()).decode()


def _decode_cursor(cursor: str) -> date:
    try:
        text = base64.urlsafe_b64decode(cursor.removeprefix("page_").encode()).decode()
        kind, _, iso = text.partition(":")
        if kind != "bucket":
            raise ValueError(kind)
        return date.fromisoformat(iso)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise HTTPError(
            400, "Invalid value for 'page': not a cursor from this endpoint.", param="page"
        ) from None


# --------------------------------------------------------------------------------------------------
# Server plumbing


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real APIs (and httpx pools) use
    timeout = 30
    # Headers and body go out in two writes; with Nagle on, the second waits ~40 ms for an ACK.
    disable_nagle_algorithm = True

    def _serve(self, method: str) -> None:
        app: SimulatedServer = self.server.app  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        response = app.handle(method, self.path, self.headers.get("Authorization"))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(response.body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: object) -> None:
        """Silence per-request logging; tests read :attr:`SimulatedServer.requests` instead."""


class _Running:
    """``with`` starts and stops: written once for a server and for the pair of them."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class SimulatedServer(_Running):
    """Common plumbing: thread, auth, faults, request log. Subclasses route and shape errors."""

    api_root: str = ""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.faults = Faults()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)  # loopback only, free port
        httpd.daemon_threads = True
        httpd.app = self  # type: ignore[attr-defined]
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.api_root}"

    # ---- request log ----------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def count(self, path_prefix: str = "", *, status: int | None = None) -> int:
        """Requests whose API-relative path starts with ``path_prefix`` (and had ``status``)."""
        return sum(
            1
            for r in self.requests
            if r.path.startswith(path_prefix) and (status is None or r.status == status)
        )

    def reset_requests(self) -> None:
        with self._lock:
            self._requests.clear()

    # ---- dispatch -------------------------------------------------------------------------------

    def handle(self, method: str, raw_path: str, authorization: str | None) -> Response:
        parts = urlsplit(raw_path)
        query: Query = parse_qs(parts.query, keep_blank_values=True)
        full_path = parts.path
        path = full_path.removeprefix(self.api_root) if full_path.startswith(self.api_root) else full_path
        try:
            if not full_path.startswith(self.api_root + "/"):
                raise HTTPError(404, f"Unknown path: {full_path}")
            self.authorize(path, authorization)
            fault = self.faults.take(path, full_path)
            if fault is not None and not fault.truncate:
                body = fault.body if fault.body is not None else self.error_body(fault.status, None)
                response = _json_response(fault.status, body, fault.headers)
            else:
                response = _json_response(200, self.route(method, path, query))
                if fault is not None:
                    cut = response.body[: len(response.body) // 2]
                    response = Response(fault.status, cut, {**response.headers, **fault.headers})
        except HTTPError as exc:
            response = _json_response(exc.status, self.error_body(exc.status, exc.message, exc.param))
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query, response.status))
        return response

    def authorize(self, path: str, authorization: str | None) -> None:
        raise NotImplementedError

    def route(self, method: str, path: str, query: Query) -> Json:
        raise NotImplementedError

    def error_body(self, status: int, message: str | None, param: str | None = None) -> Json:
        raise NotImplementedError


def _bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


# --------------------------------------------------------------------------------------------------
# OpenAI


_OPENAI_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "invalid_request_error",
    404: "invalid_request_error",
    429: "requests",
}
_OPENAI_DEFAULT_MESSAGES: Final = {
    429: "Rate limit reached for requests. Please try again in 1s.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
}

USAGE_GROUP_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "completions": ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier"),
    "embeddings": ("project_id", "user_id", "api_key_id", "model"),
    "moderations": ("project_id", "user_id", "api_key_id", "model"),
    "images": ("project_id", "user_id", "api_key_id", "model", "size", "source"),
    "audio_speeches": ("project_id", "user_id", "api_key_id", "model"),
    "audio_transcriptions": ("project_id", "user_id", "api_key_id", "model"),
    "vector_stores": ("project_id",),
    "code_interpreter_sessions": ("project_id",),
    "file_search_calls": ("project_id", "user_id", "api_key_id", "vector_store_id"),
    "web_search_calls": ("project_id", "user_id", "api_key_id", "model", "context_level"),
}
_USAGE_OBJECTS: Final = {
    "file_search_calls": "organization.usage.file_searches.result",
    "web_search_calls": "organization.usage.web_searches.result",
}
COST_GROUP_FIELDS: Final = ("project_id", "line_item", "api_key_id")


class FakeOpenAI(SimulatedServer):
    """``/v1/organization/{costs,usage/*,projects}`` over a dataset.

    Two switches exist for the tests only, so they are attributes a test sets, not constructor options:
    ``reject_key_grouping = True`` answers 400 when ``api_key_id`` is in a costs ``group_by``, like
    organizations where that (newer) grouping is not accepted, so clients can prove their fallback;
    a ``project_key`` is accepted as a bearer but lacks ``api.usage.read`` (403), like an ``sk-proj``.
    """

    api_root = "/v1"
    admin_key: str = OPENAI_ADMIN_KEY
    project_key: str | None = None
    reject_key_grouping: bool = False

    def authorize(self, path: str, authorization: str | None) -> None:
        key = _bearer(authorization)
        if key is None:
            raise HTTPError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if self.project_key is not None and key == self.project_key:
            raise HTTPError(
                403,
                "You have insufficient permissions for this operation. Missing scopes: api.usage.read. "
                "Check that you have the correct role in your organization (Reader, Writer, Owner).",
            )
        if key != self.admin_key:
            raise HTTPError(401, f"Incorrect API key provided: {key[:6]}***{key[-4:]}.")

    def error_body(self, status: int, message: str | None, param: str | None = None) -> Json:
        code: str | None = None
        if status == 401 and message and message.startswith("Incorrect API key"):
            code = "invalid_api_key"
        elif status == 429:
            code = "rate_limit_exceeded"
        return {
            "error": {
                "message": message or _OPENAI_DEFAULT_MESSAGES.get(status, f"HTTP {status}"),
                "type": _OPENAI_ERROR_TYPES.get(status, "server_error"),
                "param": param,
                "code": code,
            }
        }

    def route(self, method: str, path: str, query: Query) -> Json:
        if method != "GET":
            raise HTTPError(405, f"Method {method} is not supported by the simulator.")
        parts = path.strip("/").split("/")
        if parts[:1] != ["organization"]:
            raise HTTPError(404, f"Unknown path: {path}")
        match parts[1:]:
            case ["costs"]:
                return self._costs(query)
            case ["usage", endpoint] if endpoint in USAGE_GROUP_FIELDS:
                return self._usage(endpoint, query)
            case ["projects"]:
                return self._projects(query)
            case ["projects", project_id]:
                return self._project_json(self._project_index(project_id))
            case ["projects", project_id, "api_keys"]:
                return self._api_keys(project_id, query)
        raise HTTPError(404, f"Unknown path: {path}")

    # ---- buckets --------------------------------------------------------------------------------

    def _window(self, query: Query, max_limit: int) -> tuple[list[date], int, date | None]:
        """Days of this page, the start_time, and the next page's first day (if any)."""
        if (_one(query, "bucket_width") or "1d") != "1d":
            raise HTTPError(400, "The simulator only serves bucket_width=1d.", param="bucket_width")
        start_time = _int(query, "start_time", None, 0, 2**40)
        end_time = _int(query, "end_time", _unix(self.dataset.today) + DAY, 0, 2**40)
        limit = _int(query, "limit", 7, 1, max_limit)
        first = _day_of(start_time)
        page = _one(query, "page")
        if page:
            first = max(first, _decode_cursor(page))
        last = (
            min(_day_of(end_time - 1), self.dataset.today) if end_time > start_time else first - timedelta(1)
        )
        days: list[date] = []
        day = first
        while day <= last and len(days) < limit:
            days.append(day)
            day += timedelta(days=1)
        return days, start_time, (day if day <= last else None)

    @staticmethod
    def _page(buckets: list[Json], next_day: date | None) -> Json:
        return {
            "object": "page",
            "data": buckets,
            "has_more": next_day is not None,
            "next_page": _encode_cursor(next_day) if next_day else None,
        }

    @staticmethod
    def _group_by(query: Query, allowed: Iterable[str]) -> tuple[str, ...]:
        fields = _many(query, "group_by")
        allowed = tuple(allowed)
        for name in fields:
            if name not in allowed:
                raise HTTPError(
                    400,
                    f"Invalid value for 'group_by': {name!r} is not one of {list(allowed)}.",
                    param="group_by",
                )
        return tuple(dict.fromkeys(fields))

    def _costs(self, query: Query) -> Json:
        group_by = self._group_by(query, COST_GROUP_FIELDS)
        if self.reject_key_grouping and "api_key_id" in group_by:
            raise HTTPError(
                400, "Invalid value for 'group_by': api_key_id is not supported.", param="group_by"
            )
        days, _, next_day = self._window(query, 180)
        project_ids = set(_many(query, "project_ids"))
        key_ids = set(_many(query, "api_key_ids"))
        buckets = []
        for day in days:
            groups: dict[tuple[str | None, ...], tuple[Decimal, int | None]] = {}
            for cost in self.dataset.costs_on(day):
                if (project_ids and cost.project_id not in project_ids) or (
                    key_ids and cost.api_key_id not in key_ids
                ):
                    continue
                values = {
                    "project_id": cost.project_id,
                    "line_item": cost.line_item,
                    "api_key_id": cost.api_key_id,
                }
                key = tuple(values[g] if g in group_by else None for g in COST_GROUP_FIELDS)
                amount, qty = groups.get(key, (Decimal(0), None))
                row_qty = self.dataset.cost_quantity(cost)
                if row_qty is not None:
                    qty = (qty or 0) + row_qty
                groups[key] = (amount + cost.amount, qty)
            results = []
            for (project_id, line_item, api_key_id), (amount, qty) in sorted(groups.items(), key=_sort_key):
                by_item = "line_item" in group_by
                results.append(
                    {
                        "object": "organization.costs.result",
                        "amount": {"value": amount, "currency": "usd"},
                        "line_item": line_item,
                        "project_id": project_id,
                        "api_key_id": api_key_id,
                        "quantity": qty if by_item else None,
                        "quantity_unit": quantity_unit(line_item) if by_item and qty is not None else None,
                        "organization_id": ORGANIZATION_ID,  # real responses carry it; the spec does not
                    }
                )
            start = _unix(day)
            buckets.append(
                {"object": "bucket", "start_time": start, "end_time": start + DAY, "results": results}
            )
        return self._page(buckets, next_day)

    def _usage(self, endpoint: str, query: Query) -> Json:
        group_by = self._group_by(query, USAGE_GROUP_FIELDS[endpoint])
        days, start_time, next_day = self._window(query, 31)
        as_of = int(self.dataset.as_of.timestamp())
        filters = {
            "project_id": set(_many(query, "project_ids")),
            "api_key_id": set(_many(query, "api_key_ids")),
            "model": set(_many(query, "models")),
        }
        tracked = ("project_id", "api_key_id", "model", "batch", "service_tier")
        buckets = []
        for day in days:
            groups: dict[tuple[str | bool | None, ...], list[int]] = {}
            for row in self.dataset.usage_on(day, endpoint):
                values: dict[str, str | bool | None] = {
                    "project_id": row.project_id,
                    "api_key_id": row.api_key_id,
                    "model": row.model,
                    "batch": bool(row.batch),
                    "service_tier": row.service_tier or "default",
                }
                if any(allowed and values[name] not in allowed for name, allowed in filters.items()):
                    continue
                key = tuple(values[g] if g in group_by else None for g in tracked)
                totals = groups.setdefault(key, [0, 0, 0, 0])
                totals[0] += row.input_tokens
                totals[1] += row.cached_tokens
                totals[2] += row.output_tokens
                totals[3] += row.requests
            results = [
                self._usage_result(endpoint, dict(zip(tracked, key, strict=True)), totals)
                for key, totals in sorted(groups.items(), key=_sort_key)
            ]
            # Usage (unlike Costs) trims the first bucket to start_time and the last one to "now".
            start = max(_unix(day), start_time)
            end = min(_unix(day) + DAY, as_of) if day == self.dataset.today else _unix(day) + DAY
            buckets.append({"object": "bucket", "start_time": start, "end_time": end, "results": results})
        return self._page(buckets, next_day)

    @staticmethod
    def _usage_result(endpoint: str, groups: dict[str, str | bool | None], totals: list[int]) -> Json:
        inp, cached, out, requests = totals
        obj = _USAGE_OBJECTS.get(endpoint, f"organization.usage.{endpoint}.result")
        if endpoint == "completions":
            return {
                "object": obj,
                "input_tokens": inp,
                "input_cached_tokens": cached,
                "input_cache_write_tokens": 0,
                "input_uncached_tokens": inp - cached,
                "output_tokens": out,
                "input_text_tokens": inp - cached,
                "output_text_tokens": out,
                "input_cached_text_tokens": cached,
                "input_audio_tokens": 0,
                "input_cached_audio_tokens": 0,
                "output_audio_tokens": 0,
                "input_image_tokens": 0,
                "input_cached_image_tokens": 0,
                "output_image_tokens": 0,
                "num_model_requests": requests,
                "project_id": groups["project_id"],
                "user_id": None,
                "api_key_id": groups["api_key_id"],
                "model": groups["model"],
                "batch": groups["batch"],
                "service_tier": groups["service_tier"],
            }
        return {
            "object": obj,
            "input_tokens": inp,
            "num_model_requests": requests,
            "project_id": groups["project_id"],
            "user_id": None,
            "api_key_id": groups["api_key_id"],
            "model": groups["model"],
        }

    # ---- projects and keys ----------------------------------------------------------------------

    def _project_index(self, project_id: str) -> int:
        for index, project in enumerate(self.dataset.openai_projects):
            if project.id == project_id:
                return index
        raise HTTPError(404, f"No such project: {project_id}")

    def _created_at(self, index: int) -> int:
        return _unix(self.dataset.first_day) - (400 - 7 * index) * DAY

    def _project_json(self, index: int) -> Json:
        project = self.dataset.openai_projects[index]
        archived = project.status == "archived"
        return {
            "id": project.id,
            "object": "organization.project",
            "name": project.name,
            "created_at": self._created_at(index),
            "archived_at": int(self.dataset.as_of.timestamp()) - 19 * DAY if archived else None,
            "status": project.status,
            "external_key_id": None,
        }

    @staticmethod
    def _list_page(items: list[Json], query: Query) -> Json:
        limit = _int(query, "limit", 20, 1, 100)
        after = _one(query, "after")
        start = 0
        if after:
            ids = [item["id"] for item in items]
            if after not in ids:
                raise HTTPError(
                    400, f"Invalid value for 'after': {after!r} is not in this list.", param="after"
                )
            start = ids.index(after) + 1
        page = items[start : start + limit]
        return {
            "object": "list",
            "data": page,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
            "has_more": start + limit < len(items),
        }

    def _projects(self, query: Query) -> Json:
        include_archived = _bool(query, "include_archived", False)
        items = [
            self._project_json(i)
            for i, p in enumerate(self.dataset.openai_projects)
            if include_archived or p.status != "archived"
        ]
        return self._list_page(items, query)

    def _api_keys(self, project_id: str, query: Query) -> Json:
        index = self._project_index(project_id)
        created = self._created_at(index)
        as_of = int(self.dataset.as_of.timestamp())
        items: list[Json] = []
        for n, key in enumerate(k for k in self.dataset.openai_api_keys if k.project_id == project_id):
            owner: Json
            if n % 2:
                owner = {
                    "type": "service_account",
                    "service_account": {
                        "id": f"svc_acct_{key.id[4:16]}",
                        "name": f"{key.name or key.id}-bot",
                        "created_at": created + DAY,
                        "role": "member",
                    },
                }
            else:
                owner = {
                    "type": "user",
                    "user": {
                        "id": f"user-{key.id[4:16]}",
                        "email": f"{(key.name or 'owner').split('-')[0]}@example.com",
                        "name": (key.name or "Owner").split("-")[0].title(),
                        "created_at": created,
                        "role": "owner",
                    },
                }
            items.append(
                {
                    "object": "organization.project.api_key",
                    "redacted_value": f"sk-proj-****{key.id[-4:]}",
                    "name": key.name or "",
                    "created_at": created + (n + 1) * DAY,
                    "last_used_at": as_of - 60 * (n + 1),
                    "id": key.id,
                    "owner_project_access": "active",
                    "owner": owner,
                }
            )
        return self._list_page(items, query)


def _sort_key(item: tuple[tuple[Any, ...], Any]) -> tuple[str, ...]:
    return tuple("" if v is None else str(v) for v in item[0])


# --------------------------------------------------------------------------------------------------
# OpenRouter

_SPLIT_PROVIDERS: Final = frozenset({"Together", "Google Vertex"})
"""Providers whose rows ``/activity`` splits over two endpoints (same day, model and provider)."""


def _endpoint_id(model: str, provider: str, n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"openrouter-endpoint/{model}/{provider}/{n}"))


def _split(row: OpenRouterActivity) -> list[tuple[str, OpenRouterActivity]]:
    """The activity row as the API may send it: one row per endpoint; the parts sum exactly."""
    if row.provider_name not in _SPLIT_PROVIDERS or row.requests < 2:
        return [(_endpoint_id(row.model, row.provider_name, 0), row)]
    first_requests = row.requests // 3 or 1

    def part(value: int) -> int:
        return value * first_requests // row.requests

    first = OpenRouterActivity(
        row.day,
        row.key_hash,
        row.model,
        row.provider_name,
        (row.usage * first_requests / row.requests).quantize(NANO),
        (row.byok_usage * first_requests / row.requests).quantize(NANO),
        first_requests,
        part(row.prompt_tokens),
        part(row.completion_tokens),
        part(row.reasoning_tokens),
    )
    second = OpenRouterActivity(
        row.day,
        row.key_hash,
        row.model,
        row.provider_name,
        row.usage - first.usage,
        row.byok_usage - first.byok_usage,
        row.requests - first.requests,
        row.prompt_tokens - first.prompt_tokens,
        row.completion_tokens - first.completion_tokens,
        row.reasoning_tokens - first.reasoning_tokens,
    )
    return [
        (_endpoint_id(row.model, row.provider_name, 0), first),
        (_endpoint_id(row.model, row.provider_name, 1), second),
    ]


class FakeOpenRouter(SimulatedServer):
    """``/api/v1/{credits,keys,activity}`` over a dataset.

    For the tests only (an attribute, not a constructor option): an ``inference_key`` is a valid key
    that is not a management key: it gets the documented 403 on every management endpoint, so
    clients can show "no permission" rather than "$0".
    """

    api_root = "/api/v1"
    management_key: str = OPENROUTER_MANAGEMENT_KEY
    inference_key: str | None = None

    def authorize(self, path: str, authorization: str | None) -> None:
        key = _bearer(authorization)
        if key is None:
            raise HTTPError(401, "Missing Authentication header")
        if self.inference_key is not None and key == self.inference_key:
            raise HTTPError(403, "Only management keys can perform this operation")
        if key != self.management_key:
            raise HTTPError(401, "User not found.")

    def error_body(self, status: int, message: str | None, param: str | None = None) -> Json:
        defaults = {
            400: "Invalid request parameters",
            402: "Insufficient credits. Add more using https://openrouter.ai/credits",
            404: "Resource not found",
            429: "Rate limit exceeded",
            500: "Internal Server Error",
            502: "Provider returned error",
            503: "Service Unavailable",
        }
        # 401/403 bodies carry no metadata in the documented examples; these two do.
        error_types = {402: "payment_required", 429: "rate_limit_exceeded"}
        error: Json = {"code": status, "message": message or defaults.get(status, f"HTTP {status}")}
        if status in error_types:
            error["metadata"] = {"error_type": error_types[status]}
        return {"error": error}

    def route(self, method: str, path: str, query: Query) -> Json:
        if method != "GET":
            raise HTTPError(405, f"Method {method} is not supported by the simulator.")
        match path.rstrip("/"):
            case "/credits":
                credits = self.dataset.openrouter_credits
                return {"data": {"total_credits": credits.total_credits, "total_usage": credits.total_usage}}
            case "/keys":
                return self._keys(query)
            case "/workspaces":
                return self._workspaces(query)
            case "/activity":
                return self._activity(query)
        raise HTTPError(404, "Resource not found")

    def _workspaces(self, query: Query) -> Json:
        offset = _int(query, "offset", 0, 0, 10**9)
        limit = _int(query, "limit", 50, 1, 100)
        every = self.dataset.openrouter_workspaces
        created = self.dataset.first_day.isoformat() + "T09:00:00Z"
        data = [
            {
                "id": w.id,
                "name": w.name,
                "slug": w.slug or w.id,
                "description": None,
                "created_at": created,
                "updated_at": None,
                "created_by": "user_2dHFtVWx2n56w6HkM0000000000",
                "default_guardrail_id": _stable_uuid("guardrail", w.id),
                "default_image_model": None,
                "default_provider_sort": None,
                "default_text_model": None,
                "include_byok_in_budgets": False,
                "io_logging_api_key_ids": None,
                "io_logging_sampling_rate": 1,
                "is_data_discount_logging_enabled": True,
                "is_observability_broadcast_enabled": False,
                "is_observability_io_logging_enabled": False,
            }
            for w in every[offset : offset + limit]
        ]
        return {"data": data, "total_count": len(every)}

    def _keys(self, query: Query) -> Json:
        offset = _int(query, "offset", 0, 0, 10**9)
        include_disabled = _bool(query, "include_disabled", True)  # default undocumented; be inclusive
        workspace_id = _one(query, "workspace_id")
        if workspace_id is not None and workspace_id not in {
            w.id for w in self.dataset.openrouter_workspaces
        }:
            raise HTTPError(404, "Workspace not found")
        default = self.dataset.openrouter_workspaces[0].id
        keys = [k for k in self.dataset.workspace_keys(workspace_id) if include_disabled or not k.disabled]
        ds = self.dataset
        week_start = ds.today - timedelta(days=ds.today.weekday())
        tomorrow = ds.today + timedelta(days=1)
        created = datetime(ds.first_day.year, ds.first_day.month, ds.first_day.day, 9, 30, tzinfo=UTC)
        data = []
        for n, key in enumerate(keys[offset : offset + KEYS_PAGE_SIZE], start=offset):

            def byok(since: date, key_hash: str = key.hash) -> Decimal:
                return ds.openrouter_usage_total(since, tomorrow, key_hash=key_hash, byok=True)

            data.append(
                {
                    "hash": key.hash,
                    "name": key.name or "",
                    "label": key.label or "",
                    "disabled": key.disabled,
                    "limit": key.limit,
                    "limit_remaining": key.limit_remaining,
                    "limit_reset": key.limit_reset,
                    "include_byok_in_limit": False,
                    "usage": key.usage,
                    "usage_daily": key.usage_daily,
                    "usage_weekly": key.usage_weekly,
                    "usage_monthly": key.usage_monthly,
                    "byok_usage": key.byok_usage,
                    "byok_usage_daily": byok(ds.today),
                    "byok_usage_weekly": byok(week_start),
                    "byok_usage_monthly": byok(ds.today.replace(day=1)),
                    "created_at": (created - timedelta(days=3 * n)).isoformat().replace("+00:00", "Z"),
                    "updated_at": None if n % 3 else ds.as_of.isoformat(),
                    "expires_at": None,
                    "creator_user_id": "user_2dHFtVWx2n56w6HkM0000000000",
                    "workspace_id": key.workspace_id or default,
                }
            )
        return {"data": data}

    def _activity(self, query: Query) -> Json:
        first, end = self.dataset.activity_window
        key_hash = _one(query, "api_key_hash")
        wanted = _one(query, "date")
        days = [first + timedelta(days=i) for i in range((end - first).days)]
        if wanted is not None:
            try:
                day = date.fromisoformat(wanted)
            except ValueError:
                raise HTTPError(400, "Invalid date format. Use YYYY-MM-DD.") from None
            if not first <= day < end:
                raise HTTPError(400, "Date must be within the last 30 (completed) UTC days.")
            days = [day]
        data = []
        for day in days:
            merged: dict[tuple[str, str], list[OpenRouterActivity]] = defaultdict(list)
            for row in self.dataset.activity_on(day):
                if key_hash is None or row.key_hash == key_hash:
                    merged[(row.model, row.provider_name)].append(row)
            for (model, provider), rows in sorted(merged.items()):
                for endpoint_id, part in _split(_sum_rows(rows)):
                    data.append(
                        {
                            "date": day.isoformat(),
                            "model": model,
                            "model_permaslug": _permaslug(model),
                            "endpoint_id": endpoint_id,
                            "provider_name": provider,
                            "usage": part.usage,
                            "byok_usage_inference": part.byok_usage,
                            "requests": part.requests,
                            "prompt_tokens": part.prompt_tokens,
                            "completion_tokens": part.completion_tokens,
                            "reasoning_tokens": part.reasoning_tokens,
                        }
                    )
        return {"data": data}


def _stable_uuid(*parts: str) -> str:
    digest = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-5{digest[13:16]}-a{digest[17:20]}-{digest[20:32]}"


def _permaslug(model: str) -> str:
    known = OPENROUTER_MODELS.get(model)
    return known.permaslug if known else model


def _sum_rows(rows: list[OpenRouterActivity]) -> OpenRouterActivity:
    """Rows of several keys for one (day, model, provider) summed, as an unfiltered query returns."""
    if len(rows) == 1:
        return rows[0]
    head = rows[0]
    return OpenRouterActivity(
        head.day,
        "",
        head.model,
        head.provider_name,
        sum((r.usage for r in rows), Decimal(0)),
        sum((r.byok_usage for r in rows), Decimal(0)),
        sum(r.requests for r in rows),
        sum(r.prompt_tokens for r in rows),
        sum(r.completion_tokens for r in rows),
        sum(r.reasoning_tokens for r in rows),
    )


# --------------------------------------------------------------------------------------------------


@dataclass
class SimulatedProviders(_Running):
    """Both fake providers over one dataset, started and stopped together (the demo's setup)."""

    dataset: Dataset
    openai: FakeOpenAI = field(init=False)
    openrouter: FakeOpenRouter = field(init=False)

    def __post_init__(self) -> None:
        self.openai = FakeOpenAI(self.dataset)
        self.openrouter = FakeOpenRouter(self.dataset)

    def start(self) -> Self:
        self.openai.start()
        self.openrouter.start()
        return self

    def stop(self) -> None:
        self.openai.stop()
        self.openrouter.stop()

    def environ(self) -> dict[str, str]:
        """Environment for aispend's settings that points both providers at these servers."""
        return {
            "OPENAI_BASE_URL": self.openai.base_url,
            "OPENAI_ADMIN_KEY": self.openai.admin_key,
            "OPENROUTER_BASE_URL": self.openrouter.base_url,
            "OPENROUTER_MANAGEMENT_KEY": self.openrouter.management_key,
        }
