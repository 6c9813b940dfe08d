"""Doing a request's side effect once, however often the same signed request arrives.

A signed request stays valid for Slack's 5-minute signature window, so a copy can be replayed;
Slack re-sends requests it got no timely answer for (``X-Slack-Retry-Num``). Side effects (a
``share`` posting in the channel) therefore claim the request's fingerprint first, and only the
first claim acts. The production ledger is the database (``aispend.store.replay``), so every
replica agrees; :class:`MemoryLedger` serves a single process (tests, the demo).
"""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime, timedelta
from typing import Protocol

# A replay is possible until the request's timestamp is 5 minutes old, and the timestamp may be
# up to 5 minutes ahead of our clock; Slack's last retry comes about 5 minutes after the first
# delivery. A quarter of an hour covers all of it with room for clock skew.
KEEP = timedelta(minutes=15)


def fingerprint(raw_body: str) -> str:
    """SHA-256 of the signed body: equal for a replay and for Slack's retries of one request,
    different for two real invocations (each carries its own ``trigger_id``)."""
    return hashlib.sha256(raw_body.encode("utf-8")).hexdigest()


class ReplayLedger(Protocol):
    def claim(self, fingerprint: str, now: datetime) -> bool:
        """True for the first claim of ``fingerprint`` within :data:`KEEP`; False for repeats.
        May raise ``aispend.reader.StoreUnavailable``."""
        ...


class MemoryLedger:
    """Per-process ledger (thread-safe); forgets on restart and is not shared between replicas."""

    def __init__(self, keep: timedelta = KEEP) -> None:
        self._keep = keep
        self._lock = threading.Lock()
        self._expiry: dict[str, datetime] = {}

    def claim(self, fingerprint: str, now: datetime) -> bool:
        with self._lock:
            self._expiry = {fp: until for fp, until in self._expiry.items() if until > now}
            if fingerprint in self._expiry:
                return False
            self._expiry[fingerprint] = now + self._keep
            return True
