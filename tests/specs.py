"""The providers' official API documents, read in place from ``<repo>/../shared/specs``.

Contract tests validate what our fakes (and fixtures) send against these documents, so whatever
passes here also parses what the real services send. The files are never copied into the repo;
when the folder is absent the tests that need it skip with a reason, except under ``CI=true``,
where it is always present and a missing folder must fail loudly instead of passing silently.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

SPECS_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "specs"
OPENAI = "openai-admin-usage.openapi.yaml"
OPENROUTER = "openrouter-management.openapi.yaml"


def specs_dir() -> Path:
    """The specs folder, or skip (fail under CI) when it is not next to the repository."""
    if not SPECS_DIR.is_dir():
        reason = f"provider API specs not found at {SPECS_DIR} (they live in ../shared/specs)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return SPECS_DIR


@functools.cache
def _load(name: str) -> dict[str, Any]:
    with (SPECS_DIR / name).open(encoding="utf-8") as handle:
        doc: dict[str, Any] = yaml.safe_load(handle)
    return doc


def load_spec(name: str) -> dict[str, Any]:
    """A spec document by file name (parsed once per test session)."""
    specs_dir()
    return _load(name)


@functools.cache
def _validator(spec: str, path: str, method: str, status: str) -> jsonschema.Draft202012Validator:
    doc = _load(spec)
    try:
        response = doc["paths"][path][method]["responses"][status]
    except KeyError as exc:
        raise LookupError(f"{spec}: no {method.upper()} {path} response {status}") from exc
    if "$ref" in response:  # e.g. '#/components/responses/TooManyRequests'
        response = doc["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response["content"]["application/json"]["schema"]
    return jsonschema.Draft202012Validator({"components": doc["components"], **schema})


def response_validator(
    spec: str, path: str, method: str = "get", status: int | str = 200
) -> jsonschema.Draft202012Validator:
    """Validator for the documented JSON body of ``method path`` answering ``status``."""
    specs_dir()
    return _validator(spec, path, method.lower(), str(status))


@functools.cache
def _schema_validator(spec: str, name: str) -> jsonschema.Draft202012Validator:
    doc = _load(spec)
    return jsonschema.Draft202012Validator(
        {"components": doc["components"], "$ref": f"#/components/schemas/{name}"}
    )


def schema_validator(spec: str, name: str) -> jsonschema.Draft202012Validator:
    """Validator for a named component schema (e.g. OpenAI's ``ErrorResponse``)."""
    specs_dir()
    return _schema_validator(spec, name)


def assert_valid(validator: jsonschema.Draft202012Validator, body: object) -> None:
    """Fail with every schema violation listed (with its JSON path), not just the first."""
    errors = sorted(validator.iter_errors(body), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in errors[:20]]
        pytest.fail(f"{len(errors)} schema violation(s):\n" + "\n".join(lines))
