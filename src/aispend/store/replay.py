"""The replay ledger: claim a Slack request's fingerprint once, before doing its side effect.

A signed request stays valid for Slack's 5-minute signature window, so anyone who sees it can
send it again; Slack itself re-sends requests it got no timely answer for. The first claim of a
fingerprint wins; every repeat until it expires is told it was already done. The insert is
``ON CONFLICT DO NOTHING`` on the primary key, so concurrent claims (other threads, other
replicas) agree on exactly one winner.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from aispend.slack.replay import KEEP
from aispend.store.guard import CallGuard
from aispend.store.models import SlackRequestSeen

_TABLE = SlackRequestSeen.__table__  # type: ignore[attr-defined]


def claim(engine: Engine, fingerprint: str, *, now: datetime, keep: timedelta) -> bool:
    """True when this is the first claim of ``fingerprint`` that has not expired yet.

    Expired claims are deleted in the same transaction (the table stays as small as the number
    of side effects in the last ``keep``).
    """
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(_TABLE)
        .values(fingerprint=fingerprint, seen_at=now, expires_at=now + keep)
        .on_conflict_do_nothing(index_elements=["fingerprint"])
        .returning(_TABLE.c.fingerprint)  # rowcount is not reliable here with psycopg 3
    )
    with engine.begin() as connection:
        connection.execute(delete(_TABLE).where(_TABLE.c.expires_at <= now))
        inserted = connection.execute(statement).first()
    return inserted is not None


class StoreLedger:
    """``aispend.slack.replay.ReplayLedger`` on the database, each claim under ``guard``'s
    deadline (a hung database makes a ``share`` answer "store unavailable", never post twice)."""

    def __init__(self, engine: Engine, guard: CallGuard, keep: timedelta = KEEP) -> None:
        self._engine = engine
        self._guard = guard
        self._keep = keep

    def claim(self, fingerprint: str, now: datetime) -> bool:
        return self._guard.call(lambda: claim(self._engine, fingerprint, now=now, keep=self._keep))
