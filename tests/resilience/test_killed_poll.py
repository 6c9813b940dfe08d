"""A poll killed with SIGKILL in the middle of a database write, then run again: exact totals.

Each endpoint's window is written in one transaction, so the write the kill interrupts is rolled
back by PostgreSQL as a whole, and the next poll replaces every window again (idempotent): the
stored money equals the simulated providers' to the nano-dollar, and the rollups equal the rows.
The kill is aimed: the test watches ``pg_stat_activity`` for the poll's session (``PGAPPNAME``)
running a write and kills the process right then.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from aispend.clock import utcnow
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.store.engine import make_engine, open_store
from aispend.store.models import OpenAICostDaily, OpenRouterActivityDaily, SpendDay
from tests.conftest import PG_ADMIN_URL
from tests.hostile.conftest import Cli

NANOS = Decimal(1_000_000_000)
WRITES = ("INSERT", "UPDATE", "DELETE")
SPEND_TABLES = (
    "openai_cost_daily",
    "openai_usage_daily",
    "openrouter_activity_daily",
    "spend_day",
    "spend_month",
)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.generate(utcnow().date(), projects=40, line_items=8, openrouter_keys=20)


@pytest.fixture
def providers(dataset: Dataset) -> Iterator[SimulatedProviders]:
    with SimulatedProviders(dataset) as running:
        yield running


def _sum(engine: Engine, column: Any, *where: Any) -> Decimal:
    query = select(func.coalesce(func.sum(column), 0)).where(*where)
    with engine.connect() as conn:
        return Decimal(int(conn.execute(query).scalar_one())) / NANOS


def _kill_during_a_write(cli: Cli, app_name: str) -> str:
    """Start ``aispend poll``; SIGKILL it while its session runs a write. Returns that statement."""
    watcher = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    process = cli.start("poll", extra={"PGAPPNAME": app_name})
    try:
        deadline = time.monotonic() + 60
        with watcher.connect() as conn:
            while process.poll() is None and time.monotonic() < deadline:
                query = conn.execute(
                    text(
                        "SELECT query FROM pg_stat_activity WHERE application_name = :name "
                        "AND state = 'active'"
                    ),
                    {"name": app_name},
                ).scalar()
                if (
                    query is not None
                    and query.lstrip().upper().startswith(WRITES)
                    and any(table in query for table in SPEND_TABLES)
                ):
                    os.kill(process.pid, signal.SIGKILL)
                    process.wait(10)
                    return str(query)
        raise AssertionError(
            f"no write seen before the poll ended ({process.poll()}): {process.communicate()}"
        )
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        watcher.dispose()


def test_a_poll_killed_mid_write_then_run_again_stores_exact_totals(
    providers: SimulatedProviders, dataset: Dataset, pg_store: str, tmp_path: Path
) -> None:
    config = tmp_path / "aispend.yaml"
    config.write_text("timezone: UTC\nbackfill_days: 90\nprojects:\n  - name: search\n    owner: U0OWNER\n")
    cli = Cli(provider=providers, database_url=pg_store, config=config, limits={})  # type: ignore[arg-type]
    open_store(pg_store).dispose()  # migrated first: the kill must land in a spend write
    killed_in = _kill_during_a_write(cli, f"aispend_kill_{uuid.uuid4().hex[:8]}")

    engine = make_engine(pg_store)
    today = utcnow().date()
    openai = dataset.openai_cost_total(dataset.first_day, today + timedelta(days=1))
    try:
        assert _sum(engine, OpenAICostDaily.amount_nanos) != openai  # the kill did cut the write short
    finally:
        engine.dispose()

    run = cli.run("poll", timeout=120)
    assert run.code == 0, run.out + run.err

    engine = make_engine(pg_store)
    try:
        assert _sum(engine, OpenAICostDaily.amount_nanos) == openai, killed_in
        openrouter = dataset.openrouter_usage_total(*dataset.activity_window)
        assert _sum(engine, OpenRouterActivityDaily.usage_nanos) == openrouter, killed_in
        # the day rollup equals the rows it sums (nothing of the killed transaction survived)
        assert _sum(engine, SpendDay.amount_nanos, SpendDay.provider == "openai") == openai, killed_in
    finally:
        engine.dispose()
