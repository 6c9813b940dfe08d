"""The shared retry / error policy, exercised through httpx.MockTransport with an injected sleep."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest
from pydantic import ValidationError

from aispend.providers.errors import (
    BadRequest,
    MalformedResponse,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    redact,
)
from aispend.providers.http import JsonApi, Money, MoneyOrZero, NullableMoney, Wire, retry_after_seconds

KEY = "sk-admin-TESTSECRET1234567890"
Handler = Callable[[httpx.Request], httpx.Response]


def scripted(*steps: httpx.Response | Exception) -> Handler:
    """A handler answering each request with the next step (an exception is raised instead)."""
    queue: Iterator[httpx.Response | Exception] = iter(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        step = next(queue)
        if isinstance(step, Exception):
            raise step
        return step

    return handle


def api(handler: Handler, sleeps: list[float], *, max_attempts: int = 4, max_wait: float = 60.0) -> JsonApi:
    return JsonApi(
        provider="openai",
        base_url="https://api.test/v1",
        api_key=KEY,
        transport=httpx.MockTransport(handler),
        sleep=sleeps.append,
        max_attempts=max_attempts,
        max_wait=max_wait,
    )


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json={"ok": True} if body is None else body)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": "x"}}, headers=headers)


def test_sends_bearer_key_and_decodes_decimals() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text='{"v": 0.1, "n": 3}')

    sleeps: list[float] = []
    body = api(handle, sleeps).get_json("/x", {"group_by": ["a", "b"], "limit": 3})
    assert body == {"v": Decimal("0.1"), "n": 3}
    assert isinstance(body["v"], Decimal)
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"
    assert seen[0].url.params.get_list("group_by") == ["a", "b"]


def test_429_retry_after_is_honoured_exactly() -> None:
    sleeps: list[float] = []
    client = api(scripted(error(429, "slow down", {"Retry-After": "2"}), ok()), sleeps)
    assert client.get_json("/x") == {"ok": True}
    assert sleeps == [2.0]
    assert client.requests_made == 2


def test_retry_after_ms_wins_over_seconds() -> None:
    sleeps: list[float] = []
    headers = {"retry-after-ms": "1500", "Retry-After": "9"}
    client = api(scripted(error(429, "slow down", headers), ok()), sleeps)
    client.get_json("/x")
    assert sleeps == [1.5]


def test_500_then_success_backs_off_within_bounds() -> None:
    sleeps: list[float] = []
    client = api(scripted(error(500, "boom"), error(502, "bad gateway"), ok()), sleeps)
    assert client.get_json("/x") == {"ok": True}
    assert len(sleeps) == 2
    assert all(0 < s <= 8 for s in sleeps)
    assert client.requests_made == 3


def test_503_exhausted_raises_provider_unavailable() -> None:
    sleeps: list[float] = []
    client = api(scripted(*(error(503, "overloaded") for _ in range(4))), sleeps)
    with pytest.raises(ProviderUnavailable) as info:
        client.get_json("/organization/costs")
    assert not isinstance(info.value, RateLimited)
    assert info.value.status == 503
    assert info.value.endpoint == "/organization/costs"
    assert "overloaded" in str(info.value) and "4 attempt" in str(info.value)
    assert client.requests_made == 4
    assert len(sleeps) == 3


def test_429_exhausted_raises_rate_limited() -> None:
    sleeps: list[float] = []
    client = api(
        scripted(*(error(429, "slow", {"Retry-After": "1"}) for _ in range(3))), sleeps, max_attempts=3
    )
    with pytest.raises(RateLimited) as info:
        client.get_json("/x")
    assert info.value.status == 429 and info.value.retry_after == 1.0
    assert sleeps == [1.0, 1.0]


def test_retry_after_over_cap_gives_up_at_once() -> None:
    sleeps: list[float] = []
    client = api(scripted(error(429, "quota", {"Retry-After": "120"})), sleeps)
    with pytest.raises(RateLimited) as info:
        client.get_json("/x")
    assert info.value.retry_after == 120.0
    assert "exceeds the 60s cap" in str(info.value)
    assert sleeps == []
    assert client.requests_made == 1


def test_backoff_never_exceeds_max_wait() -> None:
    sleeps: list[float] = []
    client = api(scripted(*(error(500, "x") for _ in range(6))), sleeps, max_attempts=6, max_wait=1.0)
    with pytest.raises(ProviderUnavailable):
        client.get_json("/x")
    assert len(sleeps) == 5 and all(s <= 1.0 for s in sleeps)


def test_timeouts_and_connect_errors_are_retried() -> None:
    sleeps: list[float] = []
    client = api(scripted(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), ok()), sleeps)
    assert client.get_json("/x") == {"ok": True}
    assert len(sleeps) == 2


def test_connect_errors_exhausted_raise_unavailable_without_status() -> None:
    sleeps: list[float] = []
    client = api(scripted(*(httpx.ConnectError("refused") for _ in range(4))), sleeps)
    with pytest.raises(ProviderUnavailable) as info:
        client.get_json("/x")
    assert info.value.status is None
    assert "ConnectError after 4 attempt" in str(info.value)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failures_are_permission_denied_and_not_retried(status: int) -> None:
    sleeps: list[float] = []
    client = api(scripted(error(status, "Missing scopes: api.usage.read")), sleeps)
    with pytest.raises(PermissionDenied) as info:
        client.get_json("/organization/costs")
    assert info.value.status == status
    assert str(info.value) == f"openai GET /organization/costs -> {status}: Missing scopes: api.usage.read"
    assert client.requests_made == 1 and sleeps == []


def test_400_is_bad_request_with_provider_message() -> None:
    sleeps: list[float] = []
    client = api(scripted(error(400, "Invalid group_by: api_key_id")), sleeps)
    with pytest.raises(BadRequest) as info:
        client.get_json("/x")
    assert info.value.provider_message == "Invalid group_by: api_key_id"
    assert info.value.status == 400 and client.requests_made == 1


def test_other_4xx_is_a_plain_provider_error() -> None:
    sleeps: list[float] = []
    client = api(scripted(httpx.Response(404, text="not json")), sleeps)
    with pytest.raises(ProviderError) as info:
        client.get_json("/x")
    assert type(info.value) is ProviderError
    assert info.value.status == 404 and "Not Found" in str(info.value)


@pytest.mark.parametrize("text", ['{"data": [{"a": 1', "", "<html>oops</html>"])
def test_invalid_json_body_is_malformed(text: str) -> None:
    sleeps: list[float] = []
    client = api(scripted(httpx.Response(200, text=text)), sleeps)
    with pytest.raises(MalformedResponse) as info:
        client.get_json("/x")
    assert "not valid JSON" in str(info.value) and info.value.status == 200


def test_key_never_leaks_into_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Providers echo credentials (OpenAI's 401 quotes the key); none of it may escape."""

    def echo(request: httpx.Request) -> httpx.Response:
        header = request.headers["authorization"]
        status = {"/a": 401, "/b": 400, "/c": 503, "/d": 429, "/e": 404}[request.url.path.removeprefix("/v1")]
        return error(status, f"Incorrect API key provided: {header}", {"Retry-After": "1"})

    sleeps: list[float] = []
    client = api(echo, sleeps)
    caught: list[ProviderError] = []
    with caplog.at_level(logging.DEBUG):
        for path in ("/a", "/b", "/c", "/d", "/e"):
            with pytest.raises(ProviderError) as info:
                client.get_json(path)
            caught.append(info.value)
    assert len(caught) == 5
    for exc in caught:
        assert KEY not in str(exc) and KEY not in repr(exc.args)
        assert "[REDACTED]" in str(exc)
        if isinstance(exc, BadRequest):
            assert KEY not in exc.provider_message
    assert caplog.records, "expected debug/warning records"
    for record in caplog.records:
        assert KEY not in record.getMessage()
    assert any(r.levelno == logging.WARNING for r in caplog.records)


def test_transport_error_text_is_not_copied_into_messages() -> None:
    sleeps: list[float] = []
    client = api(scripted(*(httpx.ConnectError(f"proxy said {KEY}") for _ in range(4))), sleeps)
    with pytest.raises(ProviderUnavailable) as info:
        client.get_json("/x")
    assert KEY not in str(info.value)
    assert info.value.__cause__ is None


def test_redact_replaces_every_secret() -> None:
    assert redact(f"a {KEY} b {KEY}", KEY) == "a [REDACTED] b [REDACTED]"
    assert redact("x sk-1234 y tok-5678", "sk-1234", None, "tok-5678") == "x [REDACTED] y [REDACTED]"
    assert redact("short", "", "ab") == "short"


def test_retry_after_http_date() -> None:
    now = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
    headers = httpx.Headers({"Retry-After": "Fri, 27 Nov 2026 12:00:05 GMT"})
    assert retry_after_seconds(headers, now=lambda: now) == 5.0
    assert retry_after_seconds(httpx.Headers({"Retry-After": "soon"})) is None
    assert retry_after_seconds(httpx.Headers({})) is None


def test_context_manager_closes_the_client() -> None:
    sleeps: list[float] = []
    with api(scripted(ok()), sleeps) as client:
        client.get_json("/x")
    with pytest.raises(RuntimeError):
        client.get_json("/x")


# -- streamed bodies ----------------------------------------------------------------------------


class _CutOff(httpx.SyncByteStream):
    """A body whose connection drops after ``head``: what a reset mid-download looks like."""

    def __init__(self, head: bytes) -> None:
        self.head = head

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        raise httpx.RemoteProtocolError("peer closed connection without sending complete message body")


def items_of(value: object, index: int) -> list[object]:
    return [value]


def test_streamed_body_gives_items_and_the_other_members() -> None:
    sleeps: list[float] = []
    body = '{"object": "page", "data": [0.1, {"x": 2}], "has_more": false}'
    result = api(scripted(httpx.Response(200, text=body)), sleeps).get_streamed("/x", {}, "data", items_of)
    assert result.items == [Decimal("0.1"), {"x": 2}]
    assert result.rest == {"object": "page", "has_more": False}


def test_streamed_body_cut_by_the_transport_is_retried_from_the_start() -> None:
    sleeps: list[float] = []
    body = b'{"data": [1, 2, 3], "has_more": false}'
    client = api(
        scripted(httpx.Response(200, stream=_CutOff(body[:14])), httpx.Response(200, content=body)), sleeps
    )
    result = client.get_streamed("/x", {}, "data", items_of)
    assert result.items == [1, 2, 3]  # the first attempt's 1 and 2 are not kept
    assert client.requests_made == 2 and len(sleeps) == 1


def test_streamed_body_cut_on_every_attempt_is_unavailable() -> None:
    sleeps: list[float] = []
    client = api(scripted(*(httpx.Response(200, stream=_CutOff(b'{"data": [1')) for _ in range(4))), sleeps)
    with pytest.raises(ProviderUnavailable, match="RemoteProtocolError after 4 attempt"):
        client.get_streamed("/x", {}, "data", items_of)


@pytest.mark.parametrize("text", ['{"data": [{"a": 1', "", "<html>oops</html>", '{"data": [1]} {}'])
def test_streamed_invalid_json_is_malformed_and_not_retried(text: str) -> None:
    sleeps: list[float] = []
    client = api(scripted(httpx.Response(200, text=text)), sleeps)
    with pytest.raises(MalformedResponse) as info:
        client.get_streamed("/x", {}, "data", items_of)
    assert "not valid JSON" in str(info.value) and info.value.status == 200
    assert client.requests_made == 1 and sleeps == []


def test_streamed_request_keeps_the_retry_and_error_policy() -> None:
    sleeps: list[float] = []
    client = api(
        scripted(error(429, "slow down", {"Retry-After": "2"}), httpx.Response(200, json={"data": [7]})),
        sleeps,
    )
    assert client.get_streamed("/x", {}, "data", items_of).items == [7]
    assert sleeps == [2.0]
    client = api(scripted(error(403, f"no scope for {KEY}")), sleeps)
    with pytest.raises(PermissionDenied) as info:
        client.get_streamed("/x", {}, "data", items_of)
    assert KEY not in str(info.value)


# -- money wire types ---------------------------------------------------------------------------


class _Priced(Wire):
    money: Money
    or_zero: MoneyOrZero = Decimal(0)
    nullable: NullableMoney = None


@pytest.mark.parametrize(
    ("value", "expected"),
    [(Decimal("0.1"), Decimal("0.1")), (3, Decimal(3)), ("2.50", Decimal("2.50"))],
)
def test_money_accepts_exact_values(value: object, expected: Decimal) -> None:
    parsed = _Priced.model_validate({"money": value, "or_zero": value, "nullable": value})
    assert parsed.money == parsed.or_zero == parsed.nullable == expected
    assert isinstance(parsed.money, Decimal)


@pytest.mark.parametrize("value", [0.1, True, Decimal("NaN"), Decimal("Infinity"), float("inf"), "lots", [1]])
@pytest.mark.parametrize("field", ["money", "or_zero", "nullable"])
def test_money_refuses_floats_bools_and_non_finite(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        _Priced.model_validate({"money": Decimal(1), field: value})


def test_null_money_is_zero_or_none_but_never_for_required_money() -> None:
    parsed = _Priced.model_validate({"money": Decimal(1), "or_zero": None, "nullable": None})
    assert parsed.or_zero == 0 and parsed.nullable is None
    with pytest.raises(ValidationError):
        _Priced.model_validate({"money": None})
