"""Retention on SQLite and PostgreSQL: old snapshots and poll runs go, daily spend stays, and
every delete and lookup on the ever-growing tables is an index lookup (checked in the plans)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select, text
from sqlalchemy.engine import Connection

from aispend.records import OpenAICost, OpenRouterCredits, OpenRouterKey, PollStatus
from aispend.store import reads, retention, writes
from aispend.store.engine import session_scope
from aispend.store.models import (
    OpenAICostDaily,
    OpenRouterCreditSnapshot,
    OpenRouterKeyDay,
    OpenRouterKeySnapshot,
    PollRun,
    SlackRequestSeen,
    SpendDay,
    table_of,
)
from aispend.store.replay import claim

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
KEEP = timedelta(days=90)


def key(hash_: str, usage: str) -> OpenRouterKey:
    return OpenRouterKey(
        hash=hash_,
        name=hash_,
        label=None,
        disabled=False,
        limit=None,
        limit_remaining=None,
        limit_reset=None,
        usage=Decimal(usage),
        usage_daily=Decimal(usage),
        usage_weekly=Decimal(usage),
        usage_monthly=Decimal(usage),
        byok_usage=Decimal(0),
    )


def run(session: Any, provider: str, endpoint: str, at: datetime, status: PollStatus) -> None:
    session.add(PollRun(provider=provider, endpoint=endpoint, started_at=at, status=status))


def count(engine: Engine, model: type[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table_of(model))).scalar_one())


def fill(engine: Engine) -> None:
    """A history of 120 days, one poll a day: snapshots, runs and the daily spend they wrote."""
    for days_ago in range(120, -1, -1):
        at = NOW - timedelta(days=days_ago)
        with session_scope(engine) as session:
            writes.record_openrouter_keys(session, [key("h1", "1.5"), key("h2", "2")], at)
            writes.record_openrouter_credits(session, OpenRouterCredits(Decimal(100), Decimal(days_ago)), at)
            writes.replace_openai_costs(
                session,
                at.date(),
                at.date() + timedelta(days=1),
                [OpenAICost(at.date(), "proj_a", None, "gpt-4o", Decimal("1.25"))],
            )
            run(session, "openrouter", "keys", at, PollStatus.OK)
            run(session, "openai", "costs", at, PollStatus.OK)


def test_prune_deletes_what_is_older_than_the_retention_and_keeps_daily_spend(engine: Engine) -> None:
    fill(engine)
    with session_scope(engine) as session:  # an endpoint that last worked long ago, then failed
        run(session, "openai", "usage/completions", NOW - timedelta(days=200), PollStatus.OK)
        run(session, "openai", "usage/completions", NOW - timedelta(days=150), PollStatus.ERROR)
    daily_before = {m: count(engine, m) for m in (OpenAICostDaily, SpendDay, OpenRouterKeyDay)}
    assert count(engine, OpenRouterKeySnapshot) == 2 * 121

    pruned = retention.prune(engine, NOW, KEEP)

    assert pruned.key_snapshots == 2 * 30 and pruned.credit_snapshots == 30
    assert count(engine, OpenRouterKeySnapshot) == 2 * 91  # days 90 … 0: the cutoff itself is kept
    assert count(engine, OpenRouterCreditSnapshot) == 91
    with engine.connect() as conn:
        oldest = conn.execute(select(func.min(table_of(OpenRouterKeySnapshot).c.taken_at))).scalar_one()
    assert oldest.replace(tzinfo=UTC) == NOW - KEEP
    assert {m: count(engine, m) for m in daily_before} == daily_before  # daily spend is never pruned
    with session_scope(engine) as session:
        runs = reads.latest_runs(session)
        ages = {(r.provider, r.endpoint, r.status): NOW - r.started_at.replace(tzinfo=UTC) for r in runs}
        assert reads.has_successful_run(session, "openai", "usage/completions")
    # The newest run and newest success of an endpoint are kept whatever their age.
    assert ages[("openai", "usage/completions", PollStatus.ERROR)] == timedelta(days=150)
    assert ages[("openai", "usage/completions", PollStatus.OK)] == timedelta(days=200)
    assert count(engine, PollRun) == 2 * 91 + 2
    assert retention.prune(engine, NOW, KEEP).total == 0  # a second prune finds nothing


def test_prune_works_in_batches_and_removes_expired_replay_claims(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "BATCH", 7)
    fill(engine)
    claim(engine, "fresh", now=NOW - timedelta(minutes=5), keep=timedelta(minutes=15))
    claim(engine, "old", now=NOW - timedelta(hours=1), keep=timedelta(minutes=15))  # expired by NOW
    pruned = retention.prune(engine, NOW, timedelta(days=10))
    assert pruned.key_snapshots == 2 * 110 and pruned.poll_runs == 2 * 110 and pruned.slack_requests == 1
    assert count(engine, OpenRouterKeySnapshot) == 2 * 11
    with engine.connect() as conn:
        left = conn.execute(select(table_of(SlackRequestSeen).c.fingerprint)).scalars().all()
    assert left == ["fresh"]


def test_the_retention_is_configurable_and_at_least_a_week() -> None:
    from aispend.config import ConfigError, parse_config

    assert parse_config({}).retention_days == 90
    assert parse_config({"retention_days": 30}).retention_days == 30
    with pytest.raises(ConfigError, match="retention_days"):
        parse_config({"retention_days": 2})


# ------------------------------------------------------------------------------ query plans

GROWING = ("openrouter_key_snapshot", "openrouter_credit_snapshot", "poll_run", "slack_request_seen")


@contextmanager
def captured(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every single-row-parameter SELECT/DELETE/UPDATE that touches a growing table."""
    seen: list[tuple[str, Any]] = []

    def listen(conn: Connection, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        head = statement.lstrip().split(None, 1)[0].upper()
        if not many and head in {"SELECT", "DELETE", "UPDATE"} and any(t in statement for t in GROWING):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def plan(engine: Engine, statement: str, params: Any) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, params).all()
            return [str(row[3]) for row in rows]
        # Empty test tables are cheapest to scan: forbid that, so a plan that still scans has no
        # usable index at all (PostgreSQL then costs the scan at 10^10 instead of choosing it).
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        return [str(row[0]) for row in conn.exec_driver_sql("EXPLAIN " + statement, params).all()]


def full_scans(engine: Engine, lines: list[str]) -> list[str]:
    if engine.dialect.name == "sqlite":  # "SCAN t" without "USING … INDEX" reads every row
        bare = re.compile(rf"^SCAN ({'|'.join(GROWING)})$")
        return [line for line in lines if bare.match(line.strip())]
    return [line for line in lines if re.search(rf"Seq Scan on ({'|'.join(GROWING)})\b", line)]


def test_every_delete_and_lookup_on_growing_tables_uses_an_index(engine: Engine) -> None:
    fill(engine)
    with captured(engine) as statements:
        retention.prune(engine, NOW, KEEP)
        with session_scope(engine) as session:
            writes.record_openrouter_keys(session, [key("h1", "3")], NOW)  # replaces its own instant
            writes.record_openrouter_credits(session, OpenRouterCredits(Decimal(100), Decimal(3)), NOW)
            reads.credit_snapshots(session, NOW - timedelta(hours=48))
            reads.latest_runs(session)
            reads.has_successful_run(session, "openai", "costs")
            reads.generation(session)
            reads.last_poll_at(session)
        claim(engine, "f" * 64, now=NOW, keep=timedelta(minutes=15))
    touched = {t for statement, _ in statements for t in GROWING if t in statement}
    assert touched == set(GROWING)  # the capture saw every table it is meant to check
    deletes = [s for s, _ in statements if s.lstrip().upper().startswith("DELETE")]
    assert len(deletes) >= 6
    for statement, params in statements:
        lines = plan(engine, statement, params)
        assert lines, statement
        assert full_scans(engine, lines) == [], f"{statement}\n" + "\n".join(lines)
        if statement.lstrip().upper().startswith("DELETE") and engine.dialect.name == "sqlite":
            # Not even a walk over a whole index: a delete is a range search plus key lookups.
            assert not [line for line in lines if line.strip().startswith("SCAN")], "\n".join(lines)
        if statement.lstrip().upper().startswith("DELETE") and "poll_run" in statement:
            assert any("ix_poll_run_started_at" in line for line in lines), "\n".join(lines)
        if statement.lstrip().upper().startswith("DELETE") and "openrouter_key_snapshot" in statement:
            assert any("ix_openrouter_key_snapshot_taken_at" in line for line in lines), "\n".join(lines)


def test_the_daily_rows_a_prune_keeps_are_still_summed_exactly(engine: Engine) -> None:
    fill(engine)
    retention.prune(engine, NOW, KEEP)
    with session_scope(engine) as session:
        rows = reads.day_rows(session, date(2026, 8, 1), date(2026, 12, 1))
    assert sum(nanos for *_, nanos in rows if _[0] == "openai") == 121 * 1_250_000_000
