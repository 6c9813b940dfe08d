"""Database-wide locks: one poll at a time, one migration at a time, across processes.

``aispend poll`` run by cron beside another one, or beside ``aispend serve``, wrote the same
windows at once (unique-key violations, an endpoint lost for that poll), and two processes
starting on a fresh database raced through the migrations. The leader lock in
``aispend.scheduler`` only elects one scheduler among replicas; these locks cover every process.

* PostgreSQL: advisory locks, session-level for a poll (held on a dedicated connection for the
  poll's duration, released by the server if the process dies) and transaction-level around the
  migrations. Keys are derived from the database *and schema* name, so two installations sharing
  one server (or parallel test schemas) never block each other.
* SQLite file: an exclusive ``flock`` on a file beside the database (``aispend.db.poll.lock``),
  released by the kernel when the process exits, however it exits. Hand-written on
  :mod:`fcntl` (a dozen lines) rather than adding a dependency for it.
* SQLite in memory: one process by construction; nothing to lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

_RETRY_EVERY = 0.2  # seconds between attempts while waiting for a lock


class PollBusy(Exception):
    """Another process is polling this database; the message says so in one line."""


def advisory_key(connection: Connection, name: str) -> int:
    """A signed 64-bit advisory-lock key for ``name`` in this database and schema."""
    database, schema = connection.execute(text("SELECT current_database(), current_schema()")).one()
    digest = hashlib.blake2b(f"aispend:{name}:{database}:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _sqlite_file(engine: Engine) -> str | None:
    """The database file of a file-backed SQLite engine, None for memory or another backend."""
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if database in (None, "", ":memory:") or (database or "").startswith("file::memory:"):
        return None
    return database


class _FileLock:
    """An exclusive ``flock`` on ``path`` (created if missing), tried until ``wait`` runs out."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait: float | None) -> bool:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = None if wait is None else time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if deadline is not None and time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(_RETRY_EVERY)
                continue
            self._fd = fd
            return True

    def describe(self, holder: str) -> None:
        """Write who holds the lock into the file, for the message a refused poll prints."""
        assert self._fd is not None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, holder.encode(), 0)

    def holder(self) -> str:
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                return handle.read(200).strip()
        except OSError:
            return ""

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None


class PollLock:
    """At most one poll per database at a time, whichever process runs it."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def hold(self, wait: float = 0.0) -> Iterator[None]:
        """Hold the lock for the block, waiting up to ``wait`` seconds; :class:`PollBusy` if not."""
        if self._engine.dialect.name == "postgresql":
            with self._postgres(wait):
                yield
            return
        path = _sqlite_file(self._engine)
        if path is None:
            yield
            return
        lock = _FileLock(f"{path}.poll.lock")
        if not lock.acquire(wait):
            holder = lock.holder()
            raise PollBusy(_busy_message(f" ({holder})" if holder else "", wait))
        try:
            lock.describe(f"pid {os.getpid()}, since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC")
            yield
        finally:
            lock.release()

    @contextmanager
    def _postgres(self, wait: float) -> Iterator[None]:
        connection = self._engine.connect()
        try:
            key = advisory_key(connection, "poll")
            deadline = time.monotonic() + wait
            while not connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar():
                connection.commit()
                if time.monotonic() >= deadline:
                    raise PollBusy(_busy_message("", wait))
                time.sleep(_RETRY_EVERY)
            connection.commit()
            try:
                yield
            finally:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
                    connection.commit()
                except Exception:  # the connection died: the server released the lock with it
                    log.warning("could not release the poll lock explicitly; the server drops it")
        finally:
            connection.close()


def _busy_message(holder: str, wait: float) -> str:
    waited = f" after waiting {wait:g} s" if wait > 0 else ""
    return (
        f"another poll is already running on this database{holder}; not polling{waited} "
        "(its results will be there when it ends; aispend poll --wait SECONDS waits for it)"
    )


@contextmanager
def migrating(connection: Connection) -> Iterator[None]:
    """A transaction on ``connection`` in which only this process migrates; others wait, then
    find the schema current.

    On PostgreSQL the advisory lock is the transaction's own (it ends with the commit); on SQLite
    the file lock is held until after the commit, so no process reads a half-upgraded version.
    """
    engine = connection.engine
    path = _sqlite_file(engine)
    lock = _FileLock(f"{path}.migrate.lock") if path is not None else None
    if lock is not None:
        lock.acquire(None)
    try:
        with connection.begin():
            if engine.dialect.name == "postgresql":
                key = advisory_key(connection, "migrate")
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            yield
    finally:
        if lock is not None:
            lock.release()
