from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from aispend.records import PROVIDERS
from aispend.spend.attribution import build_matcher
from aispend.spend.model import KeyDay, SpendLine
from aispend.spend.reports import (
    NOT_BROKEN_DOWN,
    fill_openrouter_gaps,
)

from .factories import D, at, key_day, oa, orl, project, project_from_lines, team_from_lines

NOV = date(2026, 11, 1)
MATCHER = build_matcher(
    [
        project("search", owner="U0123OWNER", monthly_budget_usd=D(100), openai_projects=("proj_a",)),
        project("chat", openrouter_keys=("hash_a",)),
    ]
)


def d(day: int, month: int = 11, year: int = 2026) -> date:
    return date(year, month, day)


# ------------------------------------------------------------------------------ gap filling


def test_days_after_the_last_activity_day_are_filled_provisionally() -> None:
    now = at(2026, 11, 27, 12)
    lines = [orl(d(25), "3")]
    filled = fill_openrouter_gaps(
        lines,
        [key_day(d(25), "hash_a", "3"), key_day(d(26), "hash_a", "4"), key_day(d(27), "hash_a", "1")],
        now,
    )
    extra = [ln for ln in filled if ln not in lines]
    assert [(ln.day, ln.amount, ln.model, ln.billed_item, ln.provisional) for ln in extra] == [
        (d(26), D(4), None, None, True),
        (d(27), D(1), None, None, True),
    ]


def test_key_without_activity_and_zero_readings() -> None:
    now = at(2026, 11, 27, 12)
    filled = fill_openrouter_gaps([], [key_day(d(26), "hash_b", "0"), key_day(d(27), "hash_b", "2.5")], now)
    assert [(ln.day, ln.amount) for ln in filled] == [(d(27), D("2.5"))]


def test_latest_reading_of_a_day_wins_and_future_readings_are_ignored() -> None:
    now = at(2026, 11, 27, 12)
    readings = [
        key_day(d(27), "hash_a", "1", at(2026, 11, 27, 9)),
        key_day(d(27), "hash_a", "2", at(2026, 11, 27, 11)),
        key_day(d(28), "hash_a", "9"),
    ]
    assert [ln.amount for ln in fill_openrouter_gaps([], readings, now)] == [D(2)]


def test_activity_through_covers_days_without_rows() -> None:
    now = at(2026, 11, 27, 12)
    readings = [key_day(d(25), "hash_a", "1"), key_day(d(26), "hash_a", "1")]
    filled = fill_openrouter_gaps([], readings, now, activity_through={"hash_a": d(26)})
    assert filled == []


def test_today_is_always_filled_without_double_counting_activity() -> None:
    now = at(2026, 11, 27, 12)
    lines = [orl(d(27), "1.5")]  # the API never sends today, but if it did...
    filled = fill_openrouter_gaps(lines, [key_day(d(27), "hash_a", "4")], now)
    assert sum(ln.amount for ln in filled) == D(4)


def test_filling_is_idempotent() -> None:
    now = at(2026, 11, 27, 12)
    readings = [key_day(d(26), "hash_a", "4"), key_day(d(27), "hash_a", "1")]
    once = fill_openrouter_gaps([orl(d(25), "3"), oa(d(27), "2")], readings, now)
    assert fill_openrouter_gaps(once, readings, now) == once


def test_openai_today_is_provisional() -> None:
    now = at(2026, 11, 27, 0, 5)
    report = project_from_lines(MATCHER, "search", [oa(d(26), "1"), oa(d(27), "1")], NOV, now)
    assert [(p.day, p.provisional) for p in report.daily[-2:]] == [(d(26), False), (d(27), True)]
    assert report.provisional_since == d(27)


# ------------------------------------------------------------------------------ reports


def test_project_report_aggregates_and_fills_days() -> None:
    now = at(2026, 11, 5, 12)
    lines = [
        oa(d(1), "10", model="gpt-4o", billed_item="gpt-4o, input"),
        oa(d(1), "5", model="gpt-4o", billed_item="gpt-4o, output"),
        oa(d(3), "2", model=None, billed_item="web search"),
        oa(d(5), "1", model="gpt-4o-mini", billed_item="gpt-4o-mini, input"),
        orl(d(2), "7"),
    ]
    report = project_from_lines(MATCHER, "SEARCH", lines, NOV, now)
    assert report.project == "search"
    assert report.owner == "U0123OWNER"
    assert report.total == D(18)
    assert report.by_provider == {"openai": D(18), "openrouter": D(0)}
    assert [(m.model, m.usd) for m in report.by_model] == [
        ("gpt-4o", D(15)),
        ("web search", D(2)),
        ("gpt-4o-mini", D(1)),
    ]
    assert next((x.billed_item, x.usd) for x in report.by_billed_item) == ("gpt-4o, input", D(10))
    assert [(p.day.day, p.usd, p.provisional) for p in report.daily] == [
        (1, D(15), False),
        (2, D(0), False),
        (3, D(2), False),
        (4, D(0), False),
        (5, D(1), True),
    ]
    assert report.provisional_since == d(5)
    assert report.pace.spent == D(18)
    assert report.pace.status == "at_risk"
    assert report.pace.forecast == D("126.375")  # 18 + 17/4 x 25.5 days left
    assert report.pace.crosses_on == d(24)


def test_unbroken_openrouter_days_show_as_not_broken_down() -> None:
    now = at(2026, 11, 27, 12)
    lines = [orl(d(25), "3")]
    readings = [key_day(d(26), "hash_a", "4"), key_day(d(27), "hash_a", "1")]
    report = project_from_lines(MATCHER, "chat", lines, NOV, now, key_days=readings)
    assert report.total == D(8)
    assert {(m.model, m.usd) for m in report.by_model} == {
        (NOT_BROKEN_DOWN, D(5)),
        ("anthropic/claude-sonnet-4", D(3)),
    }
    assert report.provisional_since == d(26)


def test_team_report_conserves_and_matches_single_project_reports() -> None:
    now = at(2026, 11, 27, 12)
    lines = [
        oa(d(3), "10"),
        oa(d(4), "2.5", project="proj_x"),
        oa(d(27), "1", project=None),
        orl(d(20), "3"),
        orl(d(21), "4", key="hash_stray"),
        oa(d(31, 10), "100"),  # previous month: outside
    ]
    readings = [key_day(d(27), "hash_a", "0.75")]
    report = team_from_lines(MATCHER, lines, NOV, now, key_days=readings)
    assert report.provider_totals == {"openai": D("13.5"), "openrouter": D("7.75")}
    for provider in PROVIDERS:
        assert (
            sum((p.by_provider[provider] for p in report.projects), Decimal(0))
            + report.unattributed.by_provider[provider]
            == report.provider_totals[provider]
        )
    for single in report.projects:
        assert project_from_lines(MATCHER, single.project, lines, NOV, now, key_days=readings) == single


# ------------------------------------------------------------------------------ time


def test_first_poll_of_a_month_has_only_today_provisional() -> None:
    now = at(2026, 2, 1, 0, 5)
    lines = [oa(d(31, 1), "50"), oa(d(1, 2), "0.10")]
    readings = [key_day(d(31, 1), "hash_a", "2"), key_day(d(1, 2), "hash_a", "0.01", at(2026, 2, 1, 0, 4))]
    feb = team_from_lines(MATCHER, lines, date(2026, 2, 1), now, key_days=readings)
    search, chat = feb.projects
    assert [(p.day, p.usd, p.provisional) for p in search.daily] == [(d(1, 2), D("0.10"), True)]
    assert search.provisional_since == d(1, 2)
    assert search.pace.status == "insufficient_history"
    assert search.pace.days_of_data == 0
    assert chat.total == D("0.01")
    # January is now complete, but Jan 31 OpenRouter is still only a key total
    jan = project_from_lines(MATCHER, "chat", lines, date(2026, 1, 1), now, key_days=readings)
    assert len(jan.daily) == 31
    assert jan.total == D(2)
    assert jan.provisional_since == d(31, 1)
    jan_search = project_from_lines(MATCHER, "search", lines, date(2026, 1, 1), now)
    assert jan_search.total == D(50)
    assert jan_search.pace.days_of_data == 31
    assert jan_search.provisional_since is None


def test_leap_day_month() -> None:
    lines = [oa(date(2028, 2, 29), "1"), oa(date(2028, 3, 1), "1")]
    feb = project_from_lines(MATCHER, "search", lines, date(2028, 2, 1), at(2028, 3, 1, 8))
    assert len(feb.daily) == 29
    assert feb.daily[-1] == feb.daily[-1].__class__(day=date(2028, 2, 29), usd=D(1), provisional=False)
    assert feb.total == D(1)
    during = project_from_lines(MATCHER, "search", lines, date(2028, 2, 1), at(2028, 2, 29, 23, 59))
    assert during.daily[-1].provisional


def test_berlin_dst_change_does_not_move_utc_days() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 2026-10-25 is the last Sunday of October: Berlin goes from CEST (+2) to CET (+1).
    lines = [oa(date(2026, 10, 25), "3"), oa(date(2026, 10, 26), "4"), oa(date(2026, 10, 31), "5")]
    oct_ = date(2026, 10, 1)
    # 00:30 on Oct 26 in Berlin is still Oct 25 in UTC; 00:30 on Nov 1 in Berlin is still Oct 31 UTC.
    for local, utc_day in [
        (datetime(2026, 10, 26, 0, 30, tzinfo=berlin), date(2026, 10, 25)),
        (datetime(2026, 11, 1, 0, 30, tzinfo=berlin), date(2026, 10, 31)),
    ]:
        report = project_from_lines(MATCHER, "search", lines, oct_, local)
        utc = project_from_lines(MATCHER, "search", lines, oct_, local.astimezone(ZoneInfo("UTC")))
        assert report == utc
        assert report.month == oct_
        assert report.daily[-1].day == utc_day
        assert report.daily[-1].provisional
    nov = project_from_lines(
        MATCHER, "search", lines, date(2026, 11, 1), datetime(2026, 11, 1, 0, 30, tzinfo=berlin)
    )
    assert nov.daily == ()


# ------------------------------------------------------------------------------ properties

_amounts = st.decimals(min_value=-100, max_value=10000, places=9, allow_nan=False, allow_infinity=False)


@st.composite
def month_lines(draw: st.DrawFn) -> SpendLine:
    day = d(draw(st.integers(1, 30)))
    amount = draw(_amounts)
    if draw(st.booleans()):
        return oa(day, amount, project=draw(st.sampled_from(["proj_a", "proj_b", None])))
    return orl(
        day,
        amount,
        key=draw(st.sampled_from(["hash_a", "hash_b"])),
        model=draw(st.sampled_from(["m1", "m2"])),
    )


@st.composite
def readings(draw: st.DrawFn) -> KeyDay:
    day = d(draw(st.integers(20, 30)))
    amount = draw(st.decimals(min_value=0, max_value=500, places=6, allow_nan=False, allow_infinity=False))
    return key_day(day, draw(st.sampled_from(["hash_a", "hash_b"])), str(amount))


@given(
    st.lists(month_lines(), max_size=40),
    st.lists(readings(), max_size=8),
    st.integers(1, 30),
    st.randoms(use_true_random=False),
)
def test_month_totals_conserve_and_ignore_order(
    lines: list[SpendLine], key_days: list[KeyDay], today: int, rnd: random.Random
) -> None:
    now = at(2026, 11, today, 15)
    report = team_from_lines(MATCHER, lines, NOV, now, key_days=key_days)
    shuffled, shuffled_days = list(lines), list(key_days)
    rnd.shuffle(shuffled)
    rnd.shuffle(shuffled_days)
    assert team_from_lines(MATCHER, shuffled, NOV, now, key_days=shuffled_days) == report
    for provider in PROVIDERS:
        projects = sum((p.by_provider[provider] for p in report.projects), Decimal(0))
        assert projects + report.unattributed.by_provider[provider] == report.provider_totals[provider]
    for p in report.projects:
        assert sum((x.usd for x in p.by_model), Decimal(0)) == p.total
        assert sum((x.usd for x in p.by_billed_item), Decimal(0)) == p.total
        assert sum((x.usd for x in p.daily), Decimal(0)) == p.total
        assert len(p.daily) == today


def test_week_after_month_end_is_not_in_the_month() -> None:
    lines = [oa(d(1, 12) - timedelta(days=1), "1"), oa(d(1, 12), "9")]
    report = project_from_lines(MATCHER, "search", lines, NOV, at(2026, 12, 2))
    assert report.total == D(1)
