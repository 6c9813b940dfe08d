"""The weekly digest's ledger: claim a week atomically, record what was posted.

Exactly once per week without Redis or a lock service: the ``digest_post.week`` unique
constraint makes the first claim an atomic insert on SQLite and PostgreSQL alike; a later claim
succeeds only by taking over an expired lease in a single conditional ``UPDATE`` (row-locked on
PostgreSQL, under the database write lock on SQLite), so two claimants never both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from aispend.clock import ensure_utc
from aispend.store.models import DigestPost, table_of

__all__ = ["Claim", "PostRecord", "claim_week", "find_week", "mark_posted", "record_message", "release"]

_table = table_of(DigestPost)
_c = _table.c


@dataclass(frozen=True, slots=True)
class Claim:
    """This process may post ``week``; ``message_ts`` is set when an earlier attempt posted the
    message but not the chart."""

    week: str
    owner: str
    attempt: int
    message_ts: str | None


@dataclass(frozen=True, slots=True)
class PostRecord:
    week: str
    channel: str
    status: str
    claimed_by: str
    lease_until: datetime
    attempts: int
    message_ts: str | None
    file_id: str | None
    posted_at: datetime | None
    error: str | None


def find_week(engine: Engine, week: str) -> PostRecord | None:
    with engine.connect() as conn:
        row = conn.execute(select(_table).where(_c.week == week)).mappings().first()
    if row is None:
        return None
    return PostRecord(
        week=row["week"],
        channel=row["channel"],
        status=row["status"],
        claimed_by=row["claimed_by"],
        lease_until=ensure_utc(row["lease_until"]),
        attempts=row["attempts"],
        message_ts=row["message_ts"],
        file_id=row["file_id"],
        posted_at=None if row["posted_at"] is None else ensure_utc(row["posted_at"]),
        error=row["error"],
    )


def claim_week(
    engine: Engine, week: str, channel: str, owner: str, now: datetime, lease: timedelta
) -> Claim | None:
    """Claim ``week`` for ``owner`` until ``now + lease``; None when it is posted or someone
    else's lease is still running."""
    now = ensure_utc(now)
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(_table).values(
                    week=week,
                    channel=channel,
                    status="claimed",
                    claimed_by=owner,
                    claimed_at=now,
                    lease_until=now + lease,
                    attempts=1,
                )
            )
        return Claim(week=week, owner=owner, attempt=1, message_ts=None)
    except IntegrityError:
        pass  # the week has a row: take it over only if its lease ran out and it is not posted
    with engine.begin() as conn:
        taken = conn.execute(
            update(_table)
            .where(_c.week == week, _c.status != "posted", _c.lease_until <= now)
            .values(
                claimed_by=owner,
                claimed_at=now,
                lease_until=now + lease,
                attempts=_c.attempts + 1,
                channel=channel,
            )
        )
        if taken.rowcount != 1:
            return None
        row = conn.execute(select(_c.attempts, _c.message_ts).where(_c.week == week)).one()
    return Claim(week=week, owner=owner, attempt=int(row[0]), message_ts=row[1])


def record_message(engine: Engine, claim: Claim, message_ts: str) -> None:
    """The message is out: a retry of this week must not post it again."""
    with engine.begin() as conn:
        conn.execute(
            update(_table)
            .where(_c.week == claim.week, _c.claimed_by == claim.owner)
            .values(message_ts=message_ts)
        )


def mark_posted(engine: Engine, claim: Claim, now: datetime, file_id: str | None) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(_table)
            .where(_c.week == claim.week, _c.claimed_by == claim.owner)
            .values(status="posted", posted_at=ensure_utc(now), file_id=file_id, error=None)
        )


def release(engine: Engine, claim: Claim, now: datetime, error: str) -> None:
    """Posting failed: end the lease now so the next run retries, and keep the reason."""
    with engine.begin() as conn:
        conn.execute(
            update(_table)
            .where(_c.week == claim.week, _c.claimed_by == claim.owner, _c.status != "posted")
            .values(lease_until=ensure_utc(now), error=error[:2000])
        )
