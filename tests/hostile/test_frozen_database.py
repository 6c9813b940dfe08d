"""A frozen (SIGSTOPped, not stopped) PostgreSQL under a real ``aispend serve``.

A frozen server accepts TCP connections and then never answers, so none of its own timeouts
fire. Slack still gets every answer inside its 3 seconds: a polite "store unavailable" for what
needs the store, ``help`` as usual, a bounded ``/healthz``; and once the server runs again the
bot answers from it again by itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from aispend.slack import messages as msg
from tests.fakes.fake_slack import FakeSlack
from tests.hostile.pgcluster import Cluster, throwaway_cluster
from tests.hostile.served import Served, command_body, serve_process, signed_headers

SLACK_DEADLINE = 3.0  # seconds: Slack shows "operation_timeout" after this
UNAVAILABLE = "isn't answering"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as made:
        yield made


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    yield slack
    slack.stop()


def ask(url: str, text: str, fake: FakeSlack, trigger: str = "1.2.3") -> tuple[float, httpx.Response]:
    body = command_body(text, response_url=fake.response_url(), trigger=trigger)
    started = time.monotonic()
    response = httpx.post(url + "/slack/events", content=body, headers=signed_headers(body), timeout=30)
    return time.monotonic() - started, response


def timed_get(url: str) -> tuple[float, httpx.Response]:
    started = time.monotonic()
    response = httpx.get(url, timeout=30)
    return time.monotonic() - started, response


def test_frozen_database_gets_polite_answers_in_time(
    cluster: Cluster, fake: FakeSlack, tmp_path: Path
) -> None:
    assert UNAVAILABLE in msg.STORE_UNAVAILABLE
    with serve_process(tmp_path, {"SLACK_API_URL": fake.api_url, "DATABASE_URL": cluster.url}) as served:
        _, answered = ask(served.url, "project search", fake)
        assert answered.status_code == 200 and "search" in answered.text and UNAVAILABLE not in answered.text
        assert httpx.get(served.url + "/readyz").json()["database"] is True

        frozen = cluster.freeze()
        try:
            check_frozen(served, fake)
        finally:
            cluster.thaw(frozen)
        check_recovered(served, fake)
        assert "Traceback" not in served.log_text()


def check_frozen(served: Served, fake: FakeSlack) -> None:
    # 30 store questions at once, as when a channel hammers a stuck bot
    texts = ["project search", "projects", "credits", "models", "routes", "health"] * 5
    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        results = list(pool.map(lambda i: ask(served.url, texts[i], fake, f"9.{i}"), range(len(texts))))
    for (seconds, response), text in zip(results, texts, strict=True):
        assert response.status_code == 200, (text, response.status_code, response.text)
        assert UNAVAILABLE in response.text, (text, response.text)
        assert seconds < SLACK_DEADLINE, (text, seconds)
    # help never waits for the store, and the listener pool is not used up
    seconds, response = ask(served.url, "help", fake)
    assert response.status_code == 200 and "/aispend project" in response.text
    assert seconds < 1.0, seconds
    # /readyz says so, quickly, however often it is asked; /healthz (liveness) stays up: a
    # restart would not thaw the database
    for _ in range(3):
        seconds, ready = timed_get(served.url + "/readyz")
        assert ready.status_code == 503 and ready.json()["database"] is False
        assert seconds < 2.0, seconds
        seconds, alive = timed_get(served.url + "/healthz")
        assert alive.status_code == 200 and seconds < 1.0, seconds
    # later questions (past the guard's retry interval, so one probes the store) stay in time
    time.sleep(5.5)
    for text in ("project search", "projects share"):
        seconds, response = ask(served.url, text, fake)
        assert response.status_code == 200 and UNAVAILABLE in response.text, response.text
        assert seconds < SLACK_DEADLINE, seconds
    assert fake.calls("/response/cmd") == []  # nothing was posted in a channel meanwhile


def check_recovered(served: Served, fake: FakeSlack) -> None:
    deadline = time.monotonic() + 30
    while True:
        _, response = ask(served.url, "project search", fake)
        if UNAVAILABLE not in response.text:
            break
        assert time.monotonic() < deadline, "the bot did not recover after the database came back"
        time.sleep(0.5)
    assert response.status_code == 200 and "search" in response.text
    ready = httpx.get(served.url + "/readyz")
    assert ready.status_code == 200 and ready.json()["database"] is True
