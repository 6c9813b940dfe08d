"""Two polls at once, and first starts racing through the migrations (issue 10, item 9).

Real processes on SQLite and PostgreSQL: ``aispend poll`` beside another ``aispend poll``, beside
the poll job of ``aispend serve``, and several commands starting together on an empty database.
A slow (but well-behaved) costs answer keeps the first poll busy long enough to be overlapped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from aispend.config import load_config
from aispend.ingest import PollSummary
from aispend.serve import build_runtime
from aispend.settings import Settings
from aispend.store.engine import make_engine
from aispend.store.models import OpenAICostDaily, PollRun
from tests.fakes.fake_slack import FakeSlack
from tests.hostile import server as hostile
from tests.hostile.conftest import Cli

BUSY = "another poll is already running on this database"


def _slow_costs(cli: Cli, seconds: float = 5.0) -> None:
    """Keep a poll busy for ``seconds`` (long enough for another process to start beside it)."""
    cli.limits["AISPEND_REQUEST_SECONDS"] = "60"
    cli.provider.behaviours["/organization/costs"] = hostile.slow(hostile.cost_page, seconds)


def _until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _costs_asked(cli: Cli, times: int) -> Callable[[], bool]:
    return lambda: cli.provider.hits.get("/organization/costs", 0) >= times


def _stored(cli: Cli) -> tuple[int, int]:
    """Cost rows beyond one per day (duplicates), and poll runs that did not end ok."""
    engine = make_engine(cli.database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(func.count()).select_from(OpenAICostDaily)).scalar_one()
            days = conn.execute(select(func.count(func.distinct(OpenAICostDaily.day)))).scalar_one()
            failed = conn.execute(
                select(func.count()).select_from(PollRun).where(PollRun.status != "ok")  # type: ignore[arg-type]
            ).scalar_one()
    finally:
        engine.dispose()
    assert rows >= 1
    return rows - days, failed


def test_a_second_poll_refuses_in_one_line_or_waits_its_turn(cli_any_db: Cli) -> None:
    cli = cli_any_db
    _slow_costs(cli)
    first = cli.start("poll")
    _until(_costs_asked(cli, 1), "the first poll to be under way")
    refused = cli.run("poll")
    assert refused.code == 1
    lines = refused.err.strip().splitlines()
    assert len(lines) == 1 and BUSY in lines[0], refused.err
    assert refused.out == ""
    assert first.wait(60) == 0, first.communicate()

    # With --wait, the second poll runs once the first is over, and neither loses anything.
    again = cli.start("poll")
    _until(_costs_asked(cli, 2), "the third poll to be under way")
    waited = cli.run("poll", "--wait", "60")
    assert again.wait(60) == 0, again.communicate()
    assert waited.code == 0, waited.out + waited.err
    assert cli.provider.hits["/organization/costs"] == 3  # the refused poll asked nothing
    assert _stored(cli) == (0, 0)  # no duplicate, no failed endpoint


def test_first_starts_on_an_empty_database_migrate_once(cli_any_db: Cli) -> None:
    cli = cli_any_db
    processes = [cli.start("credits", "--json") for _ in range(4)]
    results = [(process.wait(120), *process.communicate()) for process in processes]
    for code, out, err in results:
        assert code == 0 and "Traceback" not in err, err
        assert '"balance_usd"' in out
    engine = make_engine(cli.database_url)
    try:
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    finally:
        engine.dispose()
    assert len(versions) == 1


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


def test_aispend_poll_beside_serve_takes_turns(
    cli_any_db: Cli, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    cli = cli_any_db
    _slow_costs(cli)
    for name, value in cli.environ(
        {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": fake_slack.api_url}
    ).items():
        monkeypatch.setenv(name, value)
    runtime = build_runtime(Settings(), load_config(cli.config))

    # serve's scheduled poll while `aispend poll` runs in another process: skipped, one line.
    outside = cli.start("poll")
    _until(_costs_asked(cli, 1), "aispend poll to be under way")
    with caplog.at_level(logging.WARNING, logger="aispend.serve"):
        assert runtime.poll() is None
    skipped = [r.getMessage() for r in caplog.records if r.name == "aispend.serve"]
    assert len(skipped) == 1 and BUSY in skipped[0]
    assert runtime.metrics.value("aispend_polls_skipped_total") == 1
    assert outside.wait(60) == 0, outside.communicate()

    # `aispend poll` while serve's poll runs: refused in one line; serve's poll is unharmed.
    done: list[PollSummary | None] = []
    job = threading.Thread(target=lambda: done.append(runtime.poll()))
    job.start()
    _until(_costs_asked(cli, 2), "serve's poll to be under way")
    refused = cli.run("poll")
    job.join(60)
    assert refused.code == 1 and BUSY in refused.err and len(refused.err.strip().splitlines()) == 1
    assert done and done[0] is not None and done[0].ok, done
    assert _stored(cli) == (0, 0)
    runtime.lock.release()


def test_the_lock_is_per_database_and_schema(cli: Cli, tmp_path: Path) -> None:
    """A poll on another database is not blocked (the lock is not machine-wide)."""
    _slow_costs(cli)
    first = cli.start("poll")
    _until(_costs_asked(cli, 1), "the first poll to be under way")
    other = cli.run("poll", extra={"DATABASE_URL": f"sqlite:///{tmp_path / 'other.db'}"})
    assert other.code == 0, other.err
    assert first.wait(60) == 0


def test_serve_keeps_a_polls_budget_inside_the_poll_interval(
    cli: Cli, fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With max_instances=1 a poll longer than the interval would make the next one be skipped."""
    cli.limits["AISPEND_POLL_SECONDS"] = "100000"
    for name, value in cli.environ(
        {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": fake_slack.api_url}
    ).items():
        monkeypatch.setenv(name, value)
    config = load_config(cli.config)
    runtime = build_runtime(Settings(), config)
    assert runtime.poller is not None
    assert runtime.poller.limits.poll_seconds == pytest.approx(config.poll_interval_minutes * 60 * 0.9)
    job = runtime.scheduler.get_job("poll")
    assert job is not None and job.max_instances == 1
