"""The outbound gateway against the fake: retries after 429, file upload, Home publishing."""

from __future__ import annotations

import time

from slack_sdk import WebClient

from aispend.reader import SpendReader
from aispend.slack.gateway import SlackGateway
from aispend.slack.home import republish_homes
from tests.fakes.fake_slack import FakeSlack
from tests.slack.conftest import ADMIN, NOW, OWNER, joined


def test_post_retries_after_429(fake: FakeSlack, web_client: WebClient) -> None:
    fake.rate_limit_next["chat.postMessage"] = 1
    started = time.monotonic()
    ts = SlackGateway(web_client).post("C0ALERTS", "fallback", [{"type": "divider"}], thread_ts="1.2")
    assert time.monotonic() - started >= 1.0  # honoured Retry-After: 1
    calls = fake.calls("/api/chat.postMessage")
    assert [c.status for c in calls] == [429, 200]
    assert ts.startswith("1700000000.")
    assert calls[-1].data["channel"] == "C0ALERTS" and calls[-1].data["thread_ts"] == "1.2"


def test_upload_png_sends_the_bytes(fake: FakeSlack, web_client: WebClient) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256))
    file_id = SlackGateway(web_client).upload_png("C0DIGEST", png, "spend.png", "Weekly spend", "Here it is")
    assert file_id == "F0FAKE"
    (upload,) = fake.calls("/upload/F0FAKE")
    assert upload.body == png
    (complete,) = fake.calls("/api/files.completeUploadExternal")
    assert complete.data["channel_id"] == "C0DIGEST" and complete.data["initial_comment"] == "Here it is"


def test_republish_homes_reads_once_and_skips_failures(
    fake: FakeSlack, web_client: WebClient, reader: SpendReader
) -> None:
    assert republish_homes(web_client, reader, [OWNER, ADMIN], NOW) == 2
    published = fake.calls("/api/views.publish")
    assert [p.data["user_id"] for p in published] == [OWNER, ADMIN]
    assert "*atlas*" in joined(published[1].data["view"]) and "*atlas*" not in joined(
        published[0].data["view"]
    )
    assert republish_homes(web_client, reader, [], NOW) == 0


def test_gateway_publish_home(fake: FakeSlack, web_client: WebClient) -> None:
    SlackGateway(web_client).publish_home(OWNER, {"type": "home", "blocks": []})
    assert fake.calls("/api/views.publish")[0].data["user_id"] == OWNER


def test_web_client_retries_rate_limits_connection_and_server_errors() -> None:
    from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
    from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

    from aispend.slack.client import make_web_client

    client = make_web_client("xoxb-test", "http://127.0.0.1:9/api/")
    kinds = {type(handler): handler for handler in client.retry_handlers}
    assert set(kinds) == {ConnectionErrorRetryHandler, RateLimitErrorRetryHandler, ServerErrorRetryHandler}
    assert kinds[RateLimitErrorRetryHandler].max_retry_count == 2
