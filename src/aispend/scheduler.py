"""APScheduler wiring and the leader lock.

Jobs are plain functions so tests call them directly with a fake clock; this module only
registers them. With several replicas on PostgreSQL only the holder of a session-level advisory
lock runs scheduled work (peers that each poll and alert on their own produced one copy of every
message per pod); on SQLite there is a single process by construction.

Takeover: PostgreSQL releases a session's advisory lock as soon as its connection ends, which a
killed process's connection does at once (the kernel closes its socket). Every replica that does
not lead tries the lock again every ``leader_retry`` (at most one poll interval) and, when it
gets it, polls at once; so a dead leader's work resumes within one interval (README: Production,
Replicas).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import InterfaceError, OperationalError

from aispend.clock import utcnow
from aispend.config import Config
from aispend.store.locks import advisory_key

log = logging.getLogger(__name__)

LEADER_LOCK_ID = 0x616973706E64  # "aispnd": one constant for every replica of this app
DIGEST_MISFIRE_GRACE = 6 * 3600  # a scheduler that was busy or paused still posts within hours
LEADER_RETRY = timedelta(seconds=30)
"""How often a replica that does not lead tries to take over (capped at the poll interval)."""


class LeaderLock:
    """Holds ``pg_try_advisory_lock`` on a dedicated connection while this process leads.

    Advisory locks are per database, not per schema, so the key is derived from the store's
    database and schema (``store.locks.advisory_key``): two deployments in two schemas of one
    database elect a leader each.
    """

    def __init__(
        self,
        engine: Engine,
        key: int = LEADER_LOCK_ID,
        *,
        on_change: Callable[[bool], None] = lambda _leads: None,
    ) -> None:
        self._engine = engine
        self._key = key
        self._on_change = on_change  # e.g. the aispend_leader gauge
        self._conn: Connection | None = None
        self._held_key = key
        self._mutex = threading.Lock()

    @property
    def needed(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    @property
    def held(self) -> bool:
        """True while this process holds the lock (as far as it knows: :meth:`acquire` checks)."""
        return not self.needed or self._conn is not None

    def acquire(self) -> bool:
        """True when this process is (or just became) the leader; cheap to call before each job."""
        if not self.needed:
            return True
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))
                    self._conn.commit()  # never left "idle in transaction"
                    return True
                except Exception:  # the connection died and the lock with it
                    log.warning("lost the leader connection; trying to lead again")
                    self._drop()
            conn = self._engine.connect()
            try:
                key = self._schema_key(conn)
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": key}).scalar())
                conn.commit()
            except Exception:
                conn.close()
                raise
            if got:
                self._conn = conn
                self._held_key = key
                log.info("this replica leads the scheduled jobs")
                self._on_change(True)
                return True
            conn.close()
            return False

    def _schema_key(self, conn: Connection) -> int:
        return advisory_key(conn, f"leader:{self._key}")

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # closing a dead connection may fail too; it is gone either way
                pass
            finally:
                self._conn = None
                self._on_change(False)

    def release(self) -> None:
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self._held_key})
                    self._conn.commit()
                except Exception as exc:  # a dead connection released the lock already
                    log.info("leader lock released with its connection (%s)", first_line(exc))
                finally:
                    self._drop()


def leader_only(lock: LeaderLock, job: Callable[[], object], name: str) -> Callable[[], None]:
    """Run ``job`` only on the leader; log and swallow errors so the schedule keeps going."""

    def run() -> None:
        try:
            leads = lock.acquire()
        except Exception as exc:  # the database is down: the next run tries again
            log.warning(
                "%s skipped: cannot reach the database for the leader lock (%s)", name, first_line(exc)
            )
            return
        if not leads:
            log.debug("%s skipped: another replica leads", name)
            return
        try:
            job()
        except DB_DOWN as exc:  # an outage is an expected state: one line, the next run retries
            log.warning("scheduled job %s stopped: the database is unavailable (%s)", name, first_line(exc))
        except Exception:
            log.exception("scheduled job %s failed", name)

    run.__name__ = name
    return run


DB_DOWN = (OperationalError, InterfaceError)
"""What SQLAlchemy raises when the database is down, restarting or unreachable."""


def first_line(exc: BaseException) -> str:
    """The driver's own message, first line only (SQLAlchemy appends the statement and a link)."""
    cause = getattr(exc, "orig", None) or exc
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def standby(lock: LeaderLock, take_over: Callable[[], None]) -> Callable[[], None]:
    """The job every replica runs every ``leader_retry``: try the lock; on becoming the leader,
    ``take_over`` (poll at once). The leader's run checks that its lock connection is alive."""

    def run() -> None:
        was = lock.held
        try:
            leads = lock.acquire()
        except Exception as exc:
            log.warning("leader check: cannot reach the database (%s)", first_line(exc))
            leads = False
        if leads != was:
            if leads:
                log.info("took over the scheduled jobs: polling now")
                take_over()
            else:
                log.warning("no longer the leader: another replica runs the scheduled jobs")
        elif not leads:
            log.debug("leader check: another replica leads")

    run.__name__ = "leader"
    return run


def build_scheduler(
    config: Config,
    *,
    poll: Callable[[], object] | None,
    lock: LeaderLock,
    clock: Callable[[], datetime] = utcnow,
    digest: Callable[[], object] | None = None,
    leader_retry: timedelta = LEADER_RETRY,
) -> BackgroundScheduler:
    """The poll job every ``poll_interval_minutes`` (first run at start), and the weekly digest
    at ``digest.weekday``/``digest.time``, both in the team's zone and both leader-only.

    The digest job also runs once at start when there is no poll job (with one, the poll job
    checks for a due digest after each poll, which covers the start-up catch-up with fresh data).

    Where a leader is elected (PostgreSQL), a ``leader`` job runs every ``leader_retry`` (never
    less often than once per poll interval) so a replica takes over from a dead leader at once
    instead of at its own next poll.
    """
    scheduler = BackgroundScheduler(timezone=config.tz)
    if poll is not None:
        scheduler.add_job(
            leader_only(lock, poll, "poll"),
            IntervalTrigger(minutes=config.poll_interval_minutes, timezone=config.tz),
            id="poll",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=config.poll_interval_minutes * 60,
            next_run_time=clock(),
        )
    if digest is not None and config.digest is not None:
        at = config.digest.at
        scheduler.add_job(
            leader_only(lock, digest, "weekly_digest"),
            CronTrigger(
                day_of_week=config.digest.weekday, hour=at.hour, minute=at.minute, timezone=config.tz
            ),
            id="weekly_digest",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=DIGEST_MISFIRE_GRACE,
        )
        if poll is None:
            scheduler.add_job(
                leader_only(lock, digest, "weekly_digest_catch_up"),
                id="weekly_digest_catch_up",
                replace_existing=True,
                next_run_time=clock(),
            )
    if lock.needed and poll is not None:
        every = min(leader_retry, timedelta(minutes=config.poll_interval_minutes))

        def poll_now() -> None:
            scheduler.modify_job("poll", next_run_time=clock())

        scheduler.add_job(
            standby(lock, poll_now),
            IntervalTrigger(seconds=every.total_seconds(), timezone=config.tz),
            id="leader",
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            next_run_time=clock() + every,
        )
    return scheduler
