"""PostgreSQL restarted under a running ``aispend serve`` (a throwaway cluster, never the shared one).

While the server is down every Slack question that needs the store is answered "isn't answering"
inside Slack's 3 seconds and ``/readyz`` says 503; once it is back the bot answers from it again,
and the leader takes its lock back, all by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from aispend.slack import messages as msg
from tests.fakes.fake_slack import FakeSlack
from tests.hostile.pgcluster import Cluster, throwaway_cluster
from tests.hostile.served import Served, serve_process
from tests.hostile.server import HostileProvider
from tests.hostile.test_frozen_database import SLACK_DEADLINE, UNAVAILABLE, ask, timed_get
from tests.resilience.test_replicas import leads, poll_runs, wait_until, write_config


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with throwaway_cluster() as made:
        yield made


def test_a_database_restart_gets_polite_answers_in_time_and_the_bot_recovers_by_itself(
    cluster: Cluster, provider: HostileProvider, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    write_config(tmp_path)
    env = provider.environ() | {
        "DATABASE_URL": cluster.url,
        "SLACK_API_URL": fake_slack.api_url,
        "AISPEND_LEADER_RETRY_SECONDS": "1",
    }
    with serve_process(tmp_path, env) as served:
        wait_until(lambda: poll_runs(cluster.url) > 0 and leads(served), 30, "the first poll")
        _, answered = ask(served.url, "project search", fake_slack)
        assert answered.status_code == 200 and UNAVAILABLE not in answered.text, answered.text

        cluster.stop()
        try:
            check_down(served, fake_slack)
        finally:
            cluster.start()
        wait_until(lambda: answers_from_the_store(served, fake_slack), 30, "Slack answers from the store")
        ready = httpx.get(served.url + "/readyz", timeout=5)
        assert ready.status_code == 200, ready.text
        # the leader's lock went with its session: it notices and takes it back
        wait_until(lambda: leads(served) and advisory_locks(cluster) == 1, 30, "the lock is held again")
        log = served.log_text()
        assert "lost the leader connection" in log
        assert "Traceback" not in log


def advisory_locks(cluster: Cluster) -> int:
    engine = create_engine(cluster.url)
    try:
        with engine.connect() as conn:
            query = text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def check_down(served: Served, fake_slack: FakeSlack) -> None:
    assert UNAVAILABLE in msg.STORE_UNAVAILABLE
    for index, asked in enumerate(("project search", "projects", "credits", "health", "projects share")):
        seconds, response = ask(served.url, asked, fake_slack, trigger=f"7.{index}")
        assert response.status_code == 200, (asked, response.status_code)
        assert UNAVAILABLE in response.text, (asked, response.text)
        assert seconds < SLACK_DEADLINE, (asked, seconds)
    seconds, response = ask(served.url, "help", fake_slack)
    assert response.status_code == 200 and "/aispend project" in response.text and seconds < 1.0
    seconds, ready = timed_get(served.url + "/readyz")
    assert ready.status_code == 503 and seconds < 2.0, (ready.status_code, seconds)
    seconds, alive = timed_get(served.url + "/healthz")
    assert alive.status_code == 200 and seconds < 1.0  # a restart of the bot would not help
    assert fake_slack.calls("/response/cmd") == []  # nothing was shared meanwhile


def answers_from_the_store(served: Served, fake_slack: FakeSlack) -> bool:
    _, response = ask(served.url, "project search", fake_slack)
    return response.status_code == 200 and UNAVAILABLE not in response.text and "search" in response.text
