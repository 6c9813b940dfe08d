"""APScheduler wiring and the leader lock.

Jobs are plain functions so tests call them directly with a fake clock; this module only
registers them. With several replicas on PostgreSQL only the holder of a session-level advisory
lock runs scheduled work (peers that each poll and alert on their own produced one copy of every
message per pod); on SQLite there is a single process by construction.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Connection, Engine, text

from aispend.clock import utcnow
from aispend.config import Config

log = logging.getLogger(__name__)

LEADER_LOCK_ID = 0x616973706E64  # "aispnd": one constant for every replica of this app
DIGEST_MISFIRE_GRACE = 6 * 3600  # a scheduler that was busy or paused still posts within hours


class LeaderLock:
    """Holds ``pg_try_advisory_lock`` on a dedicated connection while this process leads."""

    def __init__(self, engine: Engine, key: int = LEADER_LOCK_ID) -> None:
        self._engine = engine
        self._key = key
        self._conn: Connection | None = None
        self._mutex = threading.Lock()

    @property
    def needed(self) -> bool:
        return self._engine.dialect.name == "postgresql"

    def acquire(self) -> bool:
        """True when this process is (or just became) the leader; cheap to call before each job."""
        if not self.needed:
            return True
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT 1"))
                    return True
                except Exception:  # the connection died and the lock with it
                    log.warning("lost the leader connection; trying to lead again")
                    self._drop()
            conn = self._engine.connect()
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": self._key}).scalar())
            conn.commit()
            if got:
                self._conn = conn
                log.info("this replica leads the scheduled jobs")
                return True
            conn.close()
            return False

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def release(self) -> None:
        with self._mutex:
            if self._conn is not None:
                try:
                    self._conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self._key})
                    self._conn.commit()
                finally:
                    self._drop()


def leader_only(lock: LeaderLock, job: Callable[[], object], name: str) -> Callable[[], None]:
    """Run ``job`` only on the leader; log and swallow errors so the schedule keeps going."""

    def run() -> None:
        if not lock.acquire():
            log.debug("%s skipped: another replica leads", name)
            return
        try:
            job()
        except Exception:
            log.exception("scheduled job %s failed", name)

    run.__name__ = name
    return run


def build_scheduler(
    config: Config,
    *,
    poll: Callable[[], object] | None,
    lock: LeaderLock,
    clock: Callable[[], datetime] = utcnow,
    digest: Callable[[], object] | None = None,
) -> BackgroundScheduler:
    """The poll job every ``poll_interval_minutes`` (first run at start), and the weekly digest
    at ``digest.weekday``/``digest.time``, both in the team's zone and both leader-only.

    The digest job also runs once at start when there is no poll job (with one, the poll job
    checks for a due digest after each poll, which covers the start-up catch-up with fresh data).
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
    return scheduler
