"""Reports assembled from rollups (month totals + per-project daily sums, what the store hands
over) must equal reports from every stored line; and re-clocking a report equals rebuilding it."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aispend.spend.attribution import build_matcher
from aispend.spend.model import MonthSpend, SpendLine
from aispend.spend.reports import reclock, reclock_team, team_report
from tests.spend.factories import at, oa, orl, project, team_from_lines

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
        day, amount, project=ref, key=key, model=model, billed_item=f"{model}, input"
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


def rollups(lines: list[SpendLine]) -> tuple[list[SpendLine], dict[str, dict[date, Decimal]]]:
    """What the store hands over: month sums per grouping, day sums per attributed project."""
    month: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
    daily: dict[str, dict[date, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        month[(line.provider, line.project_ref, line.key_ref, line.model, line.billed_item)] += line.amount
        owner = MATCHER.project_for_ref(line.provider, line.project_ref, line.key_ref)
        if owner is not None:
            daily[owner][line.day] += line.amount
    month_lines = [
        SpendLine(provider=p, day=FIRST, amount=a, project_ref=pr, key_ref=k, model=m, billed_item=d)  # type: ignore[arg-type]
        for (p, pr, k, m, d), a in month.items()
    ]
    return month_lines, daily


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(openai_lines, openrouter_lines), max_size=40))
def test_rollup_reports_equal_line_reports(lines: list[SpendLine]) -> None:
    expected = team_from_lines(MATCHER, lines, FIRST, NOW)
    month_lines, daily = rollups(lines)
    got = team_report(MATCHER, MonthSpend(FIRST, month_lines, daily, {}), NOW)
    assert got.provider_totals == expected.provider_totals
    assert got.unattributed.by_provider == expected.unattributed.by_provider
    for mine, theirs in zip(got.projects, expected.projects, strict=True):
        assert mine.total == theirs.total
        assert mine.by_provider == theirs.by_provider
        assert sorted(mine.by_model, key=repr) == sorted(theirs.by_model, key=repr)
        assert [(p.day, p.usd) for p in mine.daily] == [(p.day, p.usd) for p in theirs.daily]
        assert mine.pace == theirs.pace


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.one_of(openai_lines, openrouter_lines), max_size=30),
    st.integers(min_value=0, max_value=23 * 60),
    st.integers(min_value=0, max_value=23 * 60),
)
def test_a_reclocked_report_equals_one_built_at_that_moment(lines: list[SpendLine], a: int, b: int) -> None:
    day = date(2026, 11, 27)
    early = at(day.year, day.month, day.day) + timedelta(minutes=min(a, b))
    late = at(day.year, day.month, day.day) + timedelta(minutes=max(a, b))
    built_early = team_from_lines(MATCHER, lines, FIRST, early)
    assert reclock_team(built_early, late) == team_from_lines(MATCHER, lines, FIRST, late)
    assert reclock(built_early.projects[0], late) == team_from_lines(MATCHER, lines, FIRST, late).projects[0]


def test_reclock_refuses_another_day() -> None:
    report = team_from_lines(MATCHER, [], FIRST, NOW).projects[0]
    with pytest.raises(ValueError, match="within its UTC day"):
        reclock(report, NOW + timedelta(days=1))
