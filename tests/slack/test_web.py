"""``/healthz`` payloads and the metrics text, without a server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from aispend.slack.web import health_payload
from tests.slack.conftest import NOW, InMemoryReader


def test_health_payload_states() -> None:
    health = InMemoryReader().health(NOW)
    assert health_payload(health, now=NOW, stale_after=timedelta(minutes=45))[1]["status"] == "ok"
    status, body = health_payload(health, now=NOW, stale_after=timedelta(minutes=1))
    assert (status, body["status"], body["database"]) == (200, "degraded", True)
    status, body = health_payload(replace(health, database_ok=False), now=NOW, stale_after=None)
    assert (status, body["status"], body["database"]) == (503, "degraded", False)
    status, body = health_payload(None, now=NOW, stale_after=None)  # the health read itself failed
    assert (status, body["database"], body["last_poll_at"]) == (503, False, None)
    status, body = health_payload(replace(health, last_poll_at=None), now=NOW, stale_after=None)
    assert (status, body["status"], body["last_poll_age_seconds"]) == (200, "degraded", None)
