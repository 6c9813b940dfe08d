"""Retention: tables that grow with every poll are pruned by age; daily spend rows never are.

``openrouter_key_snapshot`` gains one row per key per poll (10,000 keys reach 10 M rows in about
ten days), ``openrouter_credit_snapshot`` and ``poll_run`` a few rows per poll. Rows older than
``aispend.yaml``'s ``retention_days`` (default 90, README "Retention") are deleted by the poll
job, in batches of :data:`BATCH` rows per transaction, so a first prune of a long history never
holds a write lock for long (each batch is one indexed range read plus primary-key deletes), and
at most :data:`MAX_BATCHES` per table per poll, so the rest waits for the next poll.

The newest run of every endpoint and its newest successful run are kept whatever their age:
they are what the health view and "unknown is not zero" read (when an endpoint last worked, and
whether OpenAI costs were ever fetched, which decides the first backfill).

Every statement here leads with an indexed column (``tests/store/test_retention.py`` checks the
plans on SQLite and PostgreSQL).
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Delete, Engine, Select, delete, func, select
from sqlalchemy.sql.elements import ColumnElement

from aispend.records import PollStatus
from aispend.store.models import (
    OpenRouterCreditSnapshot,
    OpenRouterKeySnapshot,
    PollRun,
    SlackRequestSeen,
    table_of,
)

log = logging.getLogger(__name__)

DEFAULT_KEEP = timedelta(days=90)
BATCH = 5000
MAX_BATCHES = 200  # 1 M rows per table per poll: a long-neglected table is caught up over a few polls


@dataclass(frozen=True, slots=True)
class Pruned:
    """Rows deleted per table by one :func:`prune`."""

    key_snapshots: int = 0
    credit_snapshots: int = 0
    poll_runs: int = 0
    slack_requests: int = 0

    @property
    def total(self) -> int:
        return self.key_snapshots + self.credit_snapshots + self.poll_runs + self.slack_requests


def _batch(
    table_model: type[object], time_column: str, cutoff: datetime, keep_ids: Collection[int] = ()
) -> Delete:
    """``DELETE … WHERE id IN (SELECT id … WHERE <time> < cutoff LIMIT BATCH)``: portable (SQLite
    has no ``DELETE … LIMIT`` by default), and both parts are index lookups."""
    table = table_of(table_model)  # type: ignore[arg-type]
    condition: ColumnElement[bool] = table.c[time_column] < cutoff
    if keep_ids:
        condition = condition & table.c.id.not_in(list(keep_ids))
    victims = select(table.c.id).where(condition).limit(BATCH).scalar_subquery()
    return delete(table).where(table.c.id.in_(victims))


def key_snapshot_batch(cutoff: datetime) -> Delete:
    return _batch(OpenRouterKeySnapshot, "taken_at", cutoff)


def credit_snapshot_batch(cutoff: datetime) -> Delete:
    return _batch(OpenRouterCreditSnapshot, "taken_at", cutoff)


def poll_run_batch(cutoff: datetime, keep_ids: Collection[int]) -> Delete:
    return _batch(PollRun, "started_at", cutoff, keep_ids)


def newest_run_ids() -> tuple[Select[Any], Select[Any]]:
    """The newest run per endpoint and the newest successful one (what is kept whatever its age)."""
    table = table_of(PollRun).c
    newest = select(func.max(table.id)).group_by(table.provider, table.endpoint)
    newest_ok = (
        select(func.max(table.id))
        .where(table.status == PollStatus.OK)
        .group_by(table.provider, table.endpoint)
    )
    return newest, newest_ok


def expired_requests(now: datetime) -> Delete:
    table = table_of(SlackRequestSeen)
    return delete(table).where(table.c.expires_at <= now)


def _drain(engine: Engine, statement: Delete) -> int:
    deleted = 0
    for _ in range(MAX_BATCHES):
        with engine.begin() as connection:
            count = int(connection.execute(statement).rowcount)
        deleted += count
        if count < BATCH:
            break
    return deleted


def prune(engine: Engine, now: datetime, keep: timedelta = DEFAULT_KEEP) -> Pruned:
    """Delete snapshots and poll runs taken before ``now - keep`` (and expired replay claims)."""
    cutoff = now - keep
    with engine.connect() as connection:
        newest, newest_ok = newest_run_ids()
        keep_ids = {int(i) for i in connection.execute(newest).scalars()}
        keep_ids |= {int(i) for i in connection.execute(newest_ok).scalars()}
    pruned = Pruned(
        key_snapshots=_drain(engine, key_snapshot_batch(cutoff)),
        credit_snapshots=_drain(engine, credit_snapshot_batch(cutoff)),
        poll_runs=_drain(engine, poll_run_batch(cutoff, keep_ids)),
        slack_requests=_drain(engine, expired_requests(now)),
    )
    if pruned.total:
        log.info(
            "retention: pruned %d key snapshots, %d credit snapshots, %d poll runs, %d replay claims "
            "older than %d days",
            pruned.key_snapshots,
            pruned.credit_snapshots,
            pruned.poll_runs,
            pruned.slack_requests,
            keep.days,
        )
    return pruned
