"""PostgreSQL for tests and benchmarks: is the server there, and a throwaway schema on it.

Each run works in a schema of its own (dropped afterwards), so parallel runs and earlier runs
never see each other's rows, and the shared server is never reconfigured.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, text


def pg_problem(url: str) -> str | None:
    """None when PostgreSQL answers at ``url``, else why not."""
    try:
        engine = create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # pragma: no cover - depends on the machine
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


@contextmanager
def pg_schema(url: str, prefix: str = "aispend_t") -> Iterator[str]:
    """A fresh schema (dropped afterwards); yields the store URL whose search path is that schema."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
