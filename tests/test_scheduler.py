"""Scheduler wiring and the PostgreSQL leader lock (jobs are plain functions, called directly)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine

from aispend.config import parse_config
from aispend.scheduler import LeaderLock, build_scheduler, leader_only
from aispend.store.engine import make_engine


def test_poll_job_is_registered_on_the_configured_interval(engine: Engine) -> None:
    config = parse_config({"poll_interval_minutes": 10, "timezone": "Europe/Berlin"})
    calls: list[int] = []
    lock = LeaderLock(engine, key=random.getrandbits(48))
    scheduler = build_scheduler(
        config,
        poll=lambda: calls.append(1),
        lock=lock,
        clock=lambda: datetime(2026, 1, 1, tzinfo=UTC),
    )
    job = scheduler.get_job("poll")
    assert job is not None
    assert isinstance(job.trigger, IntervalTrigger)
    assert job.trigger.interval.total_seconds() == 600
    assert job.max_instances == 1 and job.coalesce is True
    try:
        job.func()
    finally:
        lock.release()
    assert calls == [1]


def test_a_failing_job_does_not_escape(engine: Engine) -> None:
    def boom() -> None:
        raise RuntimeError("provider down")

    lock = LeaderLock(engine, key=random.getrandbits(48))
    try:
        leader_only(lock, boom, "poll")()  # logged, not raised
    finally:
        lock.release()


def test_only_one_replica_leads_on_postgresql(pg_url: str) -> None:
    first = make_engine(pg_url)
    second = make_engine(pg_url)
    key = random.getrandbits(48)  # parallel test runs on the same server must not contend
    a, b = LeaderLock(first, key), LeaderLock(second, key)
    try:
        assert a.acquire() is True
        assert a.acquire() is True  # re-entrant for the leader
        assert b.acquire() is False
        ran: list[str] = []
        leader_only(b, lambda: ran.append("b"), "poll")()
        assert ran == []
        a.release()
        assert b.acquire() is True
    finally:
        a.release()
        b.release()
        first.dispose()
        second.dispose()


@pytest.mark.parametrize("url", ["sqlite://"])
def test_sqlite_needs_no_lock(url: str) -> None:
    assert LeaderLock(make_engine(url)).acquire() is True
