"""OpenRouter management API client (credits, keys, per-key activity) → normalized records.

A management key is required for all three endpoints; with any other key OpenRouter answers 403,
which surfaces as :class:`~aispend.providers.errors.PermissionDenied` ("no permission"), never as
a zero balance.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace
from typing import Unpack

from aispend import money
from aispend.providers.errors import MalformedResponse
from aispend.providers.http import (
    ClientOptions,
    Count,
    Money,
    MoneyOrZero,
    NullableMoney,
    ProviderClient,
    Wire,
    parse_body,
)
from aispend.records import OpenRouterActivity, OpenRouterCredits, OpenRouterKey, OpenRouterWorkspace

PROVIDER = "openrouter"
DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
WORKSPACES_PAGE_SIZE = 100  # the documented maximum ``limit``
UNKNOWN_PROVIDER = "unknown"


# -- wire shapes ------------------------------------------------------------------------------


class _Credits(Wire):
    # Required: a missing total must not turn into a $0 balance (and a false low-credit alert).
    total_credits: Money
    total_usage: Money


class _CreditsBody(Wire):
    data: _Credits


class _Key(Wire):
    hash: str
    name: str | None = None
    label: str | None = None
    disabled: bool = False
    limit: NullableMoney = None
    limit_remaining: NullableMoney = None
    limit_reset: str | None = None
    usage: MoneyOrZero = money.ZERO
    usage_daily: MoneyOrZero = money.ZERO
    usage_weekly: MoneyOrZero = money.ZERO
    usage_monthly: MoneyOrZero = money.ZERO
    byok_usage: MoneyOrZero = money.ZERO
    workspace_id: str | None = None


class _KeysBody(Wire):
    data: list[_Key]


class _Workspace(Wire):
    id: str
    name: str
    slug: str | None = None


class _WorkspacesBody(Wire):
    data: list[_Workspace]
    total_count: int | None = None


class _Activity(Wire):
    date: dt.date
    model: str
    provider_name: str | None = None
    usage: MoneyOrZero = money.ZERO
    byok_usage_inference: MoneyOrZero = money.ZERO
    requests: Count = 0
    prompt_tokens: Count = 0
    completion_tokens: Count = 0
    reasoning_tokens: Count = 0


class _ActivityBody(Wire):
    data: list[_Activity]


# -- client -----------------------------------------------------------------------------------


class OpenRouterClient(ProviderClient):
    """Reads account balance, key usage and daily per-key activity; no DB, no Slack."""

    provider = PROVIDER
    default_base_url = DEFAULT_BASE_URL

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        *,
        keys_page_size: int = 100,
        **options: Unpack[ClientOptions],
    ) -> None:
        if keys_page_size < 1:
            raise ValueError("keys_page_size must be at least 1")
        self._keys_page_size = keys_page_size
        super().__init__(api_key, base_url, **options)

    def credits(self) -> OpenRouterCredits:
        """Account-wide purchased and used credits (USD); the balance is their difference."""
        body = parse_body(
            _CreditsBody, self._api.get_json("/credits"), provider=PROVIDER, endpoint="/credits"
        )
        return OpenRouterCredits(total_credits=body.data.total_credits, total_usage=body.data.total_usage)

    def workspaces(self) -> list[OpenRouterWorkspace]:
        """Every workspace of the account (``offset``/``limit`` paging up to ``total_count``).

        Why: ``/keys`` answers for one workspace only (the default one without ``workspace_id``),
        so an account with several workspaces hides every other key's spend from a plain listing.
        """
        found: dict[str, OpenRouterWorkspace] = {}
        offset = 0
        for _ in range(self._api.limits.max_pages):
            params = {"offset": offset, "limit": WORKSPACES_PAGE_SIZE}
            raw = self._api.get_json("/workspaces", params)
            body = parse_body(_WorkspacesBody, raw, provider=PROVIDER, endpoint="/workspaces")
            fresh = [w for w in body.data if w.id not in found]
            found.update((w.id, OpenRouterWorkspace(id=w.id, name=w.name, slug=w.slug)) for w in fresh)
            self._api.count_rows("/workspaces", len(found), len(fresh))
            offset += len(body.data)
            done = len(body.data) < WORKSPACES_PAGE_SIZE or (
                body.total_count is not None and offset >= body.total_count
            )
            if done:
                return list(found.values())
            if not fresh:
                raise MalformedResponse(
                    f"openrouter GET /workspaces: offset paging did not advance (offset={offset})",
                    provider=PROVIDER,
                    endpoint="/workspaces",
                    status=200,
                )
        raise self._api.too_many_pages("/workspaces")

    def keys(self, include_disabled: bool = True, workspace_id: str | None = None) -> list[OpenRouterKey]:
        """Every key of one workspace (the default one without ``workspace_id``), paging by
        ``offset``. Keys carry the workspace they were listed in when the API leaves it out.

        The API gives no total and no ``has_more``: a page shorter than ``keys_page_size`` is the
        last. Keys are de-duplicated by hash, since a key created mid-listing shifts later pages
        by one. A full page with nothing new means the server ignores ``offset``; that is raised
        instead of looping or silently returning a partial list.
        """
        found: dict[str, OpenRouterKey] = {}
        offset = 0
        for _ in range(self._api.limits.max_pages):
            params: dict[str, str | int] = {
                "offset": offset,
                "include_disabled": "true" if include_disabled else "false",
            }
            if workspace_id is not None:
                params["workspace_id"] = workspace_id
            body = parse_body(
                _KeysBody, self._api.get_json("/keys", params), provider=PROVIDER, endpoint="/keys"
            )
            fresh = [key for key in body.data if key.hash not in found]
            found.update((key.hash, _key_record(key, workspace_id)) for key in fresh)
            self._api.count_rows("/keys", len(found), len(fresh))
            if len(body.data) < self._keys_page_size:
                return list(found.values())
            if not fresh:
                raise self._paging_error(f"offset={offset} returned only keys already seen")
            offset += len(body.data)
        raise self._api.too_many_pages("/keys")

    def activity(self, key_hash: str) -> list[OpenRouterActivity]:
        """One key's last 30 completed UTC days, one record per (day, model, provider).

        Scoped by ``api_key_hash`` only, never by ``workspace_id``: without it rows are summed
        across workspaces, so a key's history stays whole even for activity OpenRouter recorded
        before workspaces existed (attributed to the default workspace, per its API reference).

        The API splits a day × model × provider across endpoints (``endpoint_id``); those rows are
        summed here so the record's natural key is unique.
        """
        raw = self._api.get_json("/activity", {"api_key_hash": key_hash})
        body = parse_body(_ActivityBody, raw, provider=PROVIDER, endpoint="/activity")
        self._api.count_rows("/activity", len(body.data), len(body.data))
        return _sum_activity(key_hash, body.data)

    @staticmethod
    def _paging_error(problem: str) -> MalformedResponse:
        return MalformedResponse(
            f"openrouter GET /keys: offset paging did not advance ({problem})",
            provider=PROVIDER,
            endpoint="/keys",
            status=200,
        )


def _key_record(key: _Key, workspace_id: str | None = None) -> OpenRouterKey:
    return OpenRouterKey(
        hash=key.hash,
        name=key.name,
        label=key.label,
        disabled=key.disabled,
        limit=key.limit,
        limit_remaining=key.limit_remaining,
        limit_reset=key.limit_reset,
        usage=key.usage,
        usage_daily=key.usage_daily,
        usage_weekly=key.usage_weekly,
        usage_monthly=key.usage_monthly,
        byok_usage=key.byok_usage,
        workspace_id=key.workspace_id or workspace_id,
    )


def _sum_activity(key_hash: str, rows: Iterable[_Activity]) -> list[OpenRouterActivity]:
    merged: dict[tuple[dt.date, str, str], OpenRouterActivity] = {}
    for row in rows:
        record = OpenRouterActivity(
            day=row.date,
            key_hash=key_hash,
            model=row.model,
            provider_name=row.provider_name or UNKNOWN_PROVIDER,
            usage=row.usage,
            byok_usage=row.byok_usage_inference,
            requests=row.requests,
            prompt_tokens=row.prompt_tokens,
            completion_tokens=row.completion_tokens,
            reasoning_tokens=row.reasoning_tokens,
        )
        group = (record.day, record.model, record.provider_name)
        seen = merged.get(group)
        merged[group] = record if seen is None else _add(seen, record)
    return [merged[group] for group in sorted(merged)]


def _add(a: OpenRouterActivity, b: OpenRouterActivity) -> OpenRouterActivity:
    return replace(
        a,
        usage=a.usage + b.usage,
        byok_usage=a.byok_usage + b.byok_usage,
        requests=a.requests + b.requests,
        prompt_tokens=a.prompt_tokens + b.prompt_tokens,
        completion_tokens=a.completion_tokens + b.completion_tokens,
        reasoning_tokens=a.reasoning_tokens + b.reasoning_tokens,
    )
