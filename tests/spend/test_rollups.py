"""Reports from rollups must equal reports from every stored line (the store's two paths agree)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from aispend.spend.attribution import build_matcher
from aispend.spend.model import SpendLine
from aispend.spend.reports import month_report
from aispend.spend.rollups import DayRow, daily_by_project, month_report_from_rollups
from tests.spend.factories import at, oa, orl, project

NOW = at(2026, 11, 27, 12)
FIRST = date(2026, 11, 1)
MATCHER = build_matcher(
    [
        project(
            "search", openai_projects=("proj_a",), openrouter_keys=("hash_a",), monthly_budget_usd=Decimal(50)
        ),
        project("support", openai_api_keys=("key_b",)),
    ]
)

amounts = st.decimals(min_value=Decimal("-5"), max_value=Decimal("40"), places=9)
days = st.integers(min_value=0, max_value=26).map(lambda n: FIRST + timedelta(days=n))
openai_lines = st.builds(
    lambda day, amount, ref, key, model: oa(
        day, amount, project=ref, key=key, model=model, detail=f"{model}, input"
    ),
    days,
    amounts,
    st.sampled_from(["proj_a", "proj_b", None]),
    st.sampled_from(["key_b", "key_c", None]),
    st.sampled_from(["gpt-4o", "o3"]),
)
openrouter_lines = st.builds(
    lambda day, amount, key, model: orl(day, amount, key=key, model=model),
    days,
    amounts,
    st.sampled_from(["hash_a", "hash_z"]),
    st.sampled_from(["openai/gpt-4.1", "deepseek/deepseek-r1"]),
)


def rollups(lines: list[SpendLine]) -> tuple[list[SpendLine], list[DayRow[Decimal]]]:
    """What the store's rollups hold for these lines: month sums per grouping, day sums per ref."""
    month: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
    day: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
    for line in lines:
        month[(line.provider, line.project_ref, line.key_ref, line.model, line.detail)] += line.amount
        day[(line.provider, line.day, line.project_ref, line.key_ref)] += line.amount
    month_lines = [
        SpendLine(provider=p, day=FIRST, amount=a, project_ref=pr, key_ref=k, model=m, detail=d)  # type: ignore[arg-type]
        for (p, pr, k, m, d), a in month.items()
    ]
    day_rows: list[DayRow[Decimal]] = [(p, d, pr, k, a) for (p, d, pr, k), a in day.items()]  # type: ignore[misc]
    return month_lines, day_rows


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(openai_lines, openrouter_lines), max_size=40))
def test_rollup_reports_equal_line_reports(lines: list[SpendLine]) -> None:
    expected = month_report(MATCHER, lines, FIRST, NOW)
    month_lines, day_rows = rollups(lines)
    daily = daily_by_project(day_rows, MATCHER)
    got = month_report_from_rollups(MATCHER, month_lines, daily, [], FIRST, NOW)
    assert got.provider_totals == expected.provider_totals
    assert got.unattributed.by_provider == expected.unattributed.by_provider
    for mine, theirs in zip(got.projects, expected.projects, strict=True):
        assert mine.total == theirs.total
        assert mine.by_provider == theirs.by_provider
        assert sorted(mine.by_model, key=repr) == sorted(theirs.by_model, key=repr)
        assert [(p.day, p.usd) for p in mine.daily] == [(p.day, p.usd) for p in theirs.daily]
        assert mine.pace == theirs.pace


def test_day_rows_are_summed_per_project_in_their_own_number_type() -> None:
    rows: list[DayRow[int]] = [
        ("openai", FIRST, "proj_a", None, 5),
        ("openai", FIRST, "proj_a", "key_b", 7),  # the key is more specific: support
        ("openrouter", FIRST, None, "hash_a", 11),
        ("openrouter", FIRST, None, "hash_z", 13),
    ]
    assert daily_by_project(rows, MATCHER) == {
        "search": {FIRST: 16},
        "support": {FIRST: 7},
        None: {FIRST: 13},
    }
