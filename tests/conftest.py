"""Shared fixtures: a migrated store on SQLite and on PostgreSQL.

PostgreSQL tests run in a schema of their own (dropped afterwards), so parallel runs and earlier
runs never see each other's rows. Locally they skip when no server answers; under ``CI=true``
they must run, so an unreachable server fails them instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from sqlalchemy import Engine, create_engine, text

from aispend.store.engine import make_engine, migrate

# Property tests check behaviour, not speed: a loaded 2-core CI machine must not turn a slow
# example into a failure (speed lives in bench/).
settings.register_profile("aispend", deadline=None)
settings.load_profile("aispend")

PG_ADMIN_URL = os.environ.get("AISPEND_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _pg_available() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"{type(exc).__name__}: {exc}"


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    problem = _pg_available()
    if problem is not None:
        if IN_CI:
            pytest.fail(f"PostgreSQL must be reachable under CI=true ({PG_ADMIN_URL}): {problem}")
        pytest.skip(f"no PostgreSQL at {PG_ADMIN_URL}: {problem}")
    yield PG_ADMIN_URL


def _pg_schema_engine(admin_url: str) -> tuple[Engine, Engine, str]:
    schema = f"aispend_t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine = make_engine(f"{admin_url}?options=-csearch_path%3D{schema}")
    return admin, engine, schema


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database URL for an empty, not yet migrated database, on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'aispend.db'}"
        return
    admin_url: str = request.getfixturevalue("pg_url")
    admin, engine, schema = _pg_schema_engine(admin_url)
    engine.dispose()
    try:
        yield f"{admin_url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated store on each backend."""
    store = make_engine(db_url)
    migrate(store)
    try:
        yield store
    finally:
        store.dispose()
