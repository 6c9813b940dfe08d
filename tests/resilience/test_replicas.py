"""Two ``aispend serve`` processes on one PostgreSQL database: one leads, the other takes over.

The leader is killed with SIGKILL (no graceful release): PostgreSQL drops its session, and with it
the advisory lock, as soon as the process's socket closes; the standby's leader check (every
``AISPEND_LEADER_RETRY_SECONDS``, set to 1 s here instead of waiting for a poll interval) takes
the lock and polls at once. The App Home audience lives in the database, so the new leader
republishes the Home a user opened on the replica that died, and neither the alert nor the weekly
digest the dead leader posted is posted again.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from sqlalchemy import func, select

from aispend.store.engine import make_engine
from aispend.store.models import PollRun
from tests.fakes.fake_slack import FakeSlack
from tests.hostile.served import Served, serve_process, signed_headers
from tests.hostile.server import HostileProvider

INTERVAL_S = 60  # poll_interval_minutes: 1, the smallest the config allows
USER = "U0OWNER"
LOW_CREDITS = "OpenRouter credits are low"
DIGEST_CHANNEL = "C0DIGEST"


def replica_env(provider: HostileProvider, fake_slack: FakeSlack, database_url: str) -> dict[str, str]:
    return provider.environ() | {
        "DATABASE_URL": database_url,
        "SLACK_API_URL": fake_slack.api_url,
        "AISPEND_LEADER_RETRY_SECONDS": "1",
    }


def write_config(tmp_path: Path) -> None:
    """One project; the hostile provider's balance ($75) is under the low-credit line ($100);
    a weekly digest (the newest Monday 00:00 is always past, so one is due at the first poll)."""
    (tmp_path / "aispend.yaml").write_text(
        "timezone: UTC\npoll_interval_minutes: 1\nalert_channel: C0ALERTS\n"
        f"digest:\n  channel: {DIGEST_CHANNEL}\n  weekday: mon\n  time: '00:00'\n"
        "openrouter:\n  low_credit_usd: 100\n  low_runway_days: 1\nprojects:\n"
        "  - name: search\n    owner: U0OWNER\n    openai_projects: [proj_search]\n",
        encoding="utf-8",
    )


def digests_posted(fake_slack: FakeSlack) -> int:
    return sum(
        1
        for call in fake_slack.calls("/api/chat.postMessage")
        if call.status == 200 and call.data.get("channel") == DIGEST_CHANNEL
    )


def alerts_posted(fake_slack: FakeSlack, rule_words: str) -> int:
    """Top-level alert messages Slack accepted that mention ``rule_words``."""
    return sum(
        1
        for call in fake_slack.calls("/api/chat.postMessage")
        if call.status == 200 and "thread_ts" not in call.data and rule_words in json.dumps(call.data)
    )


def poll_runs(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(PollRun)).scalar_one())
    finally:
        engine.dispose()


def leads(served: Served) -> bool:
    with httpx.Client(base_url=served.url, timeout=2) as http:
        return served.metric(http, "aispend_leader ") == 1


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"not within {timeout}s: {what}")
        time.sleep(0.1)
    return time.monotonic() - started


def open_home(served: Served, user: str = USER) -> httpx.Response:
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": "T0FAKE",
            "api_app_id": "A0APP",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "channel": "D0HOME", "tab": "home"},
        }
    )
    headers = signed_headers(body, content_type="application/json")
    return httpx.post(served.url + "/slack/events", content=body, headers=headers, timeout=5)


def published_for(fake_slack: FakeSlack, user: str) -> int:
    return sum(1 for call in fake_slack.calls("/api/views.publish") if call.data.get("user_id") == user)


def test_one_replica_leads_and_another_takes_over_within_an_interval_when_it_is_killed(
    pg_store: str, provider: HostileProvider, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    write_config(tmp_path)
    env = replica_env(provider, fake_slack, pg_store)
    with serve_process(tmp_path, env) as first:
        wait_until(lambda: poll_runs(pg_store) > 0 and leads(first), 30, "the first replica polls")
        with serve_process(tmp_path, env) as second:
            time.sleep(3)  # three leader checks on the second replica: it must not lead meanwhile
            assert leads(first) and not leads(second)
            polled = poll_runs(pg_store)
            hits = dict(provider.hits)

            # a user opens the Home tab on the leader, which is then killed
            assert open_home(first).status_code == 200
            wait_until(lambda: published_for(fake_slack, USER) == 1, 10, "the Home is published")
            assert provider.hits == hits  # the standby never polled

            # the leader's first poll found the balance under the line and posted the alert
            wait_until(lambda: alerts_posted(fake_slack, LOW_CREDITS) == 1, 10, "the low-credit alert")
            wait_until(lambda: digests_posted(fake_slack) == 1, 10, "the weekly digest")

            os.kill(first.pid, signal.SIGKILL)
            took = wait_until(lambda: leads(second), INTERVAL_S, "the second replica takes over")
            assert took < 10, took  # one leader check after the session is gone, not a poll interval
            wait_until(lambda: poll_runs(pg_store) > polled, 30, "the new leader polls at once")
            # the new leader republishes the Home that the dead replica saw opened
            wait_until(lambda: published_for(fake_slack, USER) == 2, 30, "the Home is republished")
            # the new leader evaluated the alerts after its poll (before the Home refresh) and
            # found the alert already posted: one message across both replicas
            assert alerts_posted(fake_slack, LOW_CREDITS) == 1
            time.sleep(1)  # the digest check runs right after the Home refresh
            assert digests_posted(fake_slack) == 1
            log = second.log_text()
            assert "took over the scheduled jobs" in log
            assert "Traceback" not in log
