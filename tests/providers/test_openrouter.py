"""OpenRouterClient against MockTransport: credits, offset-paged keys, summed activity."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import httpx
import pytest

from aispend.providers.errors import MalformedResponse, PermissionDenied, ProviderUnavailable
from aispend.providers.openrouter import OpenRouterClient
from aispend.records import OpenRouterActivity, OpenRouterCredits, OpenRouterKey

KEY = "sk-or-v1-TESTSECRET1234567890"
BASE = "https://openrouter.test/api/v1"
Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, sleeps: list[float] | None = None, page_size: int = 100) -> OpenRouterClient:
    sink: list[float] = [] if sleeps is None else sleeps
    return OpenRouterClient(
        KEY, BASE, transport=httpx.MockTransport(handler), sleep=sink.append, keys_page_size=page_size
    )


def key_json(n: int, **extra: Any) -> dict[str, Any]:
    return {"hash": f"h{n:04d}", "name": f"key-{n}", "label": f"sk-or-v1-{n}...", "disabled": False, **extra}


# -- credits ------------------------------------------------------------------------------------


def test_credits_are_exact_and_give_a_balance() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text='{"data": {"total_credits": 100.5, "total_usage": 25.75000000001}}')

    with client(handle) as orc:
        credits = orc.credits()
    assert credits == OpenRouterCredits(Decimal("100.5"), Decimal("25.75000000001"))
    assert credits.balance == Decimal("74.74999999999")
    assert seen[0].url.path == "/api/v1/credits"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


def test_credits_missing_total_is_malformed_not_zero() -> None:
    with client(lambda _: httpx.Response(200, json={"data": {"total_credits": 10}})) as orc:
        with pytest.raises(MalformedResponse, match=r"data\.total_usage"):
            orc.credits()


@pytest.mark.parametrize(
    ("status", "message"),
    [(403, "Only management keys can perform this operation"), (401, "Missing Authentication header")],
)
def test_credits_auth_failure_is_permission_denied(status: int, message: str) -> None:
    body = {"error": {"code": status, "message": message}}
    with client(lambda _: httpx.Response(status, json=body)) as orc, pytest.raises(PermissionDenied) as info:
        orc.credits()
    exc = info.value
    assert (exc.provider, exc.endpoint, exc.status) == ("openrouter", "/credits", status)
    assert str(exc) == f"openrouter GET /credits -> {status}: {message}"


# -- keys ---------------------------------------------------------------------------------------


def test_keys_page_by_offset_until_a_short_page() -> None:
    all_keys = [key_json(n, usage=n) for n in range(250)]
    offsets: list[str | None] = []

    def handle(request: httpx.Request) -> httpx.Response:
        offsets.append(request.url.params.get("offset"))
        assert request.url.params["include_disabled"] == "true"
        start = int(request.url.params["offset"])
        return httpx.Response(200, json={"data": all_keys[start : start + 100]})

    with client(handle) as orc:
        keys = orc.keys()
        assert orc.requests_made == 3
    assert offsets == ["0", "100", "200"]
    assert [k.hash for k in keys] == [f"h{n:04d}" for n in range(250)]
    assert keys[249].usage == Decimal(249)


def test_keys_exact_multiple_of_page_size_ends_on_empty_page() -> None:
    all_keys = [key_json(n) for n in range(4)]

    def handle(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["offset"])
        return httpx.Response(200, json={"data": all_keys[start : start + 2]})

    with client(handle, page_size=2) as orc:
        assert len(orc.keys(include_disabled=False)) == 4
        assert orc.requests_made == 3


def test_keys_deduplicate_a_key_shifted_across_pages() -> None:
    pages = {"0": [key_json(0), key_json(1)], "2": [key_json(1), key_json(2)], "4": [key_json(3)]}
    with client(
        lambda r: httpx.Response(200, json={"data": pages[r.url.params["offset"]]}), page_size=2
    ) as orc:
        assert [k.hash for k in orc.keys()] == ["h0000", "h0001", "h0002", "h0003"]


def test_keys_server_ignoring_offset_is_detected() -> None:
    full = {"data": [key_json(n) for n in range(3)]}
    with client(lambda _: httpx.Response(200, json=full), page_size=3) as orc:
        with pytest.raises(MalformedResponse, match="did not advance"):
            orc.keys()
        assert orc.requests_made == 2


def test_keys_include_disabled_false_is_sent() -> None:
    seen: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params["include_disabled"])
        return httpx.Response(200, json={"data": []})

    with client(handle) as orc:
        assert orc.keys(include_disabled=False) == []
    assert seen == ["false"]


def test_keys_missing_numbers_are_zero_and_null_limits_stay_none() -> None:
    sparse = {"hash": "abc", "limit": None, "limit_remaining": None, "brand_new": {"x": 1}}
    full = {
        **key_json(7),
        "disabled": True,
        "limit": 100,
        "limit_remaining": 74.5,
        "limit_reset": "monthly",
        "usage": 25.5,
        "usage_daily": 0.1,
        "usage_weekly": 1.25,
        "usage_monthly": 20,
        "byok_usage": 17.38,
        "byok_usage_daily": 1,
        "workspace_id": "0df9e665-d932-5740-b2c7-b52af166bc11",
    }
    with client(lambda _: httpx.Response(200, json={"data": [sparse, full]})) as orc:
        first, second = orc.keys()
    zero = Decimal(0)
    assert first == OpenRouterKey("abc", None, None, False, None, None, None, zero, zero, zero, zero, zero)
    assert second == OpenRouterKey(
        hash="h0007",
        name="key-7",
        label="sk-or-v1-7...",
        disabled=True,
        limit=Decimal(100),
        limit_remaining=Decimal("74.5"),
        limit_reset="monthly",
        usage=Decimal("25.5"),
        usage_daily=Decimal("0.1"),
        usage_weekly=Decimal("1.25"),
        usage_monthly=Decimal(20),
        byok_usage=Decimal("17.38"),
        workspace_id="0df9e665-d932-5740-b2c7-b52af166bc11",  # the workspace the key belongs to
    )


def test_keys_without_hash_are_malformed() -> None:
    with client(lambda _: httpx.Response(200, json={"data": [{"name": "x"}]})) as orc:
        with pytest.raises(MalformedResponse, match=r"data\.0\.hash"):
            orc.keys()


# -- activity -----------------------------------------------------------------------------------


def test_activity_sums_endpoints_of_one_day_model_provider() -> None:
    seen: list[httpx.Request] = []
    body = """{"data": [
      {"date": "2025-08-24", "model": "openai/gpt-4.1", "endpoint_id": "e1", "provider_name": "OpenAI",
       "usage": 0.015, "byok_usage_inference": 0.012, "requests": 5, "prompt_tokens": 50,
       "completion_tokens": 125, "reasoning_tokens": 25, "model_permaslug": "openai/gpt-4.1-2025-04-14"},
      {"date": "2025-08-24", "model": "openai/gpt-4.1", "endpoint_id": "e2", "provider_name": "OpenAI",
       "usage": 0.000000000000000001, "byok_usage_inference": 0, "requests": 1, "prompt_tokens": 10,
       "completion_tokens": 5},
      {"date": "2025-08-24", "model": "openai/gpt-4.1", "endpoint_id": "e3", "provider_name": "Azure",
       "usage": 1, "requests": 2},
      {"date": "2025-08-23", "model": "anthropic/claude", "provider_name": null, "usage": 0.5}
    ]}"""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=body)

    with client(handle) as orc:
        rows = orc.activity("f01d52")
    assert seen[0].url.path == "/api/v1/activity" and seen[0].url.params["api_key_hash"] == "f01d52"
    assert rows == [
        OpenRouterActivity(
            date(2025, 8, 23), "f01d52", "anthropic/claude", "unknown", Decimal("0.5"), Decimal(0), 0, 0, 0, 0
        ),
        OpenRouterActivity(
            date(2025, 8, 24), "f01d52", "openai/gpt-4.1", "Azure", Decimal(1), Decimal(0), 2, 0, 0, 0
        ),
        OpenRouterActivity(
            day=date(2025, 8, 24),
            key_hash="f01d52",
            model="openai/gpt-4.1",
            provider_name="OpenAI",
            usage=Decimal("0.015000000000000001"),
            byok_usage=Decimal("0.012"),
            requests=6,
            prompt_tokens=60,
            completion_tokens=130,
            reasoning_tokens=25,
        ),
    ]


def test_activity_bad_date_is_malformed() -> None:
    body = {"data": [{"date": "yesterday", "model": "m", "usage": 1}]}
    with client(lambda _: httpx.Response(200, json=body)) as orc:
        with pytest.raises(MalformedResponse, match=r"data\.0\.date"):
            orc.activity("h")


def test_activity_outage_retries_then_raises_without_key(caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502, json={"error": {"code": 502, "message": f"upstream saw {request.headers['authorization']}"}}
        )

    with caplog.at_level(logging.DEBUG), client(handle, sleeps) as orc:
        with pytest.raises(ProviderUnavailable) as info:
            orc.activity("h")
        assert orc.requests_made == 4
    assert len(sleeps) == 3
    assert KEY not in str(info.value)
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)
