"""Shared fixtures: a migrated store on SQLite and on PostgreSQL.

PostgreSQL tests run in a schema of their own (dropped afterwards), so parallel runs and earlier
runs never see each other's rows. Locally they skip when no server answers; under ``CI=true``
they must run, so an unreachable server fails them instead.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine

from aispend.store.engine import make_engine, migrate
from tests.pg import pg_problem, pg_schema

# Property tests check behaviour, not speed: a loaded 2-core CI machine must not turn a slow
# example into a failure (speed lives in bench/).
settings.register_profile("aispend", deadline=None)
settings.load_profile("aispend")

PG_ADMIN_URL = os.environ.get("AISPEND_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    problem = pg_problem(PG_ADMIN_URL)
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL must be reachable under CI=true ({PG_ADMIN_URL}): {problem}")
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL}: {problem}")
    yield PG_ADMIN_URL


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty, not yet migrated database, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aispend.db'}"
        return
    admin_url: str = request.getfixturevalue("pg_url")
    with pg_schema(admin_url) as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated store on each backend."""
    store = make_engine(db_url)
    migrate(store)
    try:
        yield store
    finally:
        store.dispose()
