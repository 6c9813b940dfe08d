"""The replay ledger on both databases: one winner per fingerprint, even under concurrency."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from aispend.slack.replay import MemoryLedger
from aispend.store.replay import claim

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
KEEP = timedelta(minutes=15)


def test_first_claim_wins_until_it_expires(engine: Engine) -> None:
    assert claim(engine, "a" * 64, now=NOW, keep=KEEP) is True
    assert claim(engine, "a" * 64, now=NOW + timedelta(minutes=14), keep=KEEP) is False
    assert claim(engine, "b" * 64, now=NOW, keep=KEEP) is True  # another request
    assert claim(engine, "a" * 64, now=NOW + KEEP, keep=KEEP) is True  # expired: a new request


def test_concurrent_claims_have_exactly_one_winner(engine: Engine) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: claim(engine, "c" * 64, now=NOW, keep=KEEP), range(16)))
    assert results.count(True) == 1


def test_memory_ledger_agrees() -> None:
    ledger = MemoryLedger(KEEP)
    assert ledger.claim("x", NOW) is True
    assert ledger.claim("x", NOW + timedelta(minutes=1)) is False
    assert ledger.claim("x", NOW + KEEP) is True
