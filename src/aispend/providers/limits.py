"""Caps and deadlines that keep one poll bounded whatever a provider answers.

A provider that pages forever, streams an endless body, drips one byte every few seconds or
answers ``429 Retry-After: 60`` to everything must not keep a poll (and with it every later
poll, since the scheduler runs one at a time) busy or growing without end. Every cap here is far
above what a real organisation's answers need; README "Limits" lists them with the environment
variables that change them. Hitting a per-request cap fails that endpoint
(:class:`~aispend.providers.errors.LimitExceeded` or
:class:`~aispend.providers.errors.DeadlineExceeded`); exhausting the per-poll budget abandons the
rest of the poll (:class:`~aispend.providers.errors.PollBudgetExhausted`). Either way the error is
recorded for ``/aispend health`` and the stored data of the endpoints concerned is left as it was.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from aispend.providers.errors import LimitExceeded, PollBudgetExhausted

MiB = 1 << 20
GiB = 1 << 30


@dataclass(frozen=True, slots=True)
class Limits:
    """The caps; defaults are what README "Limits" documents."""

    # Per request (one endpoint's sequence of pages counts as one for pages and rows).
    max_pages: int = 1000  # pages followed for one endpoint (the real ones need a handful)
    max_rows: int = 2_000_000  # records one endpoint may return (a big 60-day backfill: ~250k)
    max_page_bytes: int = 256 * MiB  # one streamed costs/usage page (a big backfill: ~80 MB)
    max_body_bytes: int = 16 * MiB  # any other answer, which is read whole before decoding
    request_seconds: float = 300.0  # one request, from sending it to the last byte of the answer
    # Per poll, across both providers.
    poll_seconds: float = 600.0
    poll_requests: int = 20_000
    poll_rows: int = 10_000_000
    poll_bytes: int = 4 * GiB

    def __post_init__(self) -> None:
        for name in ("max_pages", "max_rows", "max_page_bytes", "max_body_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("poll_requests", "poll_rows", "poll_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("request_seconds", "poll_seconds"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number of seconds")


def size(count: int) -> str:
    """A byte count for messages: ``16 MiB``, ``4 GiB``, ``512 bytes``."""
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (1 << 10, "KiB")):
        if count >= unit:
            return f"{count / unit:.4g} {name}"
    return f"{count} bytes"


class PollBudget:
    """What one poll may still spend, shared by both provider clients for the poll's duration.

    Charged by :class:`~aispend.providers.http.JsonApi` for every request sent and every byte and
    row received; the time left also bounds each request's timeouts and every retry wait, so a
    ``Retry-After`` longer than what is left gives up at once instead of sleeping past the budget.
    """

    def __init__(self, limits: Limits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self.started = clock()
        self.deadline = self.started + limits.poll_seconds
        self.requests = 0
        self.rows = 0
        self.bytes = 0

    def now(self) -> float:
        return self._clock()

    def remaining(self) -> float:
        """Seconds left (never negative)."""
        return max(self.deadline - self._clock(), 0.0)

    def out_of_time(self, provider: str, endpoint: str, during: str = "") -> PollBudgetExhausted:
        where = f" during {during}" if during else ""
        return PollBudgetExhausted(
            f"{provider} GET {endpoint}: the poll ran out of its {self.limits.poll_seconds:g} s budget"
            f"{where} (AISPEND_POLL_SECONDS); the rest of the poll was abandoned",
            provider=provider,
            endpoint=endpoint,
        )

    def check_time(self, provider: str, endpoint: str) -> None:
        if self._clock() >= self.deadline:
            raise self.out_of_time(provider, endpoint)

    def charge_request(self, provider: str, endpoint: str) -> None:
        self.check_time(provider, endpoint)
        self.requests += 1
        if self.requests > self.limits.poll_requests:
            raise self._over(
                f"{self.limits.poll_requests} requests", "AISPEND_POLL_REQUESTS", provider, endpoint
            )

    def charge_rows(self, count: int, provider: str, endpoint: str) -> None:
        self.rows += count
        if self.rows > self.limits.poll_rows:
            raise self._over(f"{self.limits.poll_rows} rows", "AISPEND_POLL_ROWS", provider, endpoint)

    def charge_bytes(self, count: int, provider: str, endpoint: str) -> None:
        self.bytes += count
        if self.bytes > self.limits.poll_bytes:
            raise self._over(
                f"{size(self.limits.poll_bytes)} received", "AISPEND_POLL_BYTES", provider, endpoint
            )

    @staticmethod
    def _over(cap: str, variable: str, provider: str, endpoint: str) -> PollBudgetExhausted:
        return PollBudgetExhausted(
            f"{provider} GET {endpoint}: the poll reached its cap of {cap} ({variable}); "
            "the rest of the poll was abandoned",
            provider=provider,
            endpoint=endpoint,
        )


def too_large(provider: str, endpoint: str, what: str, variable: str) -> LimitExceeded:
    """The error for a per-request cap: ``what`` says which (``more than 1000 pages``)."""
    return LimitExceeded(
        f"{provider} GET {endpoint}: the answer has {what} ({variable}); nothing of it was stored",
        provider=provider,
        endpoint=endpoint,
        status=200,
    )
