"""OpenAI organization Costs / Usage / Projects client (admin key) → normalized records.

Costs are the billing truth for dollars; Usage only supplies tokens and requests. Windows are
whole UTC days (``start`` inclusive, ``end`` exclusive, both sent as 00:00 UTC) because Costs
buckets are whole UTC days regardless of alignment and Usage trims to an unaligned start.

Costs and Usage pages are big (a 60-day costs backfill is one ~80 MB page of ~250k results), so
they are decoded while they stream in, one bucket at a time, and each bucket's results become
records directly: a fast path for results whose fields have exactly the JSON types the API sends,
and the pydantic wire models for any bucket with anything else, so an unusual but valid value is
still accepted, and a wrong one still raises MalformedResponse naming its path, exactly as before.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from pydantic import Field

from aispend import money
from aispend.clock import day_start, from_unix, unix
from aispend.providers.errors import BadRequest, MalformedResponse
from aispend.providers.http import (
    MAX_COUNT,
    Count,
    MoneyOrZero,
    ParamValue,
    ProviderClient,
    Wire,
    parse_body,
)
from aispend.providers.jsonstream import StreamedObject
from aispend.records import OpenAIApiKey, OpenAICost, OpenAIProject, OpenAIUsage

log = logging.getLogger("aispend.providers.openai")

PROVIDER = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
KNOWN_USAGE_ENDPOINTS = frozenset(
    {"completions", "embeddings", "images", "audio_speeches", "audio_transcriptions", "moderations"}
)
COSTS_GROUP_BY = ("project_id", "line_item", "api_key_id")
COSTS_GROUP_BY_NO_KEY = ("project_id", "line_item")
# Images could also group by size/source, but OpenAIUsage has no such fields: grouping finer than
# the record would produce several rows for one natural key.
USAGE_GROUP_BY = ("project_id", "api_key_id", "model")
# Completions can also be split by batch and service tier (what the "batch share" shows).
COMPLETIONS_GROUP_BY = (*USAGE_GROUP_BY, "batch", "service_tier")
COSTS_PAGE_BUCKETS = 180  # API maximum for costs: a 60-day backfill is one request
USAGE_PAGE_BUCKETS = 31  # API maximum for 1d usage buckets
LIST_PAGE_SIZE = 100


# -- wire shapes ------------------------------------------------------------------------------


class _Amount(Wire):
    value: MoneyOrZero = money.ZERO
    currency: str | None = None


class _CostResult(Wire):
    amount: _Amount | None = None
    project_id: str | None = None
    api_key_id: str | None = None
    line_item: str | None = None


class _UsageResult(Wire):
    project_id: str | None = None
    api_key_id: str | None = None
    model: str | None = None
    input_tokens: Count = 0
    input_cached_tokens: Count = 0
    output_tokens: Count = 0
    num_model_requests: Count = 0
    batch: bool | None = None
    service_tier: str | None = None


R = TypeVar("R", bound=Wire)
X = TypeVar("X")


class _Bucket(Wire, Generic[R]):
    start_time: int
    results: list[R] = Field(default_factory=list)


class _BucketPage(Wire):
    """A bucket page without its buckets, which are streamed and checked one by one."""

    # has_more is required on purpose: guessing "no more pages" would silently drop dollars.
    has_more: bool
    next_page: str | None = None


class _BucketPageShape(Wire):
    """Only validated when ``data`` is missing or not an array, to say so as pydantic would."""

    data: list[Any]
    has_more: bool
    next_page: str | None = None


class _Project(Wire):
    id: str
    name: str | None = None
    status: str | None = None
    archived_at: int | None = None


class _ApiKey(Wire):
    id: str
    name: str | None = None


class _ListPage(Wire, Generic[R]):
    data: list[R]
    has_more: bool
    last_id: str | None = None


_CostBucket = _Bucket[_CostResult]
_UsageBucket = _Bucket[_UsageResult]
_ProjectsPage = _ListPage[_Project]
_ApiKeysPage = _ListPage[_ApiKey]


# -- client -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostsPage:
    """Cost rows for a window; ``key_level`` is False when the API refused ``api_key_id`` grouping.

    Then every row has ``api_key_id=None`` and the caller reports "key-level money attribution
    unavailable" rather than treating the money as unattributed to keys.
    """

    rows: list[OpenAICost]
    key_level: bool


class OpenAIClient(ProviderClient):
    """Reads spend with an OpenAI admin key (``api.usage.read``); no DB, no Slack."""

    provider = PROVIDER
    default_base_url = DEFAULT_BASE_URL

    # -- costs / usage ------------------------------------------------------------------------

    def costs(self, start: date, end: date) -> CostsPage:
        """Daily dollars for ``[start, end)`` grouped by project, line item and (if allowed) key.

        Older API versions answer 400 to ``group_by=api_key_id``; the window is then fetched
        once more without it, so project-level money is never lost to a key-level refusal.
        """
        try:
            return CostsPage(self._costs(start, end, COSTS_GROUP_BY), key_level=True)
        except BadRequest as exc:
            log.warning(
                "openai costs: api_key_id grouping refused (%s); falling back to project + line item",
                exc.provider_message,
            )
            return CostsPage(self._costs(start, end, COSTS_GROUP_BY_NO_KEY), key_level=False)

    def usage(self, endpoint: str, start: date, end: date) -> list[OpenAIUsage]:
        """Daily tokens and requests for one usage endpoint over ``[start, end)``.

        Completions are grouped by batch and service tier too; an API that refuses those
        groupings (400) is asked once more without them, so tokens are never lost to them.
        """
        if endpoint not in KNOWN_USAGE_ENDPOINTS:
            raise ValueError(
                f"unsupported usage endpoint {endpoint!r}; expected one of {sorted(KNOWN_USAGE_ENDPOINTS)}"
            )
        if endpoint != "completions":
            return self._usage(endpoint, start, end, USAGE_GROUP_BY)
        try:
            return self._usage(endpoint, start, end, COMPLETIONS_GROUP_BY)
        except BadRequest as exc:
            log.warning(
                "openai usage: batch/service_tier grouping refused (%s); falling back", exc.provider_message
            )
            return self._usage(endpoint, start, end, USAGE_GROUP_BY)

    def _usage(self, endpoint: str, start: date, end: date, group_by: tuple[str, ...]) -> list[OpenAIUsage]:
        path = f"/organization/usage/{endpoint}"
        params = self._window(start, end, USAGE_PAGE_BUCKETS, group_by)
        strings: dict[str, str] = {}

        def convert(bucket: Any, index: int) -> list[OpenAIUsage]:
            try:
                return _fast_usage_rows(bucket, endpoint, strings)
            except _Irregular:
                checked = parse_body(
                    _UsageBucket, bucket, provider=PROVIDER, endpoint=path, at=f"data.{index}"
                )
                day = _checked_day(checked.start_time, path, index)
                return [_usage_record(day, endpoint, row) for row in checked.results]

        return self._bucket_rows(path, params, convert)

    def _costs(self, start: date, end: date, group_by: tuple[str, ...]) -> list[OpenAICost]:
        path = "/organization/costs"
        params = self._window(start, end, COSTS_PAGE_BUCKETS, group_by)
        strings: dict[str, str] = {}

        def convert(bucket: Any, index: int) -> list[OpenAICost]:
            try:
                return _fast_cost_rows(bucket, strings)
            except _Irregular:
                checked = parse_body(
                    _CostBucket, bucket, provider=PROVIDER, endpoint=path, at=f"data.{index}"
                )
                day = _checked_day(checked.start_time, path, index)
                return [record for row in checked.results if (record := _cost_record(day, row)) is not None]

        return self._bucket_rows(path, params, convert)

    @staticmethod
    def _window(start: date, end: date, limit: int, group_by: tuple[str, ...]) -> dict[str, ParamValue]:
        if end <= start:
            raise ValueError(f"empty window: end {end} must be after start {start}")
        return {
            "start_time": unix(day_start(start)),
            "end_time": unix(day_start(end)),
            "bucket_width": "1d",
            "limit": limit,
            "group_by": list(group_by),
        }

    def _bucket_rows(
        self, path: str, params: dict[str, ParamValue], convert: Callable[[Any, int], list[X]]
    ) -> list[X]:
        """The records of every bucket across all pages, following ``next_page`` with the same params.

        ``convert(bucket, index)`` turns one decoded bucket into records while the page streams.
        """
        rows: list[X] = []
        seen: set[str] = set()
        cursor: str | None = None
        page_rows = 0  # rows of the page being streamed (a failed attempt's are counted too)

        def counted(bucket: Any, index: int) -> list[X]:
            nonlocal page_rows
            made = convert(bucket, index)
            page_rows += len(made)
            self._api.count_rows(path, len(rows) + page_rows, len(made))
            return made

        for _ in range(self._api.limits.max_pages):
            query = params if cursor is None else {**params, "page": cursor}
            page_rows = 0
            streamed = self._api.get_streamed(path, query, "data", counted)
            page = self._page_end(path, streamed)
            rows.extend(streamed.items or ())
            if not page.has_more:
                return rows
            cursor = self._next_cursor(path, page.next_page, seen)
        raise self._api.too_many_pages(path)

    @staticmethod
    def _page_end(path: str, streamed: StreamedObject[X]) -> _BucketPage:
        if streamed.items is None:
            # No "data" array (or no object at all): the full page shape names what is wrong.
            parse_body(_BucketPageShape, streamed.rest, provider=PROVIDER, endpoint=path)
            raise MalformedResponse(  # unreachable for decoded JSON: an array would have streamed
                f"openai GET {path}: unexpected response shape at data",
                provider=PROVIDER,
                endpoint=path,
                status=200,
            )
        return parse_body(_BucketPage, streamed.rest, provider=PROVIDER, endpoint=path)

    # -- names --------------------------------------------------------------------------------

    def projects(self) -> list[OpenAIProject]:
        """All projects, archived included: archived projects still own historical spend."""
        rows = self._list("/organization/projects", {"include_archived": "true"}, _ProjectsPage)
        return [OpenAIProject(id=p.id, name=p.name, status=_project_status(p)) for p in rows]

    def api_keys(self, project_id: str) -> list[OpenAIApiKey]:
        """A project's API keys; their ``id`` is the ``api_key_id`` in Costs and Usage."""
        path = f"/organization/projects/{quote(project_id, safe='')}/api_keys"
        return [
            OpenAIApiKey(id=k.id, project_id=project_id, name=k.name)
            for k in self._list(path, {}, _ApiKeysPage)
        ]

    def _list(self, path: str, params: dict[str, ParamValue], page_model: type[_ListPage[R]]) -> list[R]:
        items: list[R] = []
        seen: set[str] = set()
        after: str | None = None
        for _ in range(self._api.limits.max_pages):
            query: dict[str, ParamValue] = {**params, "limit": LIST_PAGE_SIZE}
            if after is not None:
                query["after"] = after
            body = self._api.get_json(path, query)
            page = parse_body(page_model, body, provider=PROVIDER, endpoint=path)
            items.extend(page.data)
            self._api.count_rows(path, len(items), len(page.data))
            if not page.has_more:
                return items
            last = page.last_id or (getattr(page.data[-1], "id", None) if page.data else None)
            after = self._next_cursor(path, last, seen)
        raise self._api.too_many_pages(path)

    @staticmethod
    def _next_cursor(path: str, cursor: str | None, seen: set[str]) -> str:
        """Guard pagination: ``has_more`` without a new cursor would otherwise loop forever."""
        if not cursor or cursor in seen:
            problem = "no cursor" if not cursor else "a repeated cursor"
            raise MalformedResponse(
                f"openai GET {path}: has_more is true but the page gives {problem}",
                provider=PROVIDER,
                endpoint=path,
                status=200,
            )
        seen.add(cursor)
        return cursor


# -- bucket results → records ------------------------------------------------------------------


class _Irregular(Exception):
    """Internal: a bucket the fast path does not take; the wire models validate it instead."""


def _text(value: object, strings: dict[str, str]) -> str | None:
    """A nullable string field; repeats share one object (250k rows name a few hundred ids)."""
    if value is None:
        return None
    if type(value) is str:
        return strings.setdefault(value, value)
    raise _Irregular


def _count(value: object) -> int:
    if type(value) is int and -MAX_COUNT <= value <= MAX_COUNT:
        return value
    if value is None:
        return 0
    raise _Irregular


def _bucket_day(bucket: object) -> tuple[date, list[Any]]:
    if type(bucket) is not dict:
        raise _Irregular
    start = bucket.get("start_time")
    results = bucket.get("results", [])
    if type(start) is not int or type(results) is not list:
        raise _Irregular
    try:
        return from_unix(start).date(), results
    except (OverflowError, OSError, ValueError):
        raise _Irregular from None


def _checked_day(start_time: int, path: str, index: int) -> date:
    """A bucket's UTC day; a start_time no date can have is a malformed page, not a crash."""
    try:
        return from_unix(start_time).date()
    except (OverflowError, OSError, ValueError):
        raise MalformedResponse(
            f"openai GET {path}: unexpected response shape at data.{index}.start_time: "
            f"{start_time} is not a usable Unix time",
            provider=PROVIDER,
            endpoint=path,
            status=200,
        ) from None


def _fast_cost_rows(bucket: object, strings: dict[str, str]) -> list[OpenAICost]:
    """Records for a bucket of plain results: str/null ids, a USD amount that is a JSON number.

    Anything else raises _Irregular. For what it accepts the result equals the wire-model path's
    (a test holds the two to that); it exists because that path costs several times as much.
    """
    day, results = _bucket_day(bucket)
    rows: list[OpenAICost] = []
    for result in results:
        if type(result) is not dict:
            raise _Irregular
        rows.append(
            OpenAICost(
                day,
                _text(result.get("project_id"), strings),
                _text(result.get("api_key_id"), strings),
                _text(result.get("line_item"), strings),
                _usd(result.get("amount")),
            )
        )
    return rows


def _usd(amount: object) -> Decimal:
    if amount is None:
        return money.ZERO
    if type(amount) is not dict:
        raise _Irregular
    currency = amount.get("currency")
    if currency is not None and (type(currency) is not str or (currency and currency.lower() != "usd")):
        raise _Irregular  # including every non-USD row: the wire-model path skips it with a warning
    value = amount.get("value")
    # Out-of-range amounts take the wire-model path too, which refuses them naming the field.
    if type(value) is Decimal and value.is_finite() and abs(value) <= money.MAX_PROVIDER_USD:
        return value
    if type(value) is int and abs(value) <= money.MAX_PROVIDER_USD:
        return Decimal(value)
    if value is None:
        return money.ZERO
    raise _Irregular


def _cost_record(day: date, row: _CostResult) -> OpenAICost | None:
    amount = row.amount or _Amount()
    currency = (amount.currency or "usd").lower()
    if currency != "usd":
        # Skip rather than fail: adding another currency into dollar totals would be wrong, and
        # refusing the whole window would hide every correct dollar with it. The warning makes the
        # gap visible; OpenAI bills in USD, so this is not expected.
        log.warning(
            "openai costs: skipping %s %s row for %s (project %s)",
            amount.value,
            currency,
            day,
            row.project_id,
        )
        return None
    return OpenAICost(
        day=day,
        project_id=row.project_id,
        api_key_id=row.api_key_id,
        line_item=row.line_item,
        amount=amount.value,
    )


def _fast_usage_rows(bucket: object, endpoint: str, strings: dict[str, str]) -> list[OpenAIUsage]:
    """Records for a bucket of plain results (str/null ids, int/null counts); see _fast_cost_rows."""
    day, results = _bucket_day(bucket)
    rows: list[OpenAIUsage] = []
    for result in results:
        if type(result) is not dict:
            raise _Irregular
        rows.append(
            OpenAIUsage(
                day,
                endpoint,
                _text(result.get("project_id"), strings),
                _text(result.get("api_key_id"), strings),
                _text(result.get("model"), strings),
                _count(result.get("input_tokens")),
                _count(result.get("input_cached_tokens")),
                _count(result.get("output_tokens")),
                _count(result.get("num_model_requests")),
                _flag(result.get("batch")),
                _text(result.get("service_tier"), strings),
            )
        )
    return rows


def _flag(value: object) -> bool | None:
    if value is None or type(value) is bool:
        return value
    raise _Irregular


def _usage_record(day: date, endpoint: str, row: _UsageResult) -> OpenAIUsage:
    return OpenAIUsage(
        day=day,
        endpoint=endpoint,
        project_id=row.project_id,
        api_key_id=row.api_key_id,
        model=row.model,
        input_tokens=row.input_tokens,
        cached_tokens=row.input_cached_tokens,
        output_tokens=row.output_tokens,
        requests=row.num_model_requests,
        batch=row.batch,
        service_tier=row.service_tier,
    )


def _project_status(project: _Project) -> str:
    """Older responses may omit ``status``; ``archived_at`` still tells archived from active."""
    if project.status:
        return project.status
    return "archived" if project.archived_at else "active"
