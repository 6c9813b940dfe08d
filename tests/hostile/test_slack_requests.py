"""Unsigned, forged, oversized and malformed requests against a real ``aispend serve`` process.

What a stranger on the internet can send costs a status code and a counter, never a traceback,
an error-metric bump or memory proportional to what they send; what Slack signs but we cannot
read gets a 400, never a 500.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aispend.slack.gate import MAX_BODY_BYTES
from tests.fakes.fake_slack import FakeSlack
from tests.hostile.served import SECRET, Served, command_body, serve_process, signed_headers

ERRORS = "aispend_slack_errors_total"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    yield slack
    slack.stop()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, fake: FakeSlack) -> Iterator[Served]:
    with serve_process(tmp_path_factory.mktemp("serve"), {"SLACK_API_URL": fake.api_url}) as server:
        yield server


@pytest.fixture
def http(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=10) as client:
        yield client


def assert_quiet_log(served: Served) -> None:
    text = served.log_text()
    assert "Traceback" not in text
    assert "Exception" not in text


def test_unsigned_junk_is_refused_cheaply(served: Served, http: httpx.Client) -> None:
    errors_before = served.metric(http, ERRORS)
    log_before = len(served.log_text())
    form = {"content-type": "application/x-www-form-urlencoded"}
    for _ in range(200):
        assert http.post("/slack/events", content=b"payload=%7B", headers=form).status_code == 401
    assert served.metric(http, ERRORS) == errors_before
    assert served.metric(http, 'aispend_slack_rejected_total{reason="signature"}') >= 200
    assert_quiet_log(served)
    # uvicorn's access line per request, plus one summary line: nothing per request of our own
    added = served.log_text()[log_before:].splitlines()
    ours = [line for line in added if '"POST /slack/events' not in line and '"GET /metrics' not in line]
    assert len("\n".join(ours)) < 1_000, ours
    assert len("\n".join(added)) < 200 * 100


@pytest.mark.parametrize(
    "timestamp",
    ["abc", "", "1e9", "9" * 5000, "-1", "12.5", "0x10", "\u0661\u0662\u0663"],
    ids=["letters", "empty", "float-exp", "huge", "negative", "decimal", "hex", "arabic-digits"],
)
def test_malformed_timestamp_is_401(served: Served, http: httpx.Client, timestamp: str) -> None:
    body = command_body("help", response_url="http://127.0.0.1:9/x")
    headers = signed_headers(body)
    headers["x-slack-request-timestamp"] = timestamp
    errors_before = served.metric(http, ERRORS)
    encoded = {k.encode(): v.encode("utf-8") for k, v in headers.items()}
    assert http.post("/slack/events", content=body, headers=encoded).status_code == 401
    assert served.metric(http, ERRORS) == errors_before
    assert_quiet_log(served)


def test_forged_stale_and_odd_signatures_are_401(served: Served, http: httpx.Client) -> None:
    body = command_body("projects", response_url="http://127.0.0.1:9/x")
    good = signed_headers(body)
    stale_ts = str(int(time.time()) - 301)
    stale = {
        **good,
        "x-slack-request-timestamp": stale_ts,
        "x-slack-signature": "v0="
        + hmac.new(SECRET.encode(), f"v0:{stale_ts}:{body}".encode(), hashlib.sha256).hexdigest(),
    }
    cases: list[dict[str, str]] = [
        {**good, "x-slack-signature": "v0=" + "0" * 64},
        {**good, "x-slack-signature": "v0=\xff\xfe"},  # not ASCII: hmac.compare_digest would raise
        {k: v for k, v in good.items() if k != "x-slack-signature"},
        {k: v for k, v in good.items() if k != "x-slack-request-timestamp"},
        stale,
    ]
    for headers in cases:
        raw = {k.encode(): v.encode("latin-1") for k, v in headers.items()}
        assert http.post("/slack/events", content=body, headers=raw).status_code == 401
    # the untouched request still works, so the refusals above are the signature's doing
    assert http.post("/slack/events", content=body, headers=good).status_code == 200
    assert_quiet_log(served)


def _signed_post(http: httpx.Client, body: bytes, content_type: str) -> httpx.Response:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": ts,
        "x-slack-signature": "v0=" + digest,
    }
    return http.post("/slack/events", content=body, headers=headers)


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
SIGNED_MALFORMED = [
    (b"payload=%7B", FORM),
    (b"payload=%5B%5D", FORM),
    (b"payload=%22x%22", FORM),
    (b"payload=null", FORM),
    (b"payload=" + quote(json.dumps({"type": 5})).encode(), FORM),
    (b"payload=" + quote(json.dumps({"type": "block_actions", "actions": "x"})).encode(), FORM),
    (b"payload=" + quote(json.dumps({"type": "block_actions", "user": 7, "team": []})).encode(), FORM),
    (b"payload=" + quote(json.dumps({"type": "view_submission", "view": "x"})).encode(), FORM),
    (b"", FORM),
    (b"%%%", FORM),
    (b"{", JSON),
    (b"[]", JSON),
    (b"7", JSON),
    (b'"text"', JSON),
    (json.dumps({"type": "event_callback", "event": "x"}).encode(), JSON),
    (json.dumps({"type": "event_callback", "event": {"type": "app_home_opened"}}).encode(), JSON),
    (json.dumps({"type": "event_callback", "team_id": {"a": 1}, "event": [1]}).encode(), JSON),
    (json.dumps({"type": "url_verification"}).encode(), JSON),
    (b"\xff\xfe\x00", FORM),
    (urlencode({"command": "/aispend", "text": "x" * 50_000}).encode(), FORM),
    (urlencode({"command": "/aispend"}).encode(), FORM),
    (urlencode({"command": ["/aispend", "/other"], "text": "projects"}, doseq=True).encode(), FORM),
]


@pytest.mark.parametrize(
    ("body", "content_type"), SIGNED_MALFORMED, ids=[str(i) for i in range(len(SIGNED_MALFORMED))]
)
def test_signed_malformed_payloads_never_500(
    served: Served, http: httpx.Client, body: bytes, content_type: str
) -> None:
    response = _signed_post(http, body, content_type)
    assert response.status_code != 500
    assert response.status_code in (200, 400, 401, 404)
    assert_quiet_log(served)


def test_signed_broken_json_is_400(http: httpx.Client) -> None:
    for body, content_type in [
        (b"payload=%7B", FORM),
        (b"{", JSON),
        (b"[]", JSON),
        (b"payload=%5B%5D", FORM),
    ]:
        assert _signed_post(http, body, content_type).status_code == 400


def _raw_exchange(url: str, head: bytes, send_bytes: int, chunk: bytes) -> tuple[bytes, int]:
    """Send ``head`` then up to ``send_bytes`` of ``chunk`` until the server answers or closes;
    return (the first bytes of the answer, how much body was sent)."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head)
        sock.setblocking(False)
        answer = b""
        try:
            while sent < send_bytes:
                try:
                    answer += sock.recv(4096)
                    if answer:
                        break
                except BlockingIOError:
                    pass
                try:
                    sent += sock.send(chunk)
                except BlockingIOError:
                    time.sleep(0.001)
        except (BrokenPipeError, ConnectionResetError):
            pass
        sock.setblocking(True)
        sock.settimeout(10)
        try:
            while b"\r\n" not in answer:
                more = sock.recv(4096)
                if not more:
                    break
                answer += more
        except (ConnectionResetError, TimeoutError):
            pass
    return answer, sent


def test_huge_bodies_are_refused_without_being_held(served: Served, http: httpx.Client) -> None:
    before = served.peak_rss_kib()
    huge = 200 * 1024 * 1024
    chunk = b"a" * 65536
    declared = (
        f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\nContent-Length: {huge}\r\n\r\n"
    ).encode()
    answer, sent = _raw_exchange(served.url, declared, huge, chunk)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert sent < huge  # refused on the declared length, long before the end
    # chunked: no length to judge by, so the body is read only until it passes the cap
    chunked_head = (
        f"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: {FORM}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    one_chunk = f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"
    answer, sent = _raw_exchange(served.url, chunked_head.encode(), huge, one_chunk)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert sent < huge
    # just over the cap, with an honest length: 413 too; just under with a bad signature: 401
    over = b"a" * (MAX_BODY_BYTES + 1)
    assert http.post("/slack/events", content=over, headers={"content-type": FORM}).status_code == 413
    under = b"a" * MAX_BODY_BYTES
    assert http.post("/slack/events", content=under, headers={"content-type": FORM}).status_code == 401
    grown_mib = (served.peak_rss_kib() - before) / 1024
    assert grown_mib < 32, f"peak RSS grew by {grown_mib:.1f} MiB for 400 MB of refused bodies"
    assert served.metric(http, ERRORS) == 0
    assert_quiet_log(served)


def test_signed_commands_still_answer(served: Served, http: httpx.Client, fake: FakeSlack) -> None:
    body = command_body("help", response_url=fake.response_url())
    response = http.post("/slack/events", content=body, headers=signed_headers(body))
    assert response.status_code == 200 and "/aispend" in response.text


_KEYS = st.sampled_from(
    ["type", "actions", "action_id", "block_id", "user", "id", "team", "view", "callback_id", "event",
     "tab", "channel", "command", "text", "user_id", "team_id", "authorizations", "challenge", "api_app_id",
     "response_url", "trigger_id", "enterprise", "is_enterprise_install", "bot_id", "subtype"]
)  # fmt: skip
_VALUES = st.sampled_from(
    ["block_actions", "event_callback", "app_home_opened", "aispend_home_refresh", "home", "/aispend",
     "url_verification", "ssl_check", "view_submission", "shortcut", "U0OWNER", "T0FAKE", "x"]
)  # fmt: skip
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | _VALUES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEYS, inner, max_size=5),
    max_leaves=12,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.dictionaries(_KEYS, _JSON, max_size=6), as_payload=st.booleans())
def test_signed_fuzzed_payloads_never_500(
    served: Served, http: httpx.Client, body: dict[str, object], as_payload: bool
) -> None:
    """Slack-like JSON of every shape, signed: Bolt either handles it or we refuse it with a 400."""
    if as_payload:
        raw, content_type = b"payload=" + quote(json.dumps(body)).encode(), FORM
    else:
        raw, content_type = json.dumps(body).encode(), JSON
    response = _signed_post(http, raw, content_type)
    assert response.status_code in (200, 400, 404), (response.status_code, body)
    assert served.metric(http, ERRORS) == 0, body
    assert "Traceback" not in served.log_text(), body


def test_a_command_mentioning_payload_is_still_a_command(http: httpx.Client, fake: FakeSlack) -> None:
    """Bolt mistakes any form body containing the word "payload" for an interaction."""
    body = command_body("project payload-api", response_url=fake.response_url())
    response = http.post("/slack/events", content=body, headers=signed_headers(body))
    assert response.status_code == 200
    assert "payload-api" in response.text  # the unknown-project answer names what was asked
