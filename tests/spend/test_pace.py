from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aispend.spend.model import Pace
from aispend.spend.pace import budget_pace

from .factories import D, at

NOV = date(2026, 11, 1)


def _days(*amounts: str, start: date = NOV) -> dict[date, Decimal]:
    return {start + timedelta(days=i): D(a) for i, a in enumerate(amounts)}


def test_three_complete_days_give_a_forecast() -> None:
    pace = budget_pace(_days("10", "10", "10"), D(250), NOV, at(2026, 11, 4))
    assert pace.days_of_data == 3
    assert pace.daily_rate == D(10)
    assert pace.forecast == D(300)  # 30 spent + 10/day x 27 days left
    assert pace.status == "at_risk"
    assert pace.crosses_on == date(2026, 11, 26)  # (250 - 30) / 10 = 22 days after Nov 4
    assert pace.used_percent == D("12.0")


def test_forecast_equal_to_budget_is_on_track() -> None:
    pace = budget_pace(_days("10", "10", "10"), D(300), NOV, at(2026, 11, 4))
    assert pace.status == "on_track"
    assert pace.crosses_on is None


def test_today_counts_in_spent_not_in_rate_and_the_rest_of_today_is_forecast() -> None:
    pace = budget_pace(_days("10", "10", "10", "7"), D(1000), NOV, at(2026, 11, 4, 12))
    assert pace.spent == D(37)
    assert pace.daily_rate == D(10)
    assert pace.forecast == D(302)  # 37 + 10 x 26.5


@pytest.mark.parametrize(
    ("daily", "budget", "now", "status", "forecast", "used", "days"),
    [
        # day 1 just after midnight: nothing complete, no division by zero
        (_days("0.40"), D(100), at(2026, 11, 1, 0, 5), "insufficient_history", None, D("0.4"), 0),
        # zero spend on day 1
        ({}, D(100), at(2026, 11, 1, 0, 5), "insufficient_history", None, D("0.0"), 0),
        # two complete days are not enough
        (_days("5", "5"), D(100), at(2026, 11, 3, 9), "insufficient_history", None, D("10.0"), 2),
        # no budget: still a forecast, no percentage
        (_days("5", "5", "5"), None, at(2026, 11, 4), "no_budget", D(150), None, 3),
        # zero spend with history
        (_days("0", "0", "0"), D(100), at(2026, 11, 4), "on_track", D(0), D("0.0"), 3),
        # a refund larger than the spend: rate clamps to 0, forecast = spent
        (_days("5", "-20", "5"), D(100), at(2026, 11, 4), "on_track", D(-10), D("-10.0"), 3),
        # already over on day 2 is a fact, not a forecast
        (_days("80", "30"), D(100), at(2026, 11, 2, 6), "over", None, D("110.0"), 1),
    ],
)
def test_pace_edge_cases(
    daily: dict[date, Decimal],
    budget: Decimal | None,
    now: datetime,
    status: str,
    forecast: Decimal | None,
    used: Decimal | None,
    days: int,
) -> None:
    pace = budget_pace(daily, budget, NOV, now)
    assert (pace.status, pace.forecast, pace.used_percent, pace.days_of_data) == (
        status,
        forecast,
        used,
        days,
    )
    if pace.forecast is not None:
        assert pace.forecast >= pace.spent


def test_over_reports_the_day_the_budget_was_crossed() -> None:
    pace = budget_pace(_days("40", "40", "40", "40"), D(100), NOV, at(2026, 11, 5))
    assert pace.status == "over"
    assert pace.crosses_on == date(2026, 11, 3)
    assert pace.used_percent == D("160.0")


def test_finished_month_is_complete() -> None:
    pace = budget_pace(_days(*["10"] * 30), D(250), NOV, at(2026, 12, 3))
    assert pace.forecast == pace.spent == D(300)
    assert pace.days_of_data == 30
    assert pace.status == "over"
    assert pace.crosses_on == date(2026, 11, 25)


def test_days_outside_the_month_are_ignored() -> None:
    daily = {date(2026, 10, 31): D(999), **_days("1", "1", "1"), date(2026, 11, 20): D(999)}
    pace = budget_pace(daily, D(100), NOV, at(2026, 11, 4))
    assert pace.spent == D(3)


def test_future_month_has_nothing() -> None:
    pace = budget_pace({}, D(100), date(2026, 12, 1), at(2026, 11, 4))
    assert (pace.status, pace.spent, pace.days_of_data) == ("insufficient_history", D(0), 0)


def test_used_percent_rounds_to_one_place() -> None:
    assert budget_pace(_days("1"), D(3), NOV, at(2026, 11, 1, 5)).used_percent == D("33.3")
    assert budget_pace(_days("0.0005"), D(1), NOV, at(2026, 11, 1, 5)).used_percent == D("0.1")


def test_leap_february_has_29_days() -> None:
    feb = date(2028, 2, 1)
    pace = budget_pace(_days(*["1"] * 28, start=feb), D(100), feb, at(2028, 2, 29))
    assert pace.forecast == D(29)


def test_berlin_dst_day_does_not_move_utc_month() -> None:
    from zoneinfo import ZoneInfo

    berlin = ZoneInfo("Europe/Berlin")
    oct_ = date(2026, 10, 1)
    daily = _days(*["2"] * 31, start=oct_)
    # 2026-11-01 00:30 in Berlin (CET) is still 2026-10-31 23:30 UTC: October is not over yet.
    local = datetime(2026, 11, 1, 0, 30, tzinfo=berlin)
    a = budget_pace(daily, D(100), oct_, local)
    b = budget_pace(daily, D(100), oct_, at(2026, 10, 31, 23, 30))
    assert a == b
    assert a.days_of_data == 30


amounts = st.decimals(min_value=-50, max_value=500, places=6, allow_nan=False, allow_infinity=False)


@given(
    st.lists(amounts, min_size=0, max_size=30),
    st.one_of(st.none(), st.decimals(min_value=1, max_value=10000, places=2)),
    st.integers(0, 29),
    st.integers(0, 23 * 60 + 59),
)
def test_forecast_never_below_spent(
    values: list[Decimal], budget: Decimal | None, day_index: int, minute: int
) -> None:
    now = at(2026, 11, 1) + timedelta(days=day_index, minutes=minute)
    pace: Pace = budget_pace(_days(*map(str, values)), budget, NOV, now)
    if pace.forecast is not None:
        assert pace.forecast >= pace.spent
    if pace.daily_rate is not None:
        assert pace.daily_rate >= 0
    assert pace.days_of_data == day_index
