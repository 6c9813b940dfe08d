"""Bounded calls into the store, so a hung database cannot take Slack answers down with it.

A database that is *frozen* (the process stopped, the host swapping, a network path that drops
packets silently) enforces none of its own timeouts, and a blocked socket read has none either:
the calling thread waits forever. Every read a Slack answer or ``/healthz`` makes therefore runs
on a small pool of store threads and is waited for only until a deadline. A call that misses it
raises :class:`StoreUnavailable` (the caller answers politely) and stays *stuck* in its thread;
while any call is stuck, new calls fail at once instead of piling up behind it, except one probe
every ``retry_after`` seconds, so the guard notices by itself when the database answers again.
The pool is small and fixed, so stuck calls can never exhaust Bolt's listener threads, the web
server's threads or the connection pool.

Hand-written (about a hundred lines) because the usual circuit-breaker libraries count
*failures*, while the failure here is a call that never returns.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import AbstractContextManager, contextmanager
from datetime import date, datetime
from typing import TypeVar

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from aispend.config import Config
from aispend.reader import Health, SpendReader, StoreUnavailable
from aispend.spend.model import MixReport, Mover, ProjectReport, RoutesReport, Runway, TeamReport
from aispend.spend.visibility import Audience

T = TypeVar("T")
log = logging.getLogger(__name__)


class CallGuard:
    """Runs store calls on ``workers`` threads with a deadline each (see the module docstring).

    ``timeout`` is the default deadline of one call; :meth:`budget` narrows it for everything a
    thread does inside the ``with`` block (one Slack answer may read several times).
    """

    def __init__(
        self,
        *,
        timeout: float = 1.5,
        workers: int = 8,
        queue_wait: float = 0.25,
        retry_after: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._timeout = timeout
        self._retry_after = retry_after
        self._clock = clock
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="aispend-store")
        # A call waits at most ``queue_wait`` for a free store thread: when every one is busy the
        # store is hung or swamped, and queueing would only spend the caller's deadline.
        self._free = threading.BoundedSemaphore(workers)
        self._queue_wait = queue_wait
        self._lock = threading.Lock()
        self._stuck = 0
        self._last_probe = float("-inf")
        self._local = threading.local()

    @property
    def stuck(self) -> int:
        """Calls that missed their deadline and are still running."""
        with self._lock:
            return self._stuck

    @contextmanager
    def budget(self, seconds: float) -> Iterator[None]:
        """Every call this thread makes inside the block ends by ``seconds`` from now."""
        previous = getattr(self._local, "deadline", None)
        self._local.deadline = self._clock() + seconds
        try:
            yield
        finally:
            self._local.deadline = previous

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a store thread, or :class:`StoreUnavailable` by the deadline."""
        timeout = self._time_left()
        started = self._clock()
        future = self._submit(fn, min(self._queue_wait, timeout))
        timeout = max(0.0, timeout - (self._clock() - started))
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            self._missed(future)
            raise StoreUnavailable(f"the database did not answer within {timeout:.1f} s") from None
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            raise StoreUnavailable(f"the database refused: {type(exc).__name__}") from exc

    async def acall(self, fn: Callable[[], T], timeout: float | None = None) -> T:
        """:meth:`call` for the event loop: waits without holding any web-server thread."""
        limit = self._timeout if timeout is None else timeout
        future = self._submit(fn, 0.0)  # never block the event loop waiting for a thread
        try:
            return await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(future)), limit)
        except TimeoutError:
            self._missed(future)
            raise StoreUnavailable(f"the database did not answer within {limit:.1f} s") from None
        except (OperationalError, InterfaceError, PoolTimeout) as exc:
            raise StoreUnavailable(f"the database refused: {type(exc).__name__}") from exc

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    # ------------------------------------------------------------------------------ internals

    def _time_left(self) -> float:
        deadline: float | None = getattr(self._local, "deadline", None)
        if deadline is None:
            return self._timeout
        left = min(self._timeout, deadline - self._clock())
        if left <= 0:
            raise StoreUnavailable("no time left to ask the database")
        return left

    def _submit(self, fn: Callable[[], T], wait: float) -> Future[T]:
        with self._lock:
            if self._stuck:
                now = self._clock()
                if now - self._last_probe < self._retry_after:
                    raise StoreUnavailable(f"{self._stuck} database call(s) still hanging")
                self._last_probe = now  # this call is the probe
        free = self._free.acquire(timeout=wait) if wait > 0 else self._free.acquire(blocking=False)
        if not free:
            raise StoreUnavailable("every store thread is busy")
        future = self._executor.submit(fn)
        future.add_done_callback(lambda _: self._free.release())
        return future

    def _missed(self, future: Future[T]) -> None:
        if future.cancel():  # never started: nothing is stuck
            return
        with self._lock:
            self._stuck += 1
            self._last_probe = self._clock()
            stuck = self._stuck
        log.warning("a database call missed its deadline (%d still hanging)", stuck)
        future.add_done_callback(self._unstick)

    def _unstick(self, _: Future[T]) -> None:
        with self._lock:
            self._stuck -= 1
            stuck = self._stuck
        if not stuck:
            log.warning("the database answers again")


class GuardedReader:
    """A ``SpendReader`` whose every store read goes through a :class:`CallGuard`.

    ``config`` stays a plain attribute read: ``/aispend help`` and parsing never wait for the
    store.
    """

    def __init__(self, reader: SpendReader, guard: CallGuard) -> None:
        self._reader = reader
        self.guard = guard

    @property
    def config(self) -> Config:
        return self._reader.config

    def budget(self, seconds: float) -> AbstractContextManager[None]:
        return self.guard.budget(seconds)

    def project_report(self, name: str, now: datetime, month: date | None = None) -> ProjectReport | None:
        return self.guard.call(lambda: self._reader.project_report(name, now, month))

    def team_report(self, now: datetime, month: date | None = None, *, audience: Audience) -> TeamReport:
        return self.guard.call(lambda: self._reader.team_report(now, month, audience=audience))

    def runway(self, now: datetime, *, audience: Audience) -> Runway:
        return self.guard.call(lambda: self._reader.runway(now, audience=audience))

    def mix(self, now: datetime, project: str | None = None, *, audience: Audience) -> MixReport:
        return self.guard.call(lambda: self._reader.mix(now, project, audience=audience))

    def routes(self, now: datetime, *, audience: Audience) -> RoutesReport:
        return self.guard.call(lambda: self._reader.routes(now, audience=audience))

    def movers(self, now: datetime, *, audience: Audience) -> tuple[Mover, ...]:
        return self.guard.call(lambda: self._reader.movers(now, audience=audience))

    def last_poll_at(self) -> datetime | None:
        return self.guard.call(self._reader.last_poll_at)

    def health(self, now: datetime) -> Health:
        return self.guard.call(lambda: self._reader.health(now))
