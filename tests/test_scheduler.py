"""Scheduler wiring and the PostgreSQL leader lock (jobs are plain functions, called directly)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine, text

from aispend.config import parse_config
from aispend.scheduler import LeaderLock, build_scheduler, leader_only, standby
from aispend.store.engine import make_engine
from tests.pg import pg_schema


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


def test_a_standby_takes_over_as_soon_as_the_leader_is_gone(pg_url: str) -> None:
    key = random.getrandbits(48)
    name = f"aispend_leader_{key}"
    first, second = make_engine(f"{pg_url}?application_name={name}"), make_engine(pg_url)
    changes: list[bool] = []
    leader = LeaderLock(first, key)
    follower = LeaderLock(second, key, on_change=changes.append)
    took_over: list[int] = []
    check = standby(follower, lambda: took_over.append(1))
    try:
        assert leader.acquire() is True
        check()
        assert took_over == [] and follower.held is False and changes == []
        with second.begin() as conn:  # the leader's session ends, as when its process is killed
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :n"),
                {"n": name},
            )
        leader = LeaderLock(make_engine(pg_url), key)
        check()
        assert took_over == [1] and follower.held is True and changes == [True]
        check()  # still the leader: no second take-over
        assert took_over == [1]
        assert leader.acquire() is False
    finally:
        follower.release()
        second.dispose()
        first.dispose()
    assert changes == [True, False]


def test_two_schemas_of_one_database_elect_a_leader_each(pg_url: str) -> None:
    key = random.getrandbits(48)
    with pg_schema(pg_url) as one, pg_schema(pg_url) as two:
        engines = [make_engine(one), make_engine(two), make_engine(one)]
        locks = [LeaderLock(engine, key) for engine in engines]
        try:
            assert [lock.acquire() for lock in locks] == [True, True, False]
        finally:
            for lock, engine in zip(locks, engines, strict=True):
                lock.release()
                engine.dispose()


def test_the_standby_job_runs_at_most_one_poll_interval_apart(pg_url: str) -> None:
    config = parse_config({"poll_interval_minutes": 1})
    engine = make_engine(pg_url)
    try:
        lock = LeaderLock(engine, key=random.getrandbits(48))
        for retry, expected in ((timedelta(seconds=5), 5), (timedelta(minutes=10), 60)):
            scheduler = build_scheduler(config, poll=lambda: None, lock=lock, leader_retry=retry)
            job = scheduler.get_job("leader")
            assert job is not None and job.trigger.interval.total_seconds() == expected
    finally:
        engine.dispose()


def test_sqlite_has_no_standby_job(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'one.db'}")
    scheduler = build_scheduler(parse_config({}), poll=lambda: None, lock=LeaderLock(engine))
    assert scheduler.get_job("leader") is None
