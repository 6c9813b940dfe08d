"""The digest ledger on SQLite and PostgreSQL: one claim per week, leases, posted is final."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from aispend.store import digests

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def test_racing_claimants_get_one_claim(engine: Engine) -> None:
    barrier = threading.Barrier(6)
    won: list[str] = []

    def claim(owner: str) -> None:
        barrier.wait()
        if digests.claim_week(engine, "2026-W47", "C0DIGEST01", owner, NOW, LEASE) is not None:
            won.append(owner)

    threads = [threading.Thread(target=claim, args=(f"replica-{i}",)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1
    record = digests.find_week(engine, "2026-W47")
    assert record is not None and record.claimed_by == won[0] and record.status == "claimed"


def test_an_expired_lease_is_taken_over_and_a_posted_week_never_again(engine: Engine) -> None:
    first = digests.claim_week(engine, "2026-W47", "C0DIGEST01", "a", NOW, LEASE)
    assert first is not None and first.attempt == 1
    assert digests.claim_week(engine, "2026-W47", "C0DIGEST01", "b", NOW + LEASE / 2, LEASE) is None
    digests.record_message(engine, first, "1700000000.000001")
    second = digests.claim_week(engine, "2026-W47", "C0DIGEST01", "b", NOW + LEASE, LEASE)
    assert second is not None and second.attempt == 2 and second.message_ts == "1700000000.000001"
    digests.mark_posted(engine, first, NOW, None)  # the old owner no longer holds the claim
    assert digests.find_week(engine, "2026-W47").status == "claimed"  # type: ignore[union-attr]
    digests.mark_posted(engine, second, NOW + LEASE, "F0FILE")
    later = NOW + 10 * LEASE
    assert digests.claim_week(engine, "2026-W47", "C0DIGEST01", "c", later, LEASE) is None
    record = digests.find_week(engine, "2026-W47")
    assert record is not None and (record.status, record.file_id, record.claimed_by) == (
        "posted",
        "F0FILE",
        "b",
    )


def test_a_released_claim_can_be_retried_at_once(engine: Engine) -> None:
    claim = digests.claim_week(engine, "2026-W48", "C0DIGEST01", "a", NOW, LEASE)
    assert claim is not None
    digests.release(engine, claim, NOW, "SlackApiError: channel_not_found")
    assert digests.find_week(engine, "2026-W48").error == "SlackApiError: channel_not_found"  # type: ignore[union-attr]
    assert digests.claim_week(engine, "2026-W48", "C0DIGEST01", "b", NOW, LEASE) is not None
