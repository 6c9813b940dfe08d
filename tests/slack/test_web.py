"""``/readyz`` payloads, without a server."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from aispend.slack.web import readiness_payload
from tests.slack.conftest import NOW, InMemoryReader


def test_ready_only_with_a_database_a_current_schema_and_a_fresh_poll() -> None:
    health = InMemoryReader().health(NOW)  # last poll 5 minutes before NOW
    status, body = readiness_payload(health, now=NOW, stale_after=timedelta(minutes=45))
    assert (status, body["status"], body["reasons"], body["database"]) == (200, "ready", [], True)
    status, body = readiness_payload(health, now=NOW, stale_after=timedelta(minutes=1))
    assert (status, body["status"], body["reasons"]) == (
        503,
        "not_ready",
        ["last poll 300 s ago (limit 60 s)"],
    )
    status, body = readiness_payload(replace(health, database_ok=False), now=NOW, stale_after=None)
    assert (status, body["reasons"]) == (503, ["database unreachable"])
    status, body = readiness_payload(None, now=NOW, stale_after=None)  # the read itself failed or hung
    assert (status, body["database"], body["last_poll_at"]) == (503, False, None)
    status, body = readiness_payload(health, now=NOW, stale_after=None, schema_current=False)
    assert status == 503 and "migrations" in str(body["reasons"])


def test_a_store_never_polled_gets_one_stale_interval_from_start() -> None:
    never = replace(InMemoryReader().health(NOW), last_poll_at=None)
    limit = timedelta(minutes=45)
    status, body = readiness_payload(never, now=NOW, stale_after=limit, started_at=NOW - timedelta(minutes=5))
    assert (status, body["last_poll_age_seconds"]) == (200, None)
    status, body = readiness_payload(never, now=NOW, stale_after=limit, started_at=NOW - timedelta(hours=1))
    assert (status, body["reasons"]) == (503, ["never polled"])
    # a process that does not poll (no provider keys) is ready on the database alone
    assert readiness_payload(never, now=NOW, stale_after=None)[0] == 200
