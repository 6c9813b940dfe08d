"""Caps, deadlines and the poll budget at the HTTP layer (httpx.MockTransport, a fake clock).

The hostile suite (tests/hostile/) drives the same code through real sockets and processes;
these tests pin the decisions that need a controlled clock: which waits are slept, which are
refused, and what is charged to the poll.
"""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from aispend.providers.errors import LimitExceeded, PollBudgetExhausted, RateLimited
from aispend.providers.http import JsonApi
from aispend.providers.limits import Limits, PollBudget, size
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient

KEY = "sk-admin-TESTSECRET1234567890"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def api(handler: httpx.MockTransport, sleeps: list[float], limits: Limits | None = None) -> JsonApi:
    return JsonApi(
        provider="openai",
        base_url="https://api.test/v1",
        api_key=KEY,
        transport=handler,
        sleep=sleeps.append,
        limits=limits,
    )


def test_a_retry_after_longer_than_the_budget_left_is_not_slept() -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"Retry-After": "60"})

    sleeps: list[float] = []
    clock = FakeClock()
    client = api(httpx.MockTransport(handle), sleeps)
    client.budget = PollBudget(Limits(poll_seconds=30), clock=clock)
    with pytest.raises(RateLimited, match=r"Retry-After 60s exceeds what is left of the poll's 30 s budget"):
        client.get_json("/organization/costs")
    assert sleeps == [] and len(calls) == 1
    # Without a poll budget (a one-off call) the same answer is waited for, up to max_wait.
    client.budget = None
    with pytest.raises(RateLimited):
        client.get_json("/organization/costs")
    assert sleeps == [60.0, 60.0, 60.0]


def test_backoff_waits_are_cut_to_the_budget_left_then_the_poll_is_abandoned() -> None:
    clock = FakeClock()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.now += seconds

    client = JsonApi(
        provider="openai",
        base_url="https://api.test/v1",
        api_key=KEY,
        transport=httpx.MockTransport(lambda r: httpx.Response(503, text="busy")),
        sleep=sleep,
        backoff_initial=4.0,
        backoff_max=8.0,
    )
    client.budget = PollBudget(Limits(poll_seconds=5), clock=clock)
    with pytest.raises(PollBudgetExhausted, match=r"ran out of its 5 s budget"):
        client.get_json("/credits")
    assert sum(sleeps) == pytest.approx(5.0)


def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Length": str(10 << 20)}, content=b"{}")

    client = api(httpx.MockTransport(handle), [], Limits(max_body_bytes=1 << 20))
    with pytest.raises(LimitExceeded, match=r"more than 1 MiB of body \(AISPEND_MAX_BODY_BYTES\)"):
        client.get_json("/credits")


def test_every_request_rows_and_bytes_are_charged_to_the_poll() -> None:
    page = {"object": "list", "data": [{"id": f"proj_{n}"} for n in range(3)], "has_more": False}
    client = OpenAIClient(
        KEY, "https://api.test/v1", transport=httpx.MockTransport(lambda r: httpx.Response(200, json=page))
    )
    budget = PollBudget(Limits(poll_requests=2))
    with client.metered(budget):
        client.projects()
        client.projects()
        with pytest.raises(PollBudgetExhausted, match=r"cap of 2 requests \(AISPEND_POLL_REQUESTS\)"):
            client.projects()
    assert budget.rows == 6 and budget.bytes > 0
    client.projects()  # outside the poll, nothing is charged any more
    assert budget.requests == 3


def test_openrouter_keys_stop_at_the_page_cap() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return httpx.Response(200, json={"data": [{"hash": f"h{offset + n}"} for n in range(2)]})

    client = OpenRouterClient(
        KEY,
        "https://api.test/v1",
        transport=httpx.MockTransport(handle),
        keys_page_size=2,
        limits=Limits(max_pages=3),
    )
    with pytest.raises(LimitExceeded, match=r"more pages than the cap of 3"):
        client.keys()


def test_costs_rows_are_capped_while_the_page_streams() -> None:
    bucket = {"start_time": 1_732_406_400, "results": [{"amount": {"value": 1, "currency": "usd"}}] * 4}
    page = {"data": [bucket] * 5, "has_more": False, "next_page": None}
    client = OpenAIClient(
        KEY,
        "https://api.test/v1",
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json=page)),
        limits=Limits(max_rows=10),
    )
    with pytest.raises(LimitExceeded, match=r"more than 10 records \(AISPEND_MAX_ROWS\)"):
        client.costs(date(2024, 11, 24), date(2024, 11, 25))


@pytest.mark.parametrize("field", ["max_pages", "poll_rows", "poll_seconds", "request_seconds"])
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        Limits(**{field: 0})


def test_sizes_read_well() -> None:
    assert [size(n) for n in (512, 1 << 20, 16 << 20, 3 << 30)] == ["512 bytes", "1 MiB", "16 MiB", "3 GiB"]
