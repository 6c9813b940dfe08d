"""The App Home audience in the database: shared by every replica, forgotten after 90 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from aispend.reader import StoreUnavailable
from aispend.store.audience import FORGET_AFTER, StoreHomeAudience
from aispend.store.engine import make_engine
from aispend.store.guard import CallGuard

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_a_visit_on_one_replica_is_seen_by_another(engine: Engine) -> None:
    now = [T0]
    other_engine = make_engine(str(engine.url.render_as_string(hide_password=False)))
    guard = CallGuard()
    first = StoreHomeAudience(engine, guard, clock=lambda: now[0])
    second = StoreHomeAudience(other_engine, guard, clock=lambda: now[0])
    try:
        assert first.users() == ()
        first.add("U0B")
        second.add("U0A")
        first.add("U0B")  # a repeat visit is one row, not two
        assert second.users() == ("U0A", "U0B")
        assert first.users() == ("U0A", "U0B")
    finally:
        other_engine.dispose()


def test_users_who_have_not_visited_for_90_days_are_not_republished(engine: Engine) -> None:
    now = [T0]
    homes = StoreHomeAudience(engine, CallGuard(), clock=lambda: now[0])
    homes.add("U0OLD")
    now[0] = T0 + FORGET_AFTER - timedelta(days=1)
    homes.add("U0NEW")
    assert homes.users() == ("U0NEW", "U0OLD")
    now[0] = T0 + FORGET_AFTER + timedelta(seconds=1)
    assert homes.users() == ("U0NEW",)
    homes.add("U0OLD")  # their next visit brings them back
    assert homes.users() == ("U0NEW", "U0OLD")


def test_a_database_that_refuses_makes_a_visit_store_unavailable(tmp_path: object) -> None:
    broken = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")
    homes = StoreHomeAudience(broken, CallGuard(timeout=3.0))
    with pytest.raises(StoreUnavailable):
        homes.add("U0A")
