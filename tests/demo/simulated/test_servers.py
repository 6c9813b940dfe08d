"""What the fake servers send sums back exactly to the dataset, whatever the grouping or paging.

Bodies are decoded with :func:`aispend.money.loads_exact`, as the real clients do, so any digit
lost on the wire (a float on the way) would show up here as an inexact sum.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import combinations
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aispend.demo.simulated.dataset import ANY, Dataset
from aispend.demo.simulated.servers import (
    OPENAI_ADMIN_KEY,
    OPENROUTER_MANAGEMENT_KEY,
    FakeOpenAI,
    FakeOpenRouter,
    SimulatedProviders,
    dumps_exact,
)
from aispend.money import loads_exact
from tests.demo.simulated.keys import OPENAI_PROJECT_KEY, OPENROUTER_INFERENCE_KEY

TODAY = date(2026, 11, 27)
TOMORROW = TODAY + timedelta(days=1)
DAY = 86_400
COST_FIELDS = ("project_id", "line_item", "api_key_id")


def unix(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


def day_of(seconds: int) -> date:
    return datetime.fromtimestamp(seconds, UTC).date()


@pytest.fixture(scope="module")
def ds() -> Dataset:
    return Dataset.generate(TODAY)


@pytest.fixture(scope="module")
def openai_server(ds: Dataset) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(ds) as server:
        server.project_key = OPENAI_PROJECT_KEY
        yield server


@pytest.fixture(scope="module")
def openrouter_server(ds: Dataset) -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter(ds) as server:
        server.inference_key = OPENROUTER_INFERENCE_KEY
        yield server


@pytest.fixture
def oa(openai_server: FakeOpenAI) -> Iterator[httpx.Client]:
    openai_server.faults.clear()
    openai_server.reset_requests()
    auth = {"Authorization": f"Bearer {OPENAI_ADMIN_KEY}"}
    with httpx.Client(base_url=openai_server.base_url, headers=auth) as client:
        yield client


@pytest.fixture
def orc(openrouter_server: FakeOpenRouter) -> Iterator[httpx.Client]:
    openrouter_server.faults.clear()
    openrouter_server.reset_requests()
    auth = {"Authorization": f"Bearer {OPENROUTER_MANAGEMENT_KEY}"}
    with httpx.Client(base_url=openrouter_server.base_url, headers=auth) as client:
        yield client


def fetch_pages(client: httpx.Client, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    """Every page of a bucketed endpoint, following ``next_page`` with the same parameters."""
    pages: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        response = client.get(path, params={**params, **({"page": page} if page else {})})
        assert response.status_code == 200, response.text
        body = loads_exact(response.content)
        pages.append(body)
        if not body["has_more"]:
            assert body["next_page"] is None
            return pages
        page = body["next_page"]
        assert isinstance(page, str) and page


def buckets(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [bucket for page in pages for bucket in page["data"]]


# ---- OpenAI costs -------------------------------------------------------------------------------

GROUPINGS = [combo for n in range(4) for combo in combinations(COST_FIELDS, n)]


@pytest.mark.parametrize("group_by", GROUPINGS, ids=lambda g: "+".join(g) or "ungrouped")
def test_costs_sum_exactly_to_truth_for_every_grouping(
    oa: httpx.Client, ds: Dataset, group_by: tuple[str, ...]
) -> None:
    array_key = "group_by[]" if len(group_by) % 2 else "group_by"  # both encodings real clients use
    params = {
        "start_time": unix(ds.first_day),
        "end_time": unix(TOMORROW),
        "limit": 31,
        array_key: list(group_by),
    }
    got = buckets(fetch_pages(oa, "/organization/costs", params))
    assert [day_of(b["start_time"]) for b in got] == [ds.first_day + timedelta(days=i) for i in range(60)]
    for bucket in got:
        day = day_of(bucket["start_time"])
        assert bucket["end_time"] - bucket["start_time"] == DAY
        seen = set()
        for result in bucket["results"]:
            assert result["amount"]["currency"] == "usd"
            assert isinstance(result["amount"]["value"], Decimal)
            key = tuple(result[f] for f in COST_FIELDS)
            assert key not in seen
            seen.add(key)
            filters = {f: (result[f] if f in group_by else ANY) for f in COST_FIELDS}
            for f in COST_FIELDS:
                if f not in group_by:
                    assert result[f] is None
            assert result["amount"]["value"] == ds.openai_cost_total(day, day + timedelta(days=1), **filters)
        total = sum((r["amount"]["value"] for r in bucket["results"]), Decimal(0))
        assert total == ds.openai_cost_total(day, day + timedelta(days=1))


def test_costs_paging_cursor(oa: httpx.Client, ds: Dataset) -> None:
    params = {"start_time": unix(ds.first_day), "end_time": unix(TOMORROW)}
    pages = fetch_pages(oa, "/organization/costs", params)  # default limit: 7 buckets
    assert [len(p["data"]) for p in pages] == [7] * 8 + [4]
    starts = [b["start_time"] for b in buckets(pages)]
    assert starts == [unix(ds.first_day) + i * DAY for i in range(60)]
    assert len(buckets(fetch_pages(oa, "/organization/costs", {**params, "limit": 180}))) == 60
    assert oa.get("/organization/costs", params={**params, "page": "not-a-cursor"}).status_code == 400
    for limit in (0, 181):
        response = oa.get("/organization/costs", params={**params, "limit": limit})
        assert response.status_code == 400 and response.json()["error"]["param"] == "limit"
    assert oa.get("/organization/costs").status_code == 400  # start_time is required


def test_costs_whole_days_empty_buckets_and_filters(oa: httpx.Client, ds: Dataset) -> None:
    legacy = next(p for p in ds.openai_projects if p.name == "legacy-etl")
    start = TODAY - timedelta(days=25)
    params = {
        "start_time": unix(start) + 17 * 3600,  # unaligned: costs still start at 00:00 UTC
        "project_ids[]": [legacy.id],
        "group_by": ["project_id"],
        "limit": 31,
    }
    got = buckets(fetch_pages(oa, "/organization/costs", params))
    assert got[0]["start_time"] == unix(start)
    assert got[-1]["start_time"] == unix(TODAY) and got[-1]["end_time"] == unix(TOMORROW)
    quiet = [b for b in got if day_of(b["start_time"]) > TODAY - timedelta(days=20)]
    assert len(quiet) == 20 and all(b["results"] == [] for b in quiet)
    spent = sum((r["amount"]["value"] for b in got for r in b["results"]), Decimal(0))
    assert spent == ds.openai_cost_total(start, TOMORROW, project_id=legacy.id) > 0
    before = {"start_time": unix(ds.first_day - timedelta(days=3)), "end_time": unix(ds.first_day)}
    assert [b["results"] for b in buckets(fetch_pages(oa, "/organization/costs", before))] == [[], [], []]


def test_costs_quantity_and_unknown_fields(oa: httpx.Client, ds: Dataset) -> None:
    params: dict[str, Any] = {
        "start_time": unix(TODAY - timedelta(days=1)),
        "limit": 1,
        "group_by": ["line_item"],
    }
    results = oa.get("/organization/costs", params=params).json()["data"][0]["results"]
    by_item = {r["line_item"]: r for r in results}
    assert by_item["gpt-4o-2024-08-06, output"]["quantity_unit"] == "tokens"
    assert (
        by_item["gpt-4o-2024-08-06, output"]["quantity"]
        == ds.openai_usage_totals(TODAY - timedelta(days=1), TODAY, model="gpt-4o-2024-08-06").output_tokens
    )
    assert all(r["organization_id"].startswith("org-") for r in results)
    ungrouped = oa.get("/organization/costs", params={**params, "group_by": []}).json()["data"][0]["results"]
    assert len(ungrouped) == 1 and ungrouped[0]["quantity"] is None and ungrouped[0]["line_item"] is None


def test_costs_reject_key_grouping_flag(ds: Dataset) -> None:
    with FakeOpenAI(ds) as server:
        server.reject_key_grouping = True
        auth = {"Authorization": f"Bearer {OPENAI_ADMIN_KEY}"}
        with httpx.Client(base_url=server.base_url, headers=auth) as client:
            params: dict[str, Any] = {"start_time": unix(TODAY), "group_by": ["project_id", "api_key_id"]}
            refused = client.get("/organization/costs", params=params)
            assert refused.status_code == 400
            error = refused.json()["error"]
            assert error["param"] == "group_by" and error["type"] == "invalid_request_error"
            assert (
                client.get("/organization/costs", params={**params, "group_by": ["project_id"]}).status_code
                == 200
            )
        assert [r.status for r in server.requests] == [400, 200]


def test_late_correction_is_served(ds: Dataset) -> None:
    own = Dataset.generate(TODAY, days=5)
    day = TODAY - timedelta(days=3)
    row = own.costs_on(day)[0]
    with FakeOpenAI(own) as server:
        auth = {"Authorization": f"Bearer {OPENAI_ADMIN_KEY}"}
        with httpx.Client(base_url=server.base_url, headers=auth) as client:
            params = {"start_time": unix(day), "limit": 1}

            def served() -> Decimal:
                value: Decimal = loads_exact(client.get("/organization/costs", params=params).content)[
                    "data"
                ][0]["results"][0]["amount"]["value"]
                return value

            before = served()
            own.mutate_openai_cost(
                day, project_id=row.project_id, api_key_id=row.api_key_id, line_item=row.line_item,
                new_amount=row.amount + Decimal("0.123456789"),
            )  # fmt: skip
            assert served() == before + Decimal("0.123456789")


@settings(max_examples=15, deadline=None)
@given(
    group_by=st.lists(st.sampled_from(COST_FIELDS), unique=True),
    limit=st.integers(1, 180),
    first=st.integers(-3, 59),
    length=st.integers(0, 70),
)
def test_costs_property_any_window_grouping_and_page_size(
    openai_server: FakeOpenAI, ds: Dataset, group_by: list[str], limit: int, first: int, length: int
) -> None:
    auth = {"Authorization": f"Bearer {OPENAI_ADMIN_KEY}"}
    start = ds.first_day + timedelta(days=first)
    end = start + timedelta(days=length)
    with httpx.Client(base_url=openai_server.base_url, headers=auth) as client:
        params = {"start_time": unix(start), "end_time": unix(end), "limit": limit, "group_by[]": group_by}
        pages = fetch_pages(client, "/organization/costs", params)
    got = buckets(pages)
    expected_days = min(end, TOMORROW) - start
    assert len(got) == max(0, expected_days.days)
    assert all(len(p["data"]) == limit for p in pages[:-1])
    total = sum((r["amount"]["value"] for b in got for r in b["results"]), Decimal(0))
    assert total == ds.openai_cost_total(start, end)


# ---- OpenAI usage -------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["completions", "embeddings"])
def test_usage_sums_to_truth(oa: httpx.Client, ds: Dataset, endpoint: str) -> None:
    params = {
        "start_time": unix(ds.first_day),
        "limit": 31,
        "group_by": ["project_id", "api_key_id", "model"],
    }
    pages = fetch_pages(oa, f"/organization/usage/{endpoint}", params)
    assert len(pages) == 2
    got = buckets(pages)
    assert got[-1]["end_time"] == int(ds.as_of.timestamp())  # usage's last bucket ends "now"
    totals: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for bucket in got:
        for r in bucket["results"]:
            assert r["object"] == f"organization.usage.{endpoint}.result"
            t = totals[(r["project_id"], r["api_key_id"], r["model"])]
            t[0] += r["input_tokens"]
            t[1] += r.get("input_cached_tokens", 0)
            t[2] += r.get("output_tokens", 0)
            t[3] += r["num_model_requests"]
    assert totals
    for (project_id, key_id, model), t in totals.items():
        truth = ds.openai_usage_totals(
            ds.first_day, TOMORROW, endpoint=endpoint, project_id=project_id, api_key_id=key_id, model=model
        )
        assert tuple(t) == tuple(truth)
    ungrouped = buckets(
        fetch_pages(oa, f"/organization/usage/{endpoint}", {"start_time": unix(ds.first_day)})
    )
    requests = sum(r["num_model_requests"] for b in ungrouped for r in b["results"])
    assert requests == ds.openai_usage_totals(ds.first_day, TOMORROW, endpoint=endpoint).requests


def test_usage_parameters(oa: httpx.Client, ds: Dataset) -> None:
    start = unix(TODAY - timedelta(days=2)) + 3600
    body = oa.get("/organization/usage/completions", params={"start_time": start}).json()
    assert body["data"][0]["start_time"] == start  # usage trims the first bucket to start_time
    assert (
        oa.get("/organization/usage/completions", params={"start_time": start, "limit": 32}).status_code
        == 400
    )
    bad = oa.get("/organization/usage/embeddings", params={"start_time": start, "group_by": "batch"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "group_by"
    empty = oa.get("/organization/usage/images", params={"start_time": start}).json()
    assert [b["results"] for b in empty["data"]] == [[], [], []]
    assert oa.get("/organization/usage/nonsense", params={"start_time": start}).status_code == 404


# ---- OpenAI projects and keys -------------------------------------------------------------------


def test_projects_paging_and_archived(oa: httpx.Client, ds: Dataset) -> None:
    seen: list[str] = []
    after: str | None = None
    while True:
        body = oa.get(
            "/organization/projects", params={"limit": 2, **({"after": after} if after else {})}
        ).json()
        seen += [p["id"] for p in body["data"]]
        assert body["first_id"] == body["data"][0]["id"] and body["last_id"] == body["data"][-1]["id"]
        if not body["has_more"]:
            break
        after = body["last_id"]
    active = [p.id for p in ds.openai_projects if p.status == "active"]
    assert seen == active
    everything = oa.get("/organization/projects", params={"include_archived": "true"}).json()["data"]
    assert [(p["id"], p["name"], p["status"]) for p in everything] == [
        (p.id, p.name, p.status) for p in ds.openai_projects
    ]
    assert next(p for p in everything if p["status"] == "archived")["archived_at"] is not None
    assert oa.get("/organization/projects", params={"after": "proj_unknown"}).status_code == 400


def test_project_api_keys(oa: httpx.Client, ds: Dataset) -> None:
    for project in ds.openai_projects:
        body = oa.get(f"/organization/projects/{project.id}/api_keys").json()
        expected = [(k.id, k.name) for k in ds.openai_api_keys if k.project_id == project.id]
        assert [(k["id"], k["name"]) for k in body["data"]] == expected
        assert body["has_more"] is False
    first = ds.openai_projects[0].id
    page = oa.get(f"/organization/projects/{first}/api_keys", params={"limit": 1}).json()
    assert page["has_more"] is True and len(page["data"]) == 1
    assert oa.get("/organization/projects/proj_missing/api_keys").status_code == 404
    assert oa.get(f"/organization/projects/{first}").json()["name"] == "search"


# ---- OpenRouter ---------------------------------------------------------------------------------


def test_credits_and_keys_exact(orc: httpx.Client, ds: Dataset) -> None:
    credits = loads_exact(orc.get("/credits").content)["data"]
    assert credits["total_credits"] == ds.openrouter_credits.total_credits
    assert credits["total_usage"] == ds.openrouter_credits.total_usage
    # /keys lists one workspace at a time: the default one, or the one named by workspace_id.
    workspaces = orc.get("/workspaces").json()
    assert workspaces["total_count"] == len(ds.openrouter_workspaces) == 2
    keys = []
    for workspace in workspaces["data"]:
        listed = loads_exact(orc.get("/keys", params={"workspace_id": workspace["id"]}).content)["data"]
        assert listed and {k["workspace_id"] for k in listed} == {workspace["id"]}
        keys.extend(listed)
    default = loads_exact(orc.get("/keys").content)["data"]
    assert (
        default
        == loads_exact(orc.get("/keys", params={"workspace_id": workspaces["data"][0]["id"]}).content)["data"]
    )
    assert 0 < len(default) < len(ds.openrouter_keys) == len(keys)
    assert (
        orc.get("/keys", params={"workspace_id": "6f1c0000-0000-4000-8000-000000000000"}).status_code == 404
    )
    truth = {k.hash: k for k in ds.openrouter_keys}
    assert len({w["hash"] for w in keys}) == len(truth)
    for wire in keys:
        key = truth[wire["hash"]]
        assert wire["hash"] == key.hash and wire["name"] == key.name and wire["disabled"] == key.disabled
        for name in ("limit", "limit_remaining", "usage", "usage_daily", "usage_weekly", "usage_monthly"):
            assert wire[name] == getattr(key, name), name
        assert wire["byok_usage_daily"] == ds.openrouter_usage_total(
            TODAY, TOMORROW, key_hash=key.hash, byok=True
        )
    enabled = orc.get("/keys", params={"include_disabled": "false"}).json()["data"]
    assert len(enabled) == len(default) - 1
    assert orc.get("/keys", params={"offset": 100}).json()["data"] == []


def test_keys_offset_paging() -> None:
    many = Dataset.generate(TODAY, days=2, projects=1, openrouter_keys=150)
    with FakeOpenRouter(many) as server:
        auth = {"Authorization": f"Bearer {OPENROUTER_MANAGEMENT_KEY}"}
        with httpx.Client(base_url=server.base_url, headers=auth) as client:
            hashes: list[str] = []
            offset = 0
            while True:
                page = client.get("/keys", params={"offset": offset}).json()["data"]
                hashes += [k["hash"] for k in page]
                if len(page) < 100:
                    break
                offset += len(page)
        assert hashes == [k.hash for k in many.workspace_keys()]  # the default workspace's 148
        assert server.count("/keys") == 2


def test_activity_sums_to_truth_and_never_today(orc: httpx.Client, ds: Dataset) -> None:
    first, end = ds.activity_window
    repeated = 0
    for key in ds.openrouter_keys:
        rows = loads_exact(orc.get("/activity", params={"api_key_hash": key.hash}).content)["data"]
        days = {date.fromisoformat(r["date"]) for r in rows}
        assert all(first <= d < end for d in days)
        for field, byok in (("usage", False), ("byok_usage_inference", True)):
            served = sum((r[field] for r in rows), Decimal(0))
            assert served == ds.openrouter_usage_total(first, end, key_hash=key.hash, byok=byok)
        truth: dict[tuple[str, str, str], int] = defaultdict(int)
        for a in ds.openrouter_activity:
            if a.key_hash == key.hash and first <= a.day < end:
                truth[(a.day.isoformat(), a.model, a.provider_name)] += a.requests
        served_requests: dict[tuple[str, str, str], int] = defaultdict(int)
        for r in rows:
            served_requests[(r["date"], r["model"], r["provider_name"])] += r["requests"]
        assert served_requests == truth
        repeated += len(rows) - len(served_requests)
    assert repeated > 0  # some (day, model, provider) arrive as several endpoint rows
    everything = loads_exact(orc.get("/activity").content)["data"]
    assert sum((r["usage"] for r in everything), Decimal(0)) == ds.openrouter_usage_total(first, end)


def test_activity_date_filter(orc: httpx.Client, ds: Dataset) -> None:
    yesterday = TODAY - timedelta(days=1)
    rows = orc.get("/activity", params={"date": yesterday.isoformat()}).json()["data"]
    assert rows and {r["date"] for r in rows} == {yesterday.isoformat()}
    for bad in (TODAY.isoformat(), (TODAY - timedelta(days=31)).isoformat(), "27/11/2026"):
        response = orc.get("/activity", params={"date": bad})
        assert response.status_code == 400 and response.json()["error"]["code"] == 400


# ---- auth, faults, request log ------------------------------------------------------------------


def test_openai_auth(openai_server: FakeOpenAI) -> None:
    params = {"start_time": unix(TODAY)}
    with httpx.Client(base_url=openai_server.base_url) as client:
        missing = client.get("/organization/costs", params=params)
        assert missing.status_code == 401 and missing.json()["error"]["code"] is None
        wrong = client.get(
            "/organization/costs", params=params, headers={"Authorization": "Bearer sk-admin-nope"}
        )
        assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
        project = client.get(
            "/organization/costs", params=params, headers={"Authorization": f"Bearer {OPENAI_PROJECT_KEY}"}
        )
        assert project.status_code == 403 and "api.usage.read" in project.json()["error"]["message"]


def test_openrouter_auth(openrouter_server: FakeOpenRouter) -> None:
    with httpx.Client(base_url=openrouter_server.base_url) as client:
        for path in ("/credits", "/keys", "/activity"):
            missing = client.get(path)
            assert missing.status_code == 401
            assert missing.json() == {"error": {"code": 401, "message": "Missing Authentication header"}}
            inference = client.get(path, headers={"Authorization": f"Bearer {OPENROUTER_INFERENCE_KEY}"})
            assert inference.status_code == 403
            assert inference.json() == {
                "error": {"code": 403, "message": "Only management keys can perform this operation"}
            }


def test_fault_fires_exactly_times(orc: httpx.Client, openrouter_server: FakeOpenRouter) -> None:
    fault = openrouter_server.faults.add("/credits", status=429, headers={"Retry-After": "1"}, times=2)
    first, second, third = (orc.get("/credits") for _ in range(3))
    for limited in (first, second):
        assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
        assert limited.json()["error"]["metadata"] == {"error_type": "rate_limit_exceeded"}
    assert third.status_code == 200 and fault.fired == 2 and fault.exhausted
    assert orc.get("/keys").status_code == 200
    assert openrouter_server.count("/credits") == 3 and openrouter_server.count("/credits", status=429) == 2
    assert openrouter_server.faults.pending == []


def test_fault_kinds(oa: httpx.Client, openai_server: FakeOpenAI) -> None:
    params = {"start_time": unix(TODAY)}
    openai_server.faults.add("/organization/costs", truncate=True)
    cut = oa.get("/organization/costs", params=params)
    assert cut.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.content)
    assert oa.get("/organization/costs", params=params).json()["object"] == "page"

    openai_server.faults.add("/v1/organization/usage", status=500)  # full paths match too
    assert oa.get("/organization/usage/completions", params=params).status_code == 500
    assert oa.get("/organization/usage/completions", params=params).status_code == 200

    forever = openai_server.faults.add("/organization/projects", status=503, times=None)
    assert [oa.get("/organization/projects").status_code for _ in range(3)] == [503] * 3
    assert forever.fired == 3 and not forever.exhausted
    openai_server.faults.clear()
    assert oa.get("/organization/projects").status_code == 200

    openai_server.faults.add("/organization/costs", status=418, body={"custom": True})
    assert oa.get("/organization/costs", params=params).json() == {"custom": True}
    with pytest.raises(ValueError):
        openai_server.faults.add("/x", times=0)


def test_faults_do_not_fire_for_unauthorized_requests(openrouter_server: FakeOpenRouter) -> None:
    openrouter_server.faults.clear()
    fault = openrouter_server.faults.add("/credits", status=500)
    with httpx.Client(base_url=openrouter_server.base_url) as client:
        assert client.get("/credits").status_code == 401
    assert fault.fired == 0
    openrouter_server.faults.clear()


def test_request_log(oa: httpx.Client, openai_server: FakeOpenAI, ds: Dataset) -> None:
    oa.get("/organization/costs", params={"start_time": unix(ds.first_day), "group_by[]": ["project_id"]})
    oa.get("/organization/projects")
    log = openai_server.requests
    assert [(r.method, r.path, r.status) for r in log] == [
        ("GET", "/organization/costs", 200),
        ("GET", "/organization/projects", 200),
    ]
    assert log[0].query["group_by[]"] == ["project_id"]
    assert openai_server.count("/organization") == 2 and openai_server.count("/organization/costs") == 1


def test_simulated_providers_bundle(ds: Dataset) -> None:
    with SimulatedProviders(ds) as providers:
        env = providers.environ()
        assert env["OPENAI_BASE_URL"].startswith("http://127.0.0.1:") and env["OPENAI_BASE_URL"].endswith(
            "/v1"
        )
        assert env["OPENROUTER_BASE_URL"].endswith("/api/v1")
        response = httpx.get(
            env["OPENROUTER_BASE_URL"] + "/credits",
            headers={"Authorization": f"Bearer {env['OPENROUTER_MANAGEMENT_KEY']}"},
        )
        assert response.status_code == 200
    with pytest.raises(RuntimeError):
        _ = providers.openai.base_url  # stopped


# ---- exact JSON ---------------------------------------------------------------------------------


def test_dumps_exact_never_goes_through_float() -> None:
    value = {"a": Decimal("0.00032195744715549047"), "b": [Decimal("1E-9"), Decimal("1E+3"), Decimal("-0")]}
    text = dumps_exact({**value, "c": None, "d": "x", "e": 3, "f": True})
    assert text == (
        '{"a": 0.00032195744715549047, "b": [0.000000001, 1000, 0], "c": null, "d": "x", "e": 3, "f": true}'
    )
    assert loads_exact(text)["a"] == Decimal("0.00032195744715549047")
    with pytest.raises(ValueError):
        dumps_exact(Decimal("NaN"))
