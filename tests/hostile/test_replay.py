"""A signed ``share`` replayed, retried by Slack, or sent to another replica posts once.

Two real ``aispend serve`` processes share one database, as replicas behind a load balancer do;
the response_url is the fake Slack's, so every post in a channel is counted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aispend.slack import messages as msg
from tests.fakes.fake_slack import FakeSlack
from tests.hostile.served import command_body, serve_process, signed_headers

ALREADY = "Already posted"


@pytest.fixture
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    yield slack
    slack.stop()


def posts(fake: FakeSlack, key: str) -> int:
    time.sleep(0.3)  # the post follows the acknowledgement on a listener thread
    return len(fake.calls(f"/response/{key}"))


def test_replays_and_retries_of_a_share_post_once(tmp_path: Path, fake: FakeSlack) -> None:
    assert ALREADY in msg.ALREADY_SHARED
    env = {"SLACK_API_URL": fake.api_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'shared.db'}"}
    with serve_process(tmp_path, env) as first, serve_process(tmp_path, env) as second:
        body = command_body("projects share", response_url=fake.response_url("share"), trigger="7.7.7")
        headers = signed_headers(body)
        answer = httpx.post(first.url + "/slack/events", content=body, headers=headers)
        assert answer.status_code == 200 and msg.SHARED in answer.text
        fake.wait_for("/response/share")
        assert posts(fake, "share") == 1

        # the very same signed request again, to the same replica and to the other one
        for replica in (first, second, first):
            again = httpx.post(replica.url + "/slack/events", content=body, headers=headers)
            assert again.status_code == 200 and ALREADY in again.text
        # Slack's own retries: re-signed, same body; a late answer's retry is acknowledged idle
        retry = {**signed_headers(body), "x-slack-retry-num": "1", "x-slack-retry-reason": "http_error"}
        again = httpx.post(second.url + "/slack/events", content=body, headers=retry)
        assert again.status_code == 200 and ALREADY in again.text
        timeout_retry = {
            **signed_headers(body),
            "x-slack-retry-num": "2",
            "x-slack-retry-reason": "http_timeout",
        }
        again = httpx.post(first.url + "/slack/events", content=body, headers=timeout_retry)
        assert again.status_code == 200 and again.headers["x-slack-no-retry"] == "1"
        assert posts(fake, "share") == 1

        # a new invocation (its own trigger_id) is a new request and posts
        other = command_body("projects share", response_url=fake.response_url("share"), trigger="8.8.8")
        assert (
            msg.SHARED
            in httpx.post(second.url + "/slack/events", content=other, headers=signed_headers(other)).text
        )
        fake.wait_for("/response/share", count=2)
        assert posts(fake, "share") == 2

        # a replayed request that posts nothing (no share) is simply answered again
        plain = command_body("projects", response_url=fake.response_url("plain"), trigger="9.9.9")
        plain_headers = signed_headers(plain)
        for _ in range(2):
            answer = httpx.post(first.url + "/slack/events", content=plain, headers=plain_headers)
            assert answer.status_code == 200 and ALREADY not in answer.text
        metrics = httpx.get(first.url + "/metrics").text
        assert 'aispend_slack_repeats_total{kind="share"} 2' in metrics
        assert 'aispend_slack_repeats_total{kind="retry"} 1' in metrics
        assert "Traceback" not in first.log_text() + second.log_text()
