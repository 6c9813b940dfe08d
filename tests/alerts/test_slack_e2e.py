"""End to end over HTTP with the fake Slack Web API on loopback: poll the simulated providers →
alerts posted → a signed ``block_actions`` Acknowledge → ``chat.update`` naming who acknowledged;
a stranger's press is refused ephemerally and changes nothing. Slack failures: 500 then 429 with
``Retry-After`` then ok posts exactly once."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine

from aispend.alerts.state import apply_evaluation, deliver, open_alerts
from aispend.clock import utcnow
from aispend.config import parse_config
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.serve import build_runtime
from aispend.settings import Settings
from aispend.slack.alerts import SlackAlertNotifier
from aispend.slack.client import make_web_client
from tests.alerts.factories import NOW, config, flat, inputs, run_rules
from tests.fakes.asgi_server import serve_in_thread
from tests.fakes.fake_slack import FakeSlack, Recorded

SECRET = "alerts-signing-secret"
OWNER, ADMIN, STRANGER = "U0OWNER", "U0ADMIN", "U0STRANGER"


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def press(http: httpx.Client, action: str, alert_id: str, user: str, fake: FakeSlack) -> httpx.Response:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0FAKE"},
        "api_app_id": "A0APP",
        "channel": {"id": "C0FAKE"},
        "container": {"type": "message", "channel_id": "C0FAKE", "message_ts": "1700000000.000001"},
        "response_url": fake.response_url("action"),
        "trigger_id": "1.2.3",
        "actions": [
            {"action_id": action, "block_id": "b", "type": "button", "value": alert_id, "action_ts": "1"}
        ],
    }
    body = "payload=" + quote(json.dumps(payload))
    ts = str(int(time.time()))
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body) or "",
    }
    return http.post("/slack/events", content=body, headers=headers)


def command(text: str, user: str, fake: FakeSlack) -> str:
    return urlencode(
        {"command": "/aispend", "text": text, "user_id": user, "team_id": "T0FAKE", "channel_id": "C1",
         "response_url": fake.response_url(), "trigger_id": "1.2.3"}
    )  # fmt: skip


def signed_form(body: str, *, json_body: bool = False) -> dict[str, Any]:
    ts = str(int(time.time()))
    return {
        "content": body,
        "headers": {
            "content-type": "application/json" if json_body else "application/x-www-form-urlencoded",
            "x-slack-request-timestamp": ts,
            "x-slack-signature": SignatureVerifier(SECRET).generate_signature(timestamp=ts, body=body) or "",
        },
    }


def blocks_text(request: Recorded) -> str:
    return json.dumps(request.data.get("blocks"), ensure_ascii=False) + str(request.data.get("text"))


def alert_id_of(request: Recorded) -> str:
    blocks: list[dict[str, Any]] = request.data["blocks"]
    actions = [b for b in blocks if b["type"] == "actions"]
    return str(actions[0]["elements"][0]["value"])


def test_poll_alert_acknowledge_update(
    tmp_path: Path, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    dataset = Dataset.generate(utcnow().date())
    cfg = parse_config(
        {
            "alert_channel": "C0ALERTS",
            "admins": [ADMIN],
            "projects": [
                {
                    "name": "search",
                    "owner": OWNER,
                    "channel": "C0SEARCH",
                    "monthly_budget_usd": Decimal("0.01"),
                    "alert_at_percent": [Decimal(100)],
                    "openai_projects": ["search"],
                    "openrouter_keys": ["search-prod"],
                }
            ],
        }
    )
    with SimulatedProviders(dataset) as providers:
        for key, value in providers.environ().items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
        monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
        monkeypatch.setenv("SLACK_API_URL", fake_slack.api_url)
        monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'serve.db'}")
        runtime = build_runtime(Settings(), cfg)
        summary = runtime.poll()
        assert summary is not None and summary.ok
    posts = [r for r in fake_slack.calls("/api/chat.postMessage") if r.data.get("channel") == "C0SEARCH"]
    budget = [r for r in posts if "budget" in blocks_text(r)]
    assert budget, [blocks_text(r)[:200] for r in fake_slack.calls("/api/chat.postMessage")]
    assert all("<@U0OWNER>" in blocks_text(r) for r in budget)
    alert_id = alert_id_of(budget[0])
    assert runtime.metrics.value("aispend_alerts_sent_total", rule="budget_threshold") == len(budget)
    runtime.poll()  # a second evaluation posts nothing new
    assert len(
        [r for r in fake_slack.calls("/api/chat.postMessage") if r.data.get("channel") == "C0SEARCH"]
    ) == len(posts)
    with serve_in_thread(runtime.web) as url, httpx.Client(base_url=url, timeout=10) as http:
        assert press(http, "aispend_alert_ack", alert_id, STRANGER, fake_slack).status_code == 200
        refusal = fake_slack.wait_for("/api/chat.postEphemeral")[0]
        assert refusal.data["user"] == STRANGER and "nothing was changed" in str(refusal.data["text"])
        assert fake_slack.calls("/api/chat.update") == []
        assert runtime.engine is not None
        pressed = next(a for a in open_alerts(runtime.engine) if str(a.id) == alert_id)
        assert (pressed.status, pressed.acknowledged_by) == ("firing", None)  # nothing changed
        assert press(http, "aispend_alert_ack", alert_id, OWNER, fake_slack).status_code == 200
        update = fake_slack.wait_for("/api/chat.update")[0]
        listed = http.post("/slack/events", **signed_form(command("alerts", OWNER, fake_slack)))
        assert (
            "Acknowledged by &lt;@U0OWNER&gt;" not in listed.text
            and "Acknowledged by <@U0OWNER>" in listed.text
        )
        assert "Open alerts" in listed.text and "budget" in listed.text
        stranger = http.post("/slack/events", **signed_form(command("alerts", STRANGER, fake_slack)))
        assert "No open alerts" in stranger.text
        opened = {"type": "app_home_opened", "user": OWNER, "tab": "home", "channel": "D1"}
        home = json.dumps(
            {"type": "event_callback", "team_id": "T0FAKE", "api_app_id": "A0APP", "event": opened}
        )
        assert http.post("/slack/events", **signed_form(home, json_body=True)).status_code == 200
        view = fake_slack.wait_for("/api/views.publish")[0]
        assert "Acknowledged by <@U0OWNER>" in json.dumps(view.data["view"], ensure_ascii=False)
    assert update.data["ts"] == budget[0].data.get("ts") or update.data["ts"].startswith("1700000000.")
    assert "Acknowledged by <@U0OWNER>" in blocks_text(update)


def _evaluate(engine: Engine) -> None:
    cfg = config()
    apply_evaluation(
        engine, run_rules(inputs(cfg, daily={"search": flat(20, "41", end=NOW.date())}), cfg), NOW
    )


def test_500_then_429_then_ok_posts_exactly_once(
    engine: Engine, fake_slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aispend.slack.alerts")
    _evaluate(engine)
    expected = len(open_alerts(engine))
    fake_slack.fail_next["chat.postMessage"] = [500, 429]
    notifier = SlackAlertNotifier(make_web_client("xoxb-test", fake_slack.api_url), config())
    report = deliver(engine, notifier, NOW)
    calls = fake_slack.calls("/api/chat.postMessage")
    assert [c.status for c in calls][:3] == [500, 429, 200]
    assert len([c for c in calls if c.status == 200]) == expected == len(report.sent)
    assert all(a.ts for a in open_alerts(engine))
    deliver(engine, notifier, NOW)
    assert len([c for c in fake_slack.calls("/api/chat.postMessage") if c.status == 200]) == expected
    posted = [r for r in caplog.records if r.levelno == logging.INFO and " posted to " in r.getMessage()]
    assert len(posted) == expected  # one INFO line per alert posted, none for the failed attempts


def test_a_post_that_fails_past_the_retries_is_posted_next_evaluation_once(
    engine: Engine, fake_slack: FakeSlack
) -> None:
    _evaluate(engine)
    fake_slack.fail_next["chat.postMessage"] = [500, 500]
    notifier = SlackAlertNotifier(make_web_client("xoxb-test", fake_slack.api_url), config())
    first = deliver(engine, notifier, NOW)
    assert first.failed and "500" in first.failed[0][1]
    deliver(engine, notifier, NOW)
    ok = [c for c in fake_slack.calls("/api/chat.postMessage") if c.status == 200]
    assert len(ok) == len(open_alerts(engine)) and all(a.ts for a in open_alerts(engine))
