"""Budget pace: will a project cross its monthly budget, and when?

Method (budgets are UTC calendar months; the configured time zone is display-only):

* **spent** = month-to-date spend, *including* today's provisional spend.
* **complete days** = UTC days of the month before today (``days_of_data``). Today is still
  being billed, so it is left out of the rate: dividing a partial day by a whole day is what makes
  naive forecasts jump at midnight.
* **daily rate** = spend on the complete days ÷ complete days, clamped at 0 (a refund or a negative
  correction must not forecast money flowing back). With zero complete days (day 1) there is no
  rate, so there is never a division by zero.
* **forecast** = spent + rate × remaining days, where remaining days run from ``now`` to the end of
  the month (so the rest of today counts as a fraction of a day). Because the rate is ≥ 0,
  forecast ≥ spent always. A past month is complete: forecast = spent.
* Fewer than 3 complete days → no forecast, status ``insufficient_history`` (the same minimum
  Oracle Cloud budgets use; one or two days are too noisy), but ``used_percent`` is still given.
* **status**: ``no_budget`` without a budget; else ``over`` when spent ≥ budget (a fact, so it wins
  even with little history); else ``insufficient_history``; else ``at_risk`` when forecast > budget;
  else ``on_track``.
* **crosses_on**: when over, the first UTC day on which cumulative daily spend reached the budget
  (from the daily series, when it shows it); when at risk, the UTC day the budget is reached at the
  current rate counting from ``now``. None otherwise — a crossing after month end never happens,
  because the budget resets.
* **used_percent** = spent ÷ budget × 100, rounded half-up to one decimal place.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from aispend.clock import day_start, ensure_utc, month_start, next_month
from aispend.spend.model import Pace, PaceStatus

__all__ = ["MIN_COMPLETE_DAYS", "budget_pace", "days_between", "percent_of"]

MIN_COMPLETE_DAYS = 3
_ZERO = Decimal(0)
_TENTH = Decimal("0.1")
_MICROS_PER_DAY = 86_400 * 1_000_000


def days_between(start: datetime, end: datetime) -> Decimal:
    """Exact (float-free) number of days from ``start`` to ``end``."""
    delta = ensure_utc(end) - ensure_utc(start)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return Decimal(micros) / Decimal(_MICROS_PER_DAY)


def percent_of(part: Decimal, whole: Decimal) -> Decimal | None:
    """``part`` as a percentage of ``whole`` to one decimal place; None when ``whole`` is 0."""
    if whole == 0:
        return None
    return (part * 100 / whole).quantize(_TENTH, rounding=ROUND_HALF_UP)


def _crossed_on(daily: Mapping[date, Decimal], budget: Decimal, first: date, last: date) -> date | None:
    running = _ZERO
    day = first
    while day <= last:
        running += daily.get(day, _ZERO)
        if running >= budget:
            return day
        day += timedelta(days=1)
    return None


def _against_budget(
    daily: Mapping[date, Decimal],
    budget: Decimal,
    spent: Decimal,
    rate: Decimal | None,
    forecast: Decimal | None,
    first: date,
    through: date,
    now: datetime,
) -> tuple[PaceStatus, date | None]:
    """The status against a budget and the day it was (or, at ``rate``, will be) crossed."""
    if spent >= budget:
        return "over", _crossed_on(daily, budget, first, through)
    if forecast is None or rate is None:
        return "insufficient_history", None
    if forecast > budget:
        # rate > 0 here: forecast > budget > spent needs a positive rate.
        moment = now + timedelta(microseconds=int((budget - spent) / rate * _MICROS_PER_DAY))
        return "at_risk", min(moment.date(), next_month(first) - timedelta(days=1))
    return "on_track", None


def budget_pace(daily: Mapping[date, Decimal], budget: Decimal | None, month: date, now: datetime) -> Pace:
    """Pace of one project's month from its daily spend (UTC day -> USD; missing days are zero).

    ``month`` is any day of the UTC month (normally the first); ``now`` is the as-of moment.
    Days outside the month or after today are ignored.
    """
    now = ensure_utc(now)
    today = now.date()
    first = month_start(month)
    end = next_month(first)  # exclusive
    last_day = end - timedelta(days=1)
    through = min(last_day, today)

    spent = sum((usd for day, usd in daily.items() if first <= day <= through), _ZERO)
    if today > last_day:  # a finished month
        complete_days = (end - first).days
        complete_spend = spent
        remaining = _ZERO
    elif today < first:  # a month that has not started
        complete_days = 0
        complete_spend = _ZERO
        remaining = _ZERO
    else:
        complete_days = (today - first).days
        complete_spend = sum((usd for day, usd in daily.items() if first <= day < today), _ZERO)
        remaining = days_between(now, day_start(end))

    rate: Decimal | None = None
    forecast: Decimal | None = None
    if complete_days >= MIN_COMPLETE_DAYS:
        rate = max(_ZERO, complete_spend / complete_days)
        forecast = spent + rate * remaining

    status: PaceStatus = "no_budget"
    crosses_on: date | None = None
    if budget is not None:
        status, crosses_on = _against_budget(daily, budget, spent, rate, forecast, first, through, now)
    return Pace(
        status=status,
        spent=spent,
        budget=budget,
        used_percent=None if budget is None else percent_of(spent, budget),
        forecast=forecast,
        daily_rate=rate,
        crosses_on=crosses_on,
        days_of_data=complete_days,
    )
