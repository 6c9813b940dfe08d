"""``CallGuard``: deadlines on store calls, fail-fast while a call hangs, probing, recovery."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from aispend.reader import StoreUnavailable
from aispend.store.engine import REQUEST, make_engine
from aispend.store.guard import CallGuard


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_hanging_call_misses_its_deadline_and_later_calls_fail_fast() -> None:
    clock = FakeClock()
    guard = CallGuard(timeout=0.2, workers=2, retry_after=5.0, clock=clock)
    release = threading.Event()
    with pytest.raises(StoreUnavailable, match="did not answer"):
        guard.call(release.wait)
    assert guard.stuck == 1
    ran: list[int] = []
    with pytest.raises(StoreUnavailable, match="still hanging"):
        guard.call(lambda: ran.append(1))
    assert ran == []  # refused without running
    clock.now = 6.0  # past retry_after: one probe goes through (and answers)
    assert guard.call(lambda: 42) == 42
    with pytest.raises(StoreUnavailable):  # the next one is refused again until the next probe
        guard.call(lambda: 43)
    release.set()
    deadline = time.monotonic() + 5
    while guard.stuck and time.monotonic() < deadline:
        time.sleep(0.01)
    assert guard.stuck == 0
    assert guard.call(lambda: 44) == 44
    guard.close()


def test_budget_bounds_every_call_in_the_block() -> None:
    clock = FakeClock()
    guard = CallGuard(timeout=1.0, clock=clock)
    with guard.budget(2.0):
        assert guard.call(lambda: "a") == "a"
        clock.now = 2.5
        with pytest.raises(StoreUnavailable, match="no time left"):
            guard.call(lambda: "b")
    assert guard.call(lambda: "c") == "c"  # outside the block: the default deadline again
    guard.close()


def test_database_errors_become_store_unavailable_and_bugs_do_not() -> None:
    guard = CallGuard(timeout=1.0)

    def refused() -> None:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    with pytest.raises(StoreUnavailable, match="refused"):
        guard.call(refused)
    with pytest.raises(ZeroDivisionError):
        guard.call(lambda: 1 // 0)
    assert guard.stuck == 0
    guard.close()


def test_async_calls_are_bounded_too() -> None:
    guard = CallGuard(timeout=0.2)
    release = threading.Event()

    async def scenario() -> None:
        assert await guard.acall(lambda: 7) == 7
        with pytest.raises(StoreUnavailable):
            await guard.acall(release.wait, timeout=0.1)

    asyncio.run(scenario())
    assert guard.stuck == 1
    release.set()
    guard.close()


def test_request_engines_carry_server_side_timeouts(db_url: str) -> None:
    fast = make_engine(db_url, timeouts=REQUEST)
    try:
        with fast.connect() as connection:
            if fast.dialect.name == "postgresql":
                assert connection.execute(text("SHOW statement_timeout")).scalar() == "1500ms"
                assert connection.execute(text("SHOW lock_timeout")).scalar() == "1s"
                # the URL's own options (here the test schema) are kept
                schema = db_url.rsplit("search_path%3D", 1)[-1]
                assert connection.execute(text("SHOW search_path")).scalar() == schema
                with pytest.raises(OperationalError, match="statement timeout"):
                    connection.execute(text("SELECT pg_sleep(3)"))
            else:
                assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 1000
    finally:
        fast.dispose()


def test_a_call_does_not_queue_behind_busy_store_threads() -> None:
    guard = CallGuard(timeout=5.0, workers=1, queue_wait=0.05)
    running, release = threading.Event(), threading.Event()

    def slow() -> str:
        running.set()
        release.wait()
        return "slow"

    holder = threading.Thread(target=lambda: guard.call(slow))
    holder.start()
    assert running.wait(5)
    with pytest.raises(StoreUnavailable, match="busy"):
        guard.call(lambda: "queued")
    release.set()
    holder.join(5)
    assert guard.call(lambda: "free again") == "free again"
    guard.close()
