"""Every body the fake servers send validates against the providers' official OpenAPI documents.

This is what makes the fakes trustworthy: a client that parses them also parses the real services
(as far as the published schemas go). Error bodies are checked against the documented error
schemas where the document has one for that path and status, else against the generic one.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import (
    OPENAI_ADMIN_KEY,
    OPENROUTER_MANAGEMENT_KEY,
    SimulatedProviders,
)
from tests.demo.simulated.keys import OPENAI_PROJECT_KEY, OPENROUTER_INFERENCE_KEY
from tests.specs import OPENAI, OPENROUTER, assert_valid, response_validator, schema_validator

TODAY = date(2026, 11, 27)
START = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())


@pytest.fixture(scope="module")
def providers() -> Iterator[SimulatedProviders]:
    with SimulatedProviders(Dataset.generate(TODAY)) as running:
        running.openai.project_key = OPENAI_PROJECT_KEY
        running.openrouter.inference_key = OPENROUTER_INFERENCE_KEY
        yield running


@pytest.fixture
def oa(providers: SimulatedProviders) -> Iterator[httpx.Client]:
    providers.openai.faults.clear()
    auth = {"Authorization": f"Bearer {OPENAI_ADMIN_KEY}"}
    with httpx.Client(base_url=providers.openai.base_url, headers=auth) as client:
        yield client


@pytest.fixture
def orc(providers: SimulatedProviders) -> Iterator[httpx.Client]:
    providers.openrouter.faults.clear()
    auth = {"Authorization": f"Bearer {OPENROUTER_MANAGEMENT_KEY}"}
    with httpx.Client(base_url=providers.openrouter.base_url, headers=auth) as client:
        yield client


OPENAI_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("/organization/costs", "/organization/costs", {"start_time": START}),
    (
        "/organization/costs",
        "/organization/costs",
        {"start_time": START, "limit": 31, "group_by": ["project_id"]},
    ),
    (
        "/organization/costs",
        "/organization/costs",
        {"start_time": START, "limit": 3, "group_by[]": ["project_id", "line_item", "api_key_id"]},
    ),
    ("/organization/costs", "/organization/costs", {"start_time": START - 90 * 86_400, "limit": 2}),  # empty
    ("/organization/usage/completions", "/organization/usage/completions", {"start_time": START}),
    (
        "/organization/usage/completions",
        "/organization/usage/completions",
        {"start_time": START, "limit": 31, "group_by": ["project_id", "api_key_id", "model"]},
    ),
    (  # what the poller asks for completions: batch and service tier too
        "/organization/usage/completions",
        "/organization/usage/completions",
        {"start_time": START, "group_by": ["project_id", "api_key_id", "model", "batch", "service_tier"]},
    ),
    (
        "/organization/usage/embeddings",
        "/organization/usage/embeddings",
        {"start_time": START, "group_by[]": ["project_id", "model"]},
    ),
    ("/organization/projects", "/organization/projects", {"limit": 2}),
    ("/organization/projects", "/organization/projects", {"include_archived": "true"}),
]


@pytest.mark.parametrize(("url", "spec_path", "params"), OPENAI_CASES)
def test_openai_bodies_match_spec(oa: httpx.Client, url: str, spec_path: str, params: dict[str, Any]) -> None:
    validator = response_validator(OPENAI, spec_path)
    response = oa.get(url, params=params)
    assert response.status_code == 200, response.text
    assert_valid(validator, response.json())
    if response.json().get("next_page"):  # the next page too, reached through the cursor
        following = oa.get(url, params={**params, "page": response.json()["next_page"]})
        assert_valid(validator, following.json())


def test_completions_grouped_by_batch_and_tier_fill_both_fields(oa: httpx.Client) -> None:
    params: dict[str, Any] = {
        "start_time": START,
        "group_by": ["project_id", "model", "batch", "service_tier"],
    }
    body = oa.get("/organization/usage/completions", params=params).json()
    results = [r for bucket in body["data"] for r in bucket["results"]]
    assert {r["batch"] for r in results} == {True, False}
    assert all(isinstance(r["service_tier"], str) for r in results)


def test_openai_api_keys_match_spec(oa: httpx.Client, providers: SimulatedProviders) -> None:
    validator = response_validator(OPENAI, "/organization/projects/{project_id}/api_keys")
    for project in providers.dataset.openai_projects:
        response = oa.get(f"/organization/projects/{project.id}/api_keys")
        assert response.status_code == 200
        assert_valid(validator, response.json())


def test_openrouter_bodies_match_spec(orc: httpx.Client, providers: SimulatedProviders) -> None:
    assert_valid(response_validator(OPENROUTER, "/credits"), orc.get("/credits").json())
    keys = orc.get("/keys").json()
    assert_valid(response_validator(OPENROUTER, "/keys"), keys)
    assert_valid(response_validator(OPENROUTER, "/keys"), orc.get("/keys", params={"offset": 100}).json())
    activity = response_validator(OPENROUTER, "/activity")
    for key in keys["data"]:
        assert_valid(activity, orc.get("/activity", params={"api_key_hash": key["hash"]}).json())
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    assert_valid(activity, orc.get("/activity", params={"date": yesterday}).json())
    assert_valid(activity, orc.get("/activity").json())


def test_openrouter_workspaces_and_their_keys_match_spec(orc: httpx.Client) -> None:
    workspaces = orc.get("/workspaces").json()
    assert_valid(response_validator(OPENROUTER, "/workspaces"), workspaces)
    assert len(workspaces["data"]) == workspaces["total_count"] == 2
    paged = orc.get("/workspaces", params={"offset": 1, "limit": 1}).json()
    assert_valid(response_validator(OPENROUTER, "/workspaces"), paged)
    assert [w["id"] for w in paged["data"]] == [workspaces["data"][1]["id"]]
    keys_validator = response_validator(OPENROUTER, "/keys")
    for workspace in workspaces["data"]:
        keys = orc.get("/keys", params={"workspace_id": workspace["id"]}).json()
        assert_valid(keys_validator, keys)
        assert keys["data"] and all(k["workspace_id"] == workspace["id"] for k in keys["data"])


# ---- error bodies -------------------------------------------------------------------------------


def test_openai_error_bodies_match_spec(oa: httpx.Client, providers: SimulatedProviders) -> None:
    error = schema_validator(OPENAI, "ErrorResponse")
    base = providers.openai.base_url
    params = {"start_time": START}

    unauthorized = httpx.get(f"{base}/organization/costs", params=params)
    assert unauthorized.status_code == 401
    assert_valid(error, unauthorized.json())

    no_scope = httpx.get(
        f"{base}/organization/costs", params=params, headers={"Authorization": f"Bearer {OPENAI_PROJECT_KEY}"}
    )
    assert no_scope.status_code == 403
    assert_valid(error, no_scope.json())

    bad = oa.get("/organization/costs", params={**params, "group_by": "model"})
    assert bad.status_code == 400
    assert_valid(error, bad.json())

    providers.openai.faults.add("/organization/costs", status=429, headers={"Retry-After": "1"})
    limited = oa.get("/organization/costs", params=params)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "1"
    assert_valid(response_validator(OPENAI, "/organization/costs", status=429), limited.json())

    providers.openai.faults.add("/organization/usage/completions", status=429)
    limited = oa.get("/organization/usage/completions", params=params)
    assert_valid(response_validator(OPENAI, "/organization/usage/completions", status=429), limited.json())


@pytest.mark.parametrize("path", ["/credits", "/keys", "/activity", "/workspaces"])
def test_openrouter_401_matches_spec(providers: SimulatedProviders, path: str) -> None:
    response = httpx.get(providers.openrouter.base_url + path)
    assert response.status_code == 401
    assert_valid(response_validator(OPENROUTER, path, status=401), response.json())


@pytest.mark.parametrize("path", ["/credits", "/activity"])  # /keys documents no 403
def test_openrouter_403_matches_spec(providers: SimulatedProviders, path: str) -> None:
    response = httpx.get(
        providers.openrouter.base_url + path, headers={"Authorization": f"Bearer {OPENROUTER_INFERENCE_KEY}"}
    )
    assert response.status_code == 403
    assert_valid(response_validator(OPENROUTER, path, status=403), response.json())


def test_openrouter_faults_and_400_match_spec(orc: httpx.Client, providers: SimulatedProviders) -> None:
    providers.openrouter.faults.add("/keys", status=429, headers={"Retry-After": "1"})
    limited = orc.get("/keys")
    assert limited.status_code == 429
    assert_valid(response_validator(OPENROUTER, "/keys", status=429), limited.json())

    providers.openrouter.faults.add("/credits", status=500)
    broken = orc.get("/credits")
    assert broken.status_code == 500
    assert_valid(response_validator(OPENROUTER, "/credits", status=500), broken.json())

    providers.openrouter.faults.add("/credits", status=403)
    forbidden = orc.get("/credits")
    assert forbidden.status_code == 403
    assert_valid(response_validator(OPENROUTER, "/credits", status=403), forbidden.json())

    bad = orc.get("/activity", params={"date": TODAY.isoformat()})  # today is never in /activity
    assert bad.status_code == 400
    assert_valid(response_validator(OPENROUTER, "/activity", status=400), bad.json())
