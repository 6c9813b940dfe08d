"""The store on SQLite and PostgreSQL: exact money, idempotent window replacement, migrations."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from aispend.clock import next_month
from aispend.records import OpenAICost, OpenRouterActivity, OpenRouterCredits
from aispend.store import reads, writes
from aispend.store.engine import session_scope
from aispend.store.models import OpenAICostDaily

D1 = date(2026, 11, 1)


def _cost(day: date, amount: str, project: str | None = "proj_a", line: str = "gpt-4o, input") -> OpenAICost:
    return OpenAICost(day=day, project_id=project, api_key_id=None, line_item=line, amount=Decimal(amount))


def test_money_sums_exactly_where_a_float_column_would_drift(engine: Engine) -> None:
    # 100 000 x $0.1 is 10000.000000018848 in a SQLite NUMERIC (float) column.
    start = date(2020, 1, 1)
    rows = [_cost(start + timedelta(days=i // 100), "0.1", line=f"item {i % 100}") for i in range(100_000)]
    with session_scope(engine) as session:
        writes.replace_openai_costs(session, start, start + timedelta(days=1000), rows)
    with session_scope(engine) as session:
        total_nanos = session.execute(select(func.sum(OpenAICostDaily.amount_nanos))).scalar_one()
        days = reads.day_rows(session, start, start + timedelta(days=1000))
        months = []
        month = start
        while month < start + timedelta(days=1000):
            months += reads.month_lines(session, month)
            month = next_month(month)
    assert total_nanos == 10_000 * 10**9
    assert sum(row[4] for row in days) == 10_000 * 10**9  # the day rollup
    assert sum((line.amount for line in months), Decimal(0)) == Decimal("10000")  # the month rollup


def test_repolling_a_window_changes_nothing_and_corrections_replace(engine: Engine) -> None:
    end = D1 + timedelta(days=3)
    first = [_cost(D1, "1.25"), _cost(D1 + timedelta(days=1), "2.50"), _cost(D1, "0.75", project=None)]
    with session_scope(engine) as session:
        count = writes.replace_openai_costs(session, D1, end, first)
    assert (count.inserted, count.updated, count.deleted) == (3, 0, 0)
    with session_scope(engine) as session:
        again = writes.replace_openai_costs(session, D1, end, first)
    assert (again.inserted, again.updated, again.deleted, again.unchanged) == (0, 0, 0, 3)

    corrected = [_cost(D1, "1.30"), _cost(D1, "0.75", project=None)]  # day 2 row withdrawn
    with session_scope(engine) as session:
        fixed = writes.replace_openai_costs(session, D1, end, corrected)
    assert (fixed.inserted, fixed.updated, fixed.deleted) == (0, 1, 1)
    with session_scope(engine) as session:
        lines = reads.month_lines(session, D1)
        days = reads.day_rows(session, D1, end)
    assert {(line.project_ref, line.amount) for line in lines} == {
        ("proj_a", Decimal("1.30")),
        (None, Decimal("0.75")),
    }
    assert sorted((row[1], row[2], row[4]) for row in days if row[2]) == [(D1, "proj_a", 1_300_000_000)]


def test_window_replacement_leaves_days_outside_the_window_alone(engine: Engine) -> None:
    with session_scope(engine) as session:
        writes.replace_openai_costs(
            session, D1, D1 + timedelta(days=2), [_cost(D1, "5"), _cost(D1 + timedelta(days=1), "6")]
        )
        writes.replace_openai_costs(session, D1 + timedelta(days=1), D1 + timedelta(days=2), [])
    with session_scope(engine) as session:
        days = reads.day_rows(session, D1, D1 + timedelta(days=5))
    assert [(row[1], row[4]) for row in days] == [(D1, 5 * 10**9)]


def test_rows_sharing_a_natural_key_are_summed_not_lost(engine: Engine) -> None:
    rows = [
        OpenRouterActivity(D1, "h1", "openai/gpt-4.1", "OpenAI", Decimal("0.5"), Decimal(0), 2, 10, 20, 0),
        OpenRouterActivity(D1, "h1", "openai/gpt-4.1", "OpenAI", Decimal("0.25"), Decimal(0), 1, 5, 5, 0),
    ]
    with session_scope(engine) as session:
        writes.replace_openrouter_activity(session, "h1", D1, D1 + timedelta(days=1), rows)
    with session_scope(engine) as session:
        lines = reads.month_lines(session, D1)
    assert len(lines) == 1 and lines[0].amount == Decimal("0.75") and lines[0].requests == 3


def test_credit_snapshots_keep_long_decimals_exact_to_the_nano_dollar(engine: Engine) -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    with session_scope(engine) as session:
        writes.record_openrouter_credits(
            session, OpenRouterCredits(Decimal("100.123456789"), Decimal("25.75")), now
        )
        writes.record_openrouter_credits(
            session, OpenRouterCredits(Decimal("100.123456789"), Decimal("26")), now
        )
    with session_scope(engine) as session:
        snaps = reads.credit_snapshots(session, now - timedelta(days=1))
    assert len(snaps) == 1  # the same instant replaces, never duplicates
    assert snaps[0].balance == Decimal("74.123456789") and snaps[0].taken_at == now
