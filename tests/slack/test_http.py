"""End to end over real HTTP: signed requests into uvicorn, Web API calls out to the fake."""

from __future__ import annotations

import time
from typing import Any

import pytest

from aispend.money import fmt_usd
from aispend.reader import SpendReader
from aispend.slack.home import MemoryHomeAudience
from aispend.spend.visibility import Audience
from tests.fakes.fake_slack import FakeSlack
from tests.slack.conftest import (
    ADMIN,
    NOW,
    OWNER,
    CountingReader,
    Server,
    command_body,
    home_opened_body,
    joined,
    signed_headers,
)


def post_command(server: Server, text: str, **kwargs: Any) -> dict[str, Any]:
    body = command_body(text, **kwargs)
    response = server.http.post("/slack/events", content=body, headers=signed_headers(body))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload: dict[str, Any] = response.json()
    return payload


def _expected(reader: SpendReader) -> dict[str, list[str]]:
    search = reader.project_report("search", NOW)
    assert search is not None
    # Commands are posted as OWNER, who may see the public projects but not the private ones.
    audience = Audience.user(OWNER)
    month = reader.team_report(NOW, audience=audience)
    runway = reader.runway(NOW, audience=audience)
    mix = reader.mix(NOW, audience=audience)
    routes = reader.routes(NOW, audience=audience)
    health = reader.health(NOW)
    return {
        "project search": [fmt_usd(search.total), *(fmt_usd(v) for v in search.by_provider.values())],
        "projects": [fmt_usd(p.total) for p in month.projects] + [fmt_usd(month.unattributed.total)],
        "credits": [fmt_usd(runway.balance)] if runway.balance is not None else ["No OpenRouter credit"],
        "models": [fmt_usd(mix.this_week), fmt_usd(mix.last_week), *(m.model for m in mix.models[:3])],
        "routes": [fmt_usd(r.usd) for r in routes.routes[:3]],
        "unattributed": [fmt_usd(v) for v in month.unattributed.by_provider.values()],
        "health": [e.endpoint for e in health.endpoints],
        "help": ["/aispend projects", "share"],
    }


@pytest.mark.parametrize(
    "command", ["project search", "projects", "credits", "models", "routes", "unattributed", "health", "help"]
)
def test_each_command_answers_with_the_right_figures(
    server: Server, reader: SpendReader, command: str
) -> None:
    payload = post_command(server, command)
    assert payload["response_type"] == "ephemeral"
    text = joined(payload)
    for expected in _expected(reader)[command]:
        assert expected in text, (command, expected)


def test_share_reaches_the_response_url(server: Server, fake: FakeSlack, reader: SpendReader) -> None:
    payload = post_command(server, "project search share", response_url=fake.response_url("cmd"))
    assert payload["response_type"] == "ephemeral"
    (shared,) = fake.wait_for("/response/cmd")
    assert shared.data["response_type"] == "in_channel"
    report = reader.project_report("search", NOW)
    assert report is not None and fmt_usd(report.total) in joined(shared.data)


def test_home_opened_publishes_the_viewers_projects(
    server: Server, fake: FakeSlack, audience: MemoryHomeAudience
) -> None:
    body = home_opened_body(OWNER)
    response = server.http.post("/slack/events", content=body, headers=signed_headers(body, json_body=True))
    assert response.status_code == 200
    (published,) = fake.wait_for("/api/views.publish")
    data = published.data
    assert data["user_id"] == OWNER and data["view"]["type"] == "home"
    text = joined(data["view"]["blocks"])
    assert "*search*" in text and "*atlas*" not in text
    assert audience.users() == (OWNER,)
    body = home_opened_body(ADMIN)
    server.http.post("/slack/events", content=body, headers=signed_headers(body, json_body=True))
    admin_view = fake.wait_for("/api/views.publish", 2)[1].data
    assert "*atlas*" in joined(admin_view["view"]["blocks"])


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: signed_headers(body, secret="forged"), id="forged-signature"),
        pytest.param(
            lambda body: signed_headers(body, timestamp=int(time.time()) - 301), id="stale-timestamp"
        ),
        pytest.param(
            lambda body: {"content-type": "application/x-www-form-urlencoded"}, id="missing-headers"
        ),
        pytest.param(
            lambda body: {**signed_headers(body), "x-slack-signature": "v0=" + "0" * 64}, id="zero-signature"
        ),
    ],
)
def test_unverified_requests_are_refused(
    server: Server, fake: FakeSlack, counting: CountingReader, headers: Any
) -> None:
    body = command_body("project search share", response_url=fake.response_url())
    response = server.http.post("/slack/events", content=body, headers=headers(body))
    assert response.status_code == 401
    assert "$" not in response.text
    body = home_opened_body(OWNER)
    assert server.http.post("/slack/events", content=body, headers=headers(body)).status_code == 401
    time.sleep(0.2)  # anything a handler might have started would have reached the fake by now
    assert fake.requests == []
    assert counting.calls == []


def test_healthz_and_metrics(server: Server) -> None:
    post_command(server, "credits")
    assert server.http.get("/healthz").json() == {"status": "ok"}
    ready = server.http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "reasons": [],
        "database": True,
        "last_poll_at": "2026-11-27T11:55:00+00:00",
        "last_poll_age_seconds": 300.0,
    }
    metrics = server.http.get("/metrics").text
    assert 'aispend_slack_commands_total{command="credits"} 1' in metrics
    assert 'aispend_http_requests_total{path="/slack/events",status="200"} 1' in metrics
    assert "# TYPE aispend_slack_errors_total counter" in metrics
    assert server.http.get("/slack/events").status_code == 405
