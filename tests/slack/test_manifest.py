"""Both app manifests validate against Slack's manifest schemas 1.0.0 and 2.0.0."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT.parent / "shared" / "specs"
SCHEMAS = ["slack-manifest.schema.1.0.0.json", "slack-manifest.schema.2.0.0.json"]


def _schema(name: str) -> dict[str, Any]:
    path = SPECS / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} must exist under CI=true")
        pytest.skip(f"manifest schema not found at {path} (../shared/specs is absent)")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _manifest(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / name).read_text(encoding="utf-8"))
    return loaded


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("manifest", ["manifest.yaml", "manifest.socket.yaml"])
def test_manifest_validates(manifest: str, schema: str) -> None:
    validator = jsonschema.Draft7Validator(_schema(schema))
    errors = sorted(validator.iter_errors(_manifest(manifest)), key=str)
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_manifests_match_the_app() -> None:
    http, sock = _manifest("manifest.yaml"), _manifest("manifest.socket.yaml")
    for manifest in (http, sock):
        assert manifest["display_information"]["name"] == "AI Spend"
        assert manifest["features"]["bot_user"]["display_name"] == "aispend"
        (command,) = manifest["features"]["slash_commands"]
        assert command["command"] == "/aispend" and command["should_escape"] is False
        assert set(manifest["oauth_config"]["scopes"]["bot"]) == {
            "commands",
            "chat:write",
            "chat:write.public",
            "files:write",
        }
        assert "app_home_opened" in manifest["settings"]["event_subscriptions"]["bot_events"]
        assert manifest["features"]["app_home"]["home_tab_enabled"] is True
        assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert (
        http["settings"]["socket_mode_enabled"] is False and sock["settings"]["socket_mode_enabled"] is True
    )
    assert "url" not in json.dumps(sock)
    assert http["features"]["slash_commands"][0]["url"] == "https://aispend.example.com/slack/events"
