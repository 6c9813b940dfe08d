"""Engine creation and automatic migrations (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import StaticPool
from sqlmodel import Session

from aispend.store.locks import migrating

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(Exception):
    """The database URL is invalid or the database cannot be reached or migrated."""


class StoreConfigError(StoreError):
    """``DATABASE_URL`` itself is wrong (not a URL, or a database driver that is not available):
    a configuration problem, not an outage, so the CLI exits with code 2."""


_URL_HELP = "use sqlite:///path/to/aispend.db or postgresql+psycopg://user@host/dbname"


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long one database path may wait, so a slow or hung database fails it instead of
    blocking it forever.

    ``connect``: establishing a connection (PostgreSQL ``connect_timeout``; libpq and psycopg
    round anything under 2 s up to 2 s). ``statement`` and ``lock``: PostgreSQL
    ``statement_timeout`` and ``lock_timeout``, enforced by the server. ``busy``: how long SQLite
    waits for another writer's lock. ``pool``: how long to wait for a free pooled connection.
    A server that is frozen (not down) enforces nothing, so request paths also bound each call
    from outside (``aispend.store.guard``).
    """

    connect: int
    statement: float
    lock: float
    busy: float
    pool: float


# Polls and migrations: big window writes may legitimately take a while, but never forever.
BACKGROUND = Timeouts(connect=10, statement=120.0, lock=30.0, busy=30.0, pool=30.0)
# Slack answers and /healthz: everything must be over well inside Slack's 3-second ack.
REQUEST = Timeouts(connect=2, statement=1.5, lock=1.0, busy=1.0, pool=1.0)


def make_engine(url: str, *, timeouts: Timeouts = BACKGROUND) -> Engine:
    """Create an engine with ``timeouts`` on every path (connect, statement, lock, pool).

    SQLite gets WAL, foreign keys and a busy timeout for concurrent readers; PostgreSQL gets TCP
    keepalives too, so a connection to a vanished server is noticed without waiting for the OS.
    Options already in the URL (``?options=-c…``, ``?connect_timeout=…``) are kept and win.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # the message repeats the URL, password included: leave it out
        raise StoreConfigError(f"DATABASE_URL is not a database URL: {_URL_HELP}") from None
    kwargs: dict[str, Any] = {"pool_timeout": timeouts.pool}
    if parsed.get_backend_name() == "sqlite":
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": timeouts.busy}
        if parsed.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
            del kwargs["pool_timeout"]
    else:
        kwargs["pool_pre_ping"] = True
        if parsed.get_backend_name() == "postgresql":
            parsed, kwargs["connect_args"] = _postgres_timeouts(parsed, timeouts)
    try:
        engine = create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError) as exc:
        missing = f" (Python module {exc.name} is not installed)" if isinstance(exc, ImportError) else ""
        raise StoreConfigError(
            f"DATABASE_URL names the database driver {parsed.drivername!r}, which is not available"
            f"{missing}: {_URL_HELP}"
        ) from None
    if parsed.get_backend_name() == "sqlite":

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if parsed.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

    return engine


def _postgres_timeouts(url: URL, timeouts: Timeouts) -> tuple[URL, dict[str, Any]]:
    """Server-side timeouts as ``-c`` options before the URL's own (later ones win in libpq)."""
    ours = (
        f"-c statement_timeout={int(timeouts.statement * 1000)} -c lock_timeout={int(timeouts.lock * 1000)}"
    )
    theirs = url.query.get("options")
    given = " ".join(theirs) if isinstance(theirs, tuple) else theirs
    url = url.update_query_dict({"options": f"{ours} {given}" if given else ours})
    connect_args: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10}
    connect_args["keepalives_count"] = 3
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = timeouts.connect
    return url, connect_args


def alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest revision (run on every start; a no-op when current)."""
    cfg = alembic_config()
    where = engine.url.set(query={}).render_as_string(hide_password=True)  # our timeouts are noise here
    try:
        connection = engine.connect()
    except Exception as exc:  # down, unreachable or refusing us: one line, what to check or set
        check = (
            "check that its directory exists and is writable"
            if engine.url.get_backend_name() == "sqlite"
            else "check that it is running and reachable"
        )
        raise StoreError(
            f"cannot reach the database {where}: {_first_line(exc)}; {check}, or set DATABASE_URL"
        ) from exc
    try:
        # One process at a time (two starting on a fresh database raced through the revisions).
        with connection, migrating(connection):
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
    except Exception as exc:
        raise StoreError(f"cannot migrate the database {where}: {_first_line(exc)}") from exc


def _first_line(exc: Exception) -> str:
    """The driver's own message, first line only (SQLAlchemy appends hints and a link)."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0]}" if lines else type(cause).__name__


def open_store(url: str) -> Engine:
    """Engine with the schema migrated: what every command starts with."""
    engine = make_engine(url)
    migrate(engine)
    return engine


@functools.cache
def _code_heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


def schema_is_current(engine: Engine) -> bool:
    """True when the database is at this release's Alembic head (not behind, not ahead).

    A replica of an older release sharing a database a newer one migrated (or the reverse
    during a rollout) must not answer from a schema it does not know: ``/readyz`` says so.
    """
    with engine.connect() as connection:
        current = frozenset(MigrationContext.configure(connection).get_current_heads())
    return current == _code_heads()


def ping(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # an outage is an expected state: one line, not a traceback
        cause = getattr(exc, "orig", None) or exc
        detail = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        log.warning("database ping failed: %s: %s", type(cause).__name__, detail)
        return False


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
