"""One log stream, with every configured secret removed from every record."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from aispend.logs import REDACTED, configure_logging
from aispend.settings import Settings

KEY = "sk-admin-abcdef0123456789"


@pytest.fixture(autouse=True)
def restore_root() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


def test_secrets_are_removed_from_messages_arguments_and_tracebacks() -> None:
    stream = io.StringIO()
    configure_logging(level=logging.INFO, secrets=[KEY, None, "abc"], stream=stream)
    log = logging.getLogger("aispend.test")
    log.info("calling with %s", f"Bearer {KEY}")
    log.info("an abc word stays")  # secrets under 6 characters are never matched
    try:
        raise RuntimeError(f"provider echoed {KEY}")
    except RuntimeError:
        log.exception("poll failed")
    text = stream.getvalue()
    assert KEY not in text
    assert text.count(REDACTED) == 2
    assert "RuntimeError: provider echoed [redacted]" in text
    assert "an abc word stays" in text


def test_json_format_is_one_object_per_line_for_every_library() -> None:
    stream = io.StringIO()
    configure_logging(level=logging.INFO, fmt="json", secrets=[KEY], stream=stream)
    logging.getLogger("aispend.serve").info("scheduler started")
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://0.0.0.0:3000")
    logging.getLogger("slack_bolt.App").warning("As you gave `client` as well, `token` will be unused.")
    logging.getLogger("slack_bolt.App").warning("a real warning with %s", KEY)
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["level"], r["logger"]) for r in records] == [
        ("INFO", "aispend.serve"),
        ("INFO", "uvicorn.error"),
        ("WARNING", "slack_bolt.App"),
    ]
    assert records[2]["message"] == f"a real warning with {REDACTED}"


def test_settings_list_every_secret_including_the_database_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_ADMIN_KEY", KEY)
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "signing-secret-1")
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://bot:db-pass-9@db/aispend")
    secrets = Settings().secret_values()
    assert {KEY, "signing-secret-1", "db-pass-9"} <= set(secrets)
