"""docker-compose.yml: what a platform team checks before ``docker compose up``.

No Docker engine runs here, so the file is checked for the properties that matter: secrets only
through env files whose keys are real settings, health checks on both services, the bot waiting
for a healthy database, restart policies, and the database's data on a volume.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from aispend.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def env_file(name: str) -> dict[str, str]:
    """KEY=value lines of an example env file, commented-out ones (``# KEY=``) included."""
    pairs = (
        re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(\S*)", line) for line in (ROOT / name).read_text().splitlines()
    )
    return {match[1]: match[2] for match in pairs if match}


def test_every_service_restarts_and_reports_health() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "bot"}
    for name, service in services.items():
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    assert "/readyz" in " ".join(services["bot"]["healthcheck"]["test"])
    assert services["bot"]["depends_on"]["db"]["condition"] == "service_healthy"
    assert any(volume.startswith("pgdata:") for volume in services["db"]["volumes"])
    assert "pgdata" in compose()["volumes"]


def test_secrets_come_from_env_files_whose_keys_the_bot_reads() -> None:
    services = compose()["services"]
    assert services["bot"]["env_file"] == ".env" and services["db"]["env_file"] == ".env.db"
    aliases = {str(field.validation_alias) for field in Settings.model_fields.values()}
    secret_names = {
        "OPENAI_ADMIN_KEY",
        "OPENROUTER_MANAGEMENT_KEY",
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
    }
    example = set(env_file(".env.example"))
    assert secret_names <= example
    assert example <= aliases, f"not settings: {example - aliases}"
    inline = services["bot"].get("environment", {})
    assert not secret_names & set(inline), "a secret is written into docker-compose.yml"
    assert set(inline) <= aliases | {"MPLCONFIGDIR"}
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert ".env" in ignored and ".env.db" in ignored


def test_database_password_is_the_same_on_both_sides() -> None:
    db, bot = env_file(".env.db.example"), env_file(".env.example")
    expected = f"{db['POSTGRES_USER']}:{db['POSTGRES_PASSWORD']}@db:5432/{db['POSTGRES_DB']}"
    assert expected in bot["DATABASE_URL"]
