"""Realism: the providers' own published example bodies parse into the records we expect.

The OpenAPI documents are read in place from ``../shared/specs`` (never copied into the repo).
OpenAI keeps its examples as JSON text under ``x-oaiMeta.examples.response``; OpenRouter keeps
them as YAML values under ``responses.<status>.content.application/json.example``. Each example is
first checked against the document's own response schema, so we know we picked the right one,
then served through MockTransport to the real client.
"""

from __future__ import annotations

import json
import os
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml

from aispend.providers.errors import PermissionDenied
from aispend.providers.openai import COMPLETIONS_GROUP_BY, USAGE_GROUP_BY, CostsPage, OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.records import (
    OpenAIApiKey,
    OpenAICost,
    OpenAIProject,
    OpenAIUsage,
    OpenRouterActivity,
    OpenRouterCredits,
    OpenRouterKey,
    OpenRouterWorkspace,
)

SPECS = Path(__file__).resolve().parents[2].parent / "shared" / "specs"
OPENAI_SPEC = "openai-admin-usage.openapi.yaml"
OPENROUTER_SPEC = "openrouter-management.openapi.yaml"
KEY_HASH = "f01d52606dc8f0a8303a7b5cc3fa07109c2e346cec7c0a16b40de462992ce943"
NOV1 = date(2024, 11, 1)


@cache
def _load(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SPECS / name).read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def spec(name: str) -> dict[str, Any]:
    if not (SPECS / name).is_file():
        reason = f"official API document {SPECS / name} is absent (shared specs folder not mounted)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return _load(name)


def validate(doc: dict[str, Any], path: str, body: Any, status: str = "200") -> None:
    content = doc["paths"][path]["get"]["responses"][status]["content"]["application/json"]
    jsonschema.Draft202012Validator({"components": doc["components"], **content["schema"]}).validate(body)


def openai_example(path: str) -> str:
    """The JSON text OpenAI documents as this GET's response, schema-checked."""
    doc = spec(OPENAI_SPEC)
    text = doc["paths"][path]["get"]["x-oaiMeta"]["examples"]["response"]
    assert isinstance(text, str)
    validate(doc, path, json.loads(text))
    return text


def openrouter_example(path: str, status: str = "200") -> tuple[int, str]:
    """OpenRouter's documented example for this GET and status, re-serialized as JSON text."""
    doc = spec(OPENROUTER_SPEC)
    example = doc["paths"][path]["get"]["responses"][status]["content"]["application/json"]["example"]
    validate(doc, path, example, status)
    return int(status), json.dumps(example)


def openai_serving(
    text: str, followups: dict[str, str] | None = None
) -> tuple[OpenAIClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        cursor = request.url.params.get("page")
        return httpx.Response(200, text=text if cursor is None else (followups or {})[cursor])

    client = OpenAIClient("sk-admin-test", transport=httpx.MockTransport(handle), sleep=lambda _: None)
    return client, seen


def openrouter_serving(status: int, text: str) -> OpenRouterClient:
    transport = httpx.MockTransport(lambda _: httpx.Response(status, text=text))
    return OpenRouterClient("sk-or-v1-test", transport=transport, sleep=lambda _: None)


# -- OpenAI -------------------------------------------------------------------------------------


def test_costs_example() -> None:
    client, _ = openai_serving(openai_example("/organization/costs"))
    with client:
        result = client.costs(NOV1, date(2024, 11, 2))
    assert result == CostsPage([OpenAICost(NOV1, None, None, None, Decimal("0.06"))], key_level=True)


def test_completions_example_follows_its_next_page() -> None:
    text = openai_example("/organization/usage/completions")
    cursor = json.loads(text)["next_page"]
    last_page = json.dumps({"object": "page", "data": [], "has_more": False, "next_page": None})
    client, seen = openai_serving(text, {cursor: last_page})
    with client:
        rows = client.usage("completions", NOV1, date(2024, 11, 2))
    assert rows == [OpenAIUsage(NOV1, "completions", None, None, None, 1000, 400, 500, 5)]
    assert [r.url.params.get("page") for r in seen] == [None, "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="]


@pytest.mark.parametrize(
    ("endpoint", "input_tokens", "requests"),
    [
        ("embeddings", 16, 2),
        ("moderations", 16, 2),
        ("images", 0, 2),
        ("audio_speeches", 0, 1),
        ("audio_transcriptions", 0, 1),
    ],
)
def test_other_usage_examples(endpoint: str, input_tokens: int, requests: int) -> None:
    client, _ = openai_serving(openai_example(f"/organization/usage/{endpoint}"))
    with client:
        rows = client.usage(endpoint, NOV1, date(2024, 11, 2))
    assert rows == [OpenAIUsage(NOV1, endpoint, None, None, None, input_tokens, 0, 0, requests)]


def test_projects_example() -> None:
    client, _ = openai_serving(openai_example("/organization/projects"))
    with client:
        assert client.projects() == [OpenAIProject("proj_abc", "Project example", "active")]


def test_project_api_keys_example() -> None:
    client, seen = openai_serving(openai_example("/organization/projects/{project_id}/api_keys"))
    with client:
        assert client.api_keys("proj_abc") == [OpenAIApiKey("key_abc", "proj_abc", "My API Key")]
    assert seen[0].url.path == "/v1/organization/projects/proj_abc/api_keys"


# -- OpenRouter ---------------------------------------------------------------------------------


def test_credits_example() -> None:
    with openrouter_serving(*openrouter_example("/credits")) as client:
        credits = client.credits()
    assert credits == OpenRouterCredits(Decimal("100.5"), Decimal("25.75"))
    assert credits.balance == Decimal("74.75")


@pytest.mark.parametrize("status", ["401", "403"])
def test_credits_documented_auth_errors(status: str) -> None:
    with (
        openrouter_serving(*openrouter_example("/credits", status)) as client,
        pytest.raises(PermissionDenied) as info,
    ):
        client.credits()
    assert info.value.status == int(status)
    assert json.loads(openrouter_example("/credits", status)[1])["error"]["message"] in str(info.value)


def test_keys_example() -> None:
    with openrouter_serving(*openrouter_example("/keys")) as client:
        keys = client.keys()
    assert keys == [
        OpenRouterKey(
            hash=KEY_HASH,
            name="My Production Key",
            label="Production API Key",
            disabled=False,
            limit=Decimal(100),
            limit_remaining=Decimal("74.5"),
            limit_reset="monthly",
            usage=Decimal("25.5"),
            usage_daily=Decimal("25.5"),
            usage_weekly=Decimal("25.5"),
            usage_monthly=Decimal("25.5"),
            byok_usage=Decimal("17.38"),
            workspace_id="0df9e665-d932-5740-b2c7-b52af166bc11",
        )
    ]


def test_the_usage_groupings_we_send_are_documented() -> None:
    doc = spec(OPENAI_SPEC)
    for path, ours in (
        ("/organization/usage/completions", COMPLETIONS_GROUP_BY),
        ("/organization/usage/embeddings", USAGE_GROUP_BY),
    ):
        group_by = next(p for p in doc["paths"][path]["get"]["parameters"] if p["name"] == "group_by")
        assert set(ours) <= set(group_by["schema"]["items"]["enum"]), path
    result = doc["components"]["schemas"]["UsageCompletionsResult"]["properties"]
    assert {"batch", "service_tier"} <= set(result)


def test_keys_of_a_workspace_send_the_documented_workspace_id_parameter() -> None:
    doc = spec(OPENROUTER_SPEC)
    documented = {p["name"] for p in doc["paths"]["/keys"]["get"]["parameters"]}
    assert "workspace_id" in documented
    status, text = openrouter_example("/keys")
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text=text)

    client = OpenRouterClient("sk-or-v1-test", transport=httpx.MockTransport(handle), sleep=lambda _: None)
    with client:
        keys = client.keys(workspace_id="550e8400-e29b-41d4-a716-446655440000")
    assert seen[0].url.params["workspace_id"] == "550e8400-e29b-41d4-a716-446655440000"
    assert set(seen[0].url.params) <= documented
    # The body names the key's own workspace; that wins over the one asked for.
    assert keys[0].workspace_id == "0df9e665-d932-5740-b2c7-b52af166bc11"


def test_workspaces_example() -> None:
    doc = spec(OPENROUTER_SPEC)
    documented = {p["name"] for p in doc["paths"]["/workspaces"]["get"]["parameters"]}
    status, text = openrouter_example("/workspaces")
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, text=text)

    client = OpenRouterClient("sk-or-v1-test", transport=httpx.MockTransport(handle), sleep=lambda _: None)
    with client:
        workspaces = client.workspaces()
    assert workspaces == [
        OpenRouterWorkspace(id="550e8400-e29b-41d4-a716-446655440000", name="Production", slug="production")
    ]
    assert len(seen) == 1  # total_count is 1: no second page
    assert set(seen[0].url.params) <= documented
    limit = doc["paths"]["/workspaces"]["get"]["parameters"][1]["schema"]["maximum"]
    assert int(seen[0].url.params["limit"]) <= limit


def test_activity_example() -> None:
    with openrouter_serving(*openrouter_example("/activity")) as client:
        rows = client.activity(KEY_HASH)
    assert rows == [
        OpenRouterActivity(
            day=date(2025, 8, 24),
            key_hash=KEY_HASH,
            model="openai/gpt-4.1",
            provider_name="OpenAI",
            usage=Decimal("0.015"),
            byok_usage=Decimal("0.012"),
            requests=5,
            prompt_tokens=50,
            completion_tokens=125,
            reasoning_tokens=25,
        )
    ]
