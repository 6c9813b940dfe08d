"""OpenAIClient against MockTransport: paging, grouping fallback, exact money, lenient parsing."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from aispend.providers import openai as openai_module
from aispend.providers.errors import BadRequest, MalformedResponse, PermissionDenied, ProviderUnavailable
from aispend.providers.http import parse_body
from aispend.providers.openai import CostsPage, OpenAIClient
from aispend.records import OpenAIApiKey, OpenAICost, OpenAIProject, OpenAIUsage

KEY = "sk-admin-TESTSECRET1234567890"
BASE = "https://api.openai.test/v1"
Handler = Callable[[httpx.Request], httpx.Response]
NOV1 = 1730419200  # 2024-11-01 00:00 UTC
DAY = 86400


def client(handler: Handler, sleeps: list[float] | None = None) -> OpenAIClient:
    sink: list[float] = [] if sleeps is None else sleeps
    return OpenAIClient(KEY, BASE, transport=httpx.MockTransport(handler), sleep=sink.append)


def bucket(start: int, results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "bucket", "start_time": start, "end_time": start + DAY, "results": results}


def page(buckets: list[dict[str, Any]], next_page: str | None = None) -> dict[str, Any]:
    return {"object": "page", "data": buckets, "has_more": next_page is not None, "next_page": next_page}


def cost(
    value: str, project: str | None = "proj_a", line_item: str | None = "gpt-4o, input", **extra: Any
) -> str:
    """A cost result as raw JSON text, so the number's digits reach the client untouched."""
    fields = {"object": "organization.costs.result", "line_item": line_item, "project_id": project, **extra}
    return json.dumps(fields)[:-1] + f', "amount": {{"value": {value}, "currency": "usd"}}}}'


def raw_page(starts_results: list[tuple[int, list[str]]], next_page: str | None = None) -> str:
    buckets = [
        f'{{"object": "bucket", "start_time": {s}, "end_time": {s + DAY}, "results": [{", ".join(r)}]}}'
        for s, r in starts_results
    ]
    tail = json.dumps({"has_more": next_page is not None, "next_page": next_page})[1:]
    return f'{{"object": "page", "data": [{", ".join(buckets)}], {tail}'


def params_without_page(request: httpx.Request) -> list[tuple[str, str]]:
    return sorted((k, v) for k, v in request.url.params.multi_items() if k != "page")


# -- costs --------------------------------------------------------------------------------------


def test_costs_follow_next_page_with_identical_params() -> None:
    requests: list[httpx.Request] = []
    pages = {
        None: raw_page([(NOV1, [cost("1.5")])], "p2"),
        "p2": raw_page([(NOV1 + DAY, [cost("2.25", api_key_id="key_a")])], "p3"),
        "p3": raw_page([(NOV1 + 2 * DAY, [cost("0.75", project=None, line_item=None)])]),
    }

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, text=pages[request.url.params.get("page")])

    with client(handle) as oa:
        result = oa.costs(date(2024, 11, 1), date(2024, 11, 4))
        assert oa.requests_made == 3
    assert result == CostsPage(
        rows=[
            OpenAICost(date(2024, 11, 1), "proj_a", None, "gpt-4o, input", Decimal("1.5")),
            OpenAICost(date(2024, 11, 2), "proj_a", "key_a", "gpt-4o, input", Decimal("2.25")),
            OpenAICost(date(2024, 11, 3), None, None, None, Decimal("0.75")),
        ],
        key_level=True,
    )
    first = requests[0]
    assert first.url.path == "/v1/organization/costs"
    assert first.url.params["start_time"] == str(NOV1)
    assert first.url.params["end_time"] == str(NOV1 + 3 * DAY)
    assert first.url.params["bucket_width"] == "1d" and first.url.params["limit"] == "180"
    assert first.url.params.get_list("group_by") == ["project_id", "line_item", "api_key_id"]
    assert [r.url.params.get("page") for r in requests] == [None, "p2", "p3"]
    assert params_without_page(requests[1]) == params_without_page(first) == params_without_page(requests[2])


def test_costs_fall_back_when_api_key_grouping_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    groupings: list[list[str]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        group_by = request.url.params.get_list("group_by")
        groupings.append(group_by)
        if "api_key_id" in group_by:
            return httpx.Response(400, json={"error": {"message": "Invalid value for group_by: api_key_id"}})
        return httpx.Response(200, text=raw_page([(NOV1, [cost("3.5"), cost("0.5", project="proj_b")])]))

    with caplog.at_level(logging.WARNING), client(handle) as oa:
        result = oa.costs(date(2024, 11, 1), date(2024, 11, 2))
    assert result.key_level is False
    assert result.rows == [
        OpenAICost(date(2024, 11, 1), "proj_a", None, "gpt-4o, input", Decimal("3.5")),
        OpenAICost(date(2024, 11, 1), "proj_b", None, "gpt-4o, input", Decimal("0.5")),
    ]
    assert groupings == [["project_id", "line_item", "api_key_id"], ["project_id", "line_item"]]
    assert "api_key_id grouping refused" in caplog.text


def test_costs_fallback_is_tried_only_once() -> None:
    calls: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(400, json={"error": {"message": "start_time must be in the past"}})

    with pytest.raises(BadRequest, match="start_time must be in the past"), client(handle) as oa:
        oa.costs(date(2024, 11, 1), date(2024, 11, 2))
    assert len(calls) == 2


def test_cost_amount_is_exact_decimal_and_null_project_kept() -> None:
    body = raw_page([(NOV1, [cost("0.00032195744715549047", project=None, line_item=None)])])
    with client(lambda _: httpx.Response(200, text=body)) as oa:
        rows = oa.costs(date(2024, 11, 1), date(2024, 11, 2)).rows
    assert rows == [OpenAICost(date(2024, 11, 1), None, None, None, Decimal("0.00032195744715549047"))]
    assert str(rows[0].amount) == "0.00032195744715549047"


@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), allow_nan=False, places=20))
def test_any_json_number_survives_exactly(value: Decimal) -> None:
    body = raw_page([(NOV1, [cost(format(value, "f"))])])
    with client(lambda _: httpx.Response(200, text=body)) as oa:
        (row,) = oa.costs(date(2024, 11, 1), date(2024, 11, 2)).rows
    assert row.amount == value and isinstance(row.amount, Decimal)


def test_costs_leniency_empty_buckets_unknown_fields_missing_amount() -> None:
    body = page(
        [
            bucket(NOV1, []),
            bucket(
                NOV1 + DAY,
                [
                    {"object": "organization.costs.result", "project_id": "proj_a", "line_item": "x"},
                    {
                        "object": "organization.costs.result",
                        "amount": {"value": 2, "currency": "USD"},
                        "project_id": "proj_b",
                        "organization_id": "org-123",
                        "quantity": 10000,
                        "quantity_unit": "tokens",
                        "brand_new_field": {"nested": [1, 2]},
                    },
                ],
            ),
        ]
    )
    with client(lambda _: httpx.Response(200, json=body)) as oa:
        rows = oa.costs(date(2024, 11, 1), date(2024, 11, 3)).rows
    assert rows == [
        OpenAICost(date(2024, 11, 2), "proj_a", None, "x", Decimal(0)),
        OpenAICost(date(2024, 11, 2), "proj_b", None, None, Decimal(2)),
    ]


def test_non_usd_rows_are_skipped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    results = [
        {"object": "organization.costs.result", "amount": {"value": 5, "currency": "eur"}, "project_id": "p"},
        {"object": "organization.costs.result", "amount": {"value": 1, "currency": "usd"}, "project_id": "p"},
    ]
    with (
        caplog.at_level(logging.WARNING),
        client(lambda _: httpx.Response(200, json=page([bucket(NOV1, results)]))) as oa,
    ):
        rows = oa.costs(date(2024, 11, 1), date(2024, 11, 2)).rows
    assert [r.amount for r in rows] == [Decimal(1)]
    assert "eur" in caplog.text


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"object": "page", "has_more": False}, "at data"),
        ({"data": [], "next_page": None}, "at has_more"),
        (page([bucket(NOV1, [{"amount": {"value": "lots"}}])]), "at data.0.results.0.amount.value"),
        (page([{"object": "bucket", "results": []}]), "at data.0.start_time"),
        ([1, 2], "at <body>"),
    ],
)
def test_wrong_shapes_name_the_path(body: object, where: str) -> None:
    with (
        pytest.raises(MalformedResponse, match=where) as info,
        client(lambda _: httpx.Response(200, json=body)) as oa,
    ):
        oa.costs(date(2024, 11, 1), date(2024, 11, 2))
    assert info.value.endpoint == "/organization/costs"


def test_has_more_without_progress_is_malformed_not_an_endless_loop() -> None:
    calls: list[httpx.Request] = []

    def same_cursor(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(200, json=page([bucket(NOV1, [])], "again"))

    with pytest.raises(MalformedResponse, match="repeated cursor"), client(same_cursor) as oa:
        oa.costs(date(2024, 11, 1), date(2024, 11, 2))
    assert len(calls) == 2

    no_cursor = {"object": "page", "data": [], "has_more": True, "next_page": None}
    with (
        pytest.raises(MalformedResponse, match="no cursor"),
        client(lambda _: httpx.Response(200, json=no_cursor)) as oa,
    ):
        oa.costs(date(2024, 11, 1), date(2024, 11, 2))


def test_permission_denied_on_costs_without_the_key_in_the_message() -> None:
    body = {"error": {"message": "Missing scopes: api.usage.read.", "type": "server_error"}}
    with pytest.raises(PermissionDenied) as info, client(lambda _: httpx.Response(403, json=body)) as oa:
        oa.costs(date(2024, 11, 1), date(2024, 11, 2))
    assert info.value.provider == "openai" and info.value.status == 403
    assert "api.usage.read" in str(info.value) and KEY not in str(info.value)


def test_outage_surfaces_as_unavailable_after_retries() -> None:
    sleeps: list[float] = []
    with pytest.raises(ProviderUnavailable), client(lambda _: httpx.Response(503), sleeps) as oa:
        oa.usage("completions", date(2024, 11, 1), date(2024, 11, 2))
    assert len(sleeps) == 3


def test_empty_window_is_a_caller_error() -> None:
    with pytest.raises(ValueError, match="empty window"), client(lambda _: httpx.Response(500)) as oa:
        oa.costs(date(2024, 11, 2), date(2024, 11, 2))


# -- usage --------------------------------------------------------------------------------------


def test_completions_usage_maps_tokens_and_pages() -> None:
    requests: list[httpx.Request] = []
    row = {
        "object": "organization.usage.completions.result",
        "input_tokens": 59200,
        "input_cached_tokens": 5760,
        "input_cache_write_tokens": 0,
        "output_tokens": 10646,
        "num_model_requests": 10,
        "project_id": "proj_abc",
        "api_key_id": "key_x",
        "model": "gpt-4o-2024-08-06",
        "batch": True,
        "service_tier": "flex",
    }
    ungrouped = {"input_tokens": 5, "output_tokens": 1, "num_model_requests": 1, "input_cached_tokens": None}
    pages = {None: page([bucket(NOV1, [row])], "n2"), "n2": page([bucket(NOV1 + DAY, [ungrouped])])}

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=pages[request.url.params.get("page")])

    with client(handle) as oa:
        rows = oa.usage("completions", date(2024, 11, 1), date(2024, 11, 3))
    assert rows == [
        OpenAIUsage(
            date(2024, 11, 1),
            "completions",
            "proj_abc",
            "key_x",
            "gpt-4o-2024-08-06",
            59200,
            5760,
            10646,
            10,
            batch=True,
            service_tier="flex",
        ),
        OpenAIUsage(date(2024, 11, 2), "completions", None, None, None, 5, 0, 1, 1),
    ]
    assert requests[0].url.path == "/v1/organization/usage/completions"
    assert requests[0].url.params.get_list("group_by") == [
        "project_id",
        "api_key_id",
        "model",
        "batch",
        "service_tier",
    ]
    assert requests[0].url.params["limit"] == "31"
    assert params_without_page(requests[0]) == params_without_page(requests[1])


def test_completions_grouping_by_batch_and_tier_refused_falls_back() -> None:
    requests: list[httpx.Request] = []
    row = {"input_tokens": 7, "output_tokens": 2, "num_model_requests": 1, "model": "m"}

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if "batch" in request.url.params.get_list("group_by"):
            return httpx.Response(
                400, json={"error": {"message": "Invalid group_by", "type": "invalid_request_error"}}
            )
        return httpx.Response(200, json=page([bucket(NOV1, [row])]))

    with client(handle) as oa:
        rows = oa.usage("completions", date(2024, 11, 1), date(2024, 11, 2))
    assert rows == [OpenAIUsage(date(2024, 11, 1), "completions", None, None, "m", 7, 0, 2, 1)]
    assert [r.url.params.get_list("group_by")[-1] for r in requests] == ["service_tier", "model"]


def test_embeddings_and_images_default_missing_numbers_to_zero() -> None:
    results = {
        "embeddings": {
            "object": "organization.usage.embeddings.result",
            "input_tokens": 20,
            "num_model_requests": 2,
        },
        "images": {
            "object": "organization.usage.images.result",
            "images": 2,
            "num_model_requests": 3,
            "size": "1024x1024",
        },
    }

    def handle(request: httpx.Request) -> httpx.Response:
        endpoint = request.url.path.rsplit("/", 1)[-1]
        return httpx.Response(200, json=page([bucket(NOV1, [results[endpoint]])]))

    with client(handle) as oa:
        (emb,) = oa.usage("embeddings", date(2024, 11, 1), date(2024, 11, 2))
        (img,) = oa.usage("images", date(2024, 11, 1), date(2024, 11, 2))
    assert (emb.input_tokens, emb.cached_tokens, emb.output_tokens, emb.requests) == (20, 0, 0, 2)
    assert (img.endpoint, img.input_tokens, img.output_tokens, img.requests) == ("images", 0, 0, 3)


def test_unknown_usage_endpoint_is_refused_before_any_request() -> None:
    with client(lambda _: httpx.Response(500)) as oa:
        with pytest.raises(ValueError, match="vector_stores"):
            oa.usage("vector_stores", date(2024, 11, 1), date(2024, 11, 2))
        assert oa.requests_made == 0


# -- projects and keys --------------------------------------------------------------------------


def test_projects_page_with_after_and_include_archived() -> None:
    requests: list[httpx.Request] = []
    first = {
        "object": "list",
        "data": [
            {"id": "proj_1", "object": "organization.project", "name": "Search", "status": "active", "x": 1},
            {"id": "proj_2", "object": "organization.project", "name": None, "archived_at": 1711471533},
        ],
        "first_id": "proj_1",
        "last_id": "proj_2",
        "has_more": True,
    }
    second = {
        "object": "list",
        "data": [{"id": "proj_3", "name": "Old", "status": "archived", "created_at": 1}],
        "has_more": False,
    }

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=second if request.url.params.get("after") == "proj_2" else first)

    with client(handle) as oa:
        projects = oa.projects()
    assert projects == [
        OpenAIProject("proj_1", "Search", "active"),
        OpenAIProject("proj_2", None, "archived"),
        OpenAIProject("proj_3", "Old", "archived"),
    ]
    assert [r.url.params.get("after") for r in requests] == [None, "proj_2"]
    assert all(
        r.url.params["limit"] == "100" and r.url.params["include_archived"] == "true" for r in requests
    )


def test_api_keys_page_and_quote_the_project_id() -> None:
    requests: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        if request.url.params.get("after") is None:
            return httpx.Response(
                200, json={"object": "list", "data": [{"id": "key_1", "name": "prod"}], "has_more": True}
            )
        return httpx.Response(200, json={"object": "list", "data": [{"id": "key_2"}], "has_more": False})

    with client(handle) as oa:
        keys = oa.api_keys("proj/odd")
    assert keys == [OpenAIApiKey("key_1", "proj/odd", "prod"), OpenAIApiKey("key_2", "proj/odd", None)]
    assert requests[0].url.raw_path.startswith(b"/v1/organization/projects/proj%2Fodd/api_keys")
    assert requests[1].url.params["after"] == "key_1"  # no last_id: the last item's id is the cursor


def test_failing_call_logs_and_raises_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        auth = request.headers["authorization"]
        return httpx.Response(401, json={"error": {"message": f"Incorrect API key provided: {auth}"}})

    with caplog.at_level(logging.DEBUG), client(handle) as oa, pytest.raises(PermissionDenied) as info:
        oa.projects()
    assert KEY not in str(info.value)
    assert caplog.records and all(KEY not in r.getMessage() for r in caplog.records)


def test_bucket_day_is_the_utc_date_of_start_time() -> None:
    late = int(datetime(2024, 11, 1, 23, 30, tzinfo=UTC).timestamp())
    body = page([bucket(late, [{"input_tokens": 1, "output_tokens": 1, "num_model_requests": 1}])])
    with client(lambda _: httpx.Response(200, json=body)) as oa:
        (row,) = oa.usage("moderations", date(2024, 11, 1), date(2024, 11, 2))
    assert row.day == date(2024, 11, 1)


# -- streamed pages: fast path and wire models agree --------------------------------------------

wire_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.decimals(allow_nan=False, allow_infinity=False, places=12),
    st.sampled_from([Decimal("NaN"), 1.5, "", "usd", "USD", "eur", "proj_a", "12.5", "lots", [], {}]),
)
MISSING = object()


def fields(names: list[str], extra: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Result dicts whose fields are each absent or any JSON-ish value (``extra`` for nested)."""
    choice = st.one_of(st.just(MISSING), wire_values, extra)
    return st.fixed_dictionaries(dict.fromkeys(names, choice)).map(
        lambda d: {k: v for k, v in d.items() if v is not MISSING}
    )


amounts = fields(["value", "currency"], st.nothing())
cost_results = fields(["project_id", "api_key_id", "line_item", "amount"], amounts)
usage_results = fields(
    ["project_id", "api_key_id", "model", "input_tokens", "input_cached_tokens", "output_tokens"],
    st.nothing(),
)


def outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except openai_module._Irregular:
        return "irregular"
    except MalformedResponse:
        return "malformed"


@given(st.lists(cost_results, max_size=4), st.sampled_from([NOV1, NOV1 + 7 * DAY, "x", True]))
def test_cost_fast_path_equals_the_wire_models(results: list[dict[str, Any]], start: object) -> None:
    raw = {"start_time": start, "results": results}

    def checked() -> list[OpenAICost]:
        parsed = parse_body(openai_module._CostBucket, raw, provider="openai", endpoint="/x")
        day = openai_module._checked_day(parsed.start_time, "/x", 0)
        return [r for row in parsed.results if (r := openai_module._cost_record(day, row)) is not None]

    fast = outcome(lambda: openai_module._fast_cost_rows(raw, {}))
    if fast != "irregular":
        assert fast == outcome(checked)


@given(st.lists(usage_results, max_size=4), st.sampled_from([NOV1, "x"]))
def test_usage_fast_path_equals_the_wire_models(results: list[dict[str, Any]], start: object) -> None:
    raw = {"start_time": start, "results": results}

    def checked() -> list[OpenAIUsage]:
        parsed = parse_body(openai_module._UsageBucket, raw, provider="openai", endpoint="/x")
        day = openai_module._checked_day(parsed.start_time, "/x", 0)
        return [openai_module._usage_record(day, "embeddings", row) for row in parsed.results]

    fast = outcome(lambda: openai_module._fast_usage_rows(raw, "embeddings", {}))
    if fast != "irregular":
        assert fast == outcome(checked)


def test_irregular_but_valid_values_still_parse() -> None:
    """A bucket the fast path declines (here a numeric-string amount) goes through the models."""
    results: list[dict[str, Any]] = [
        {"amount": {"value": "1.25", "currency": "usd"}, "project_id": "p"},
        {"project_id": "q"},
    ]
    with client(lambda _: httpx.Response(200, json=page([bucket(NOV1, results)]))) as oa:
        rows = oa.costs(date(2024, 11, 1), date(2024, 11, 2)).rows
    assert rows == [
        OpenAICost(date(2024, 11, 1), "p", None, None, Decimal("1.25")),
        OpenAICost(date(2024, 11, 1), "q", None, None, Decimal(0)),
    ]


def test_error_in_a_later_bucket_names_its_index() -> None:
    body = page([bucket(NOV1, [{"project_id": "p"}]), bucket(NOV1 + DAY, [{"project_id": 5}])])
    with pytest.raises(MalformedResponse, match=r"at data\.1\.results\.0\.project_id"):
        with client(lambda _: httpx.Response(200, json=body)) as oa:
            oa.costs(date(2024, 11, 1), date(2024, 11, 3))


def test_unusable_start_time_is_malformed() -> None:
    body = page([bucket(10**20, [])])
    with pytest.raises(MalformedResponse, match=r"at data\.0\.start_time"):
        with client(lambda _: httpx.Response(200, json=body)) as oa:
            oa.costs(date(2024, 11, 1), date(2024, 11, 2))


class _DropAfter(httpx.SyncByteStream):
    def __init__(self, body: bytes, keep: int) -> None:
        self.body, self.keep = body, keep

    def __iter__(self) -> Iterator[bytes]:
        yield self.body[: self.keep]
        raise httpx.ReadError("connection reset")


def test_costs_page_cut_mid_stream_is_refetched_whole_without_duplicates() -> None:
    text = raw_page(
        [(NOV1 + n * DAY, [cost(f"{n}.5", project=f"p{i}") for i in range(50)]) for n in range(3)]
    )
    body = text.encode()
    answers = iter(
        [httpx.Response(200, stream=_DropAfter(body, len(body) * 2 // 3)), httpx.Response(200, text=text)]
    )
    sleeps: list[float] = []
    with client(lambda _: next(answers), sleeps) as oa:
        rows = oa.costs(date(2024, 11, 1), date(2024, 11, 4)).rows
        assert oa.requests_made == 2 and len(sleeps) == 1
    assert len(rows) == 150 and len(set(rows)) == 150
    assert sum(row.amount for row in rows) == 50 * (Decimal("0.5") + Decimal("1.5") + Decimal("2.5"))


def test_truncated_costs_page_is_malformed_and_returns_nothing() -> None:
    text = raw_page([(NOV1, [cost("1.5")]), (NOV1 + DAY, [cost("2.5")])])
    with pytest.raises(MalformedResponse, match="not valid JSON") as info:
        with client(lambda _: httpx.Response(200, text=text[: len(text) - 30])) as oa:
            oa.costs(date(2024, 11, 1), date(2024, 11, 3))
    assert info.value.endpoint == "/organization/costs"


@pytest.mark.parametrize(
    ("body", "where"),
    [({"data": None, "has_more": False}, "at data"), ({"data": [], "has_more": "maybe"}, "at has_more")],
)
def test_page_members_are_still_checked(body: object, where: str) -> None:
    with (
        pytest.raises(MalformedResponse, match=where),
        client(lambda _: httpx.Response(200, json=body)) as oa,
    ):
        oa.usage("completions", date(2024, 11, 1), date(2024, 11, 2))
