from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aispend.records import CreditSnapshot, OpenRouterKey
from aispend.spend.model import Runway, SpendLine
from aispend.spend.runway import burn_7d, burn_24h, credit_runway, key_caps

from .factories import D, at, oa, or_key, orl, snap

NOW = at(2026, 11, 27, 12)


def _week(per_day: str, days: int = 7, now: datetime = NOW) -> list[SpendLine]:
    today = now.date()
    return [orl(today - timedelta(days=i), per_day) for i in range(1, days + 1)]


def _runway(
    snapshots: list[CreditSnapshot],
    lines: list[SpendLine],
    now: datetime = NOW,
    *,
    keys: Sequence[OpenRouterKey] = (),
    stale_after: timedelta = timedelta(hours=2),
) -> Runway:
    return credit_runway(
        snapshots, lines, keys, now, low_credit_usd=D(50), low_runway_days=D(7), stale_after=stale_after
    )


def test_burn_24h_scales_to_a_day_and_needs_six_hours() -> None:
    assert burn_24h([snap(NOW - timedelta(hours=24), "10"), snap(NOW, "22")]) == D(12)
    assert burn_24h([snap(NOW - timedelta(hours=12), "10"), snap(NOW, "16")]) == D(12)
    assert burn_24h([snap(NOW - timedelta(hours=5), "10"), snap(NOW, "16")]) is None
    assert burn_24h([snap(NOW - timedelta(days=30), "0"), snap(NOW, "16")]) is None
    assert burn_24h([snap(NOW, "16")]) is None
    # the snapshot closest to 24 h earlier is the base
    three = [snap(NOW - timedelta(hours=30), "0"), snap(NOW - timedelta(hours=23), "11"), snap(NOW, "22")]
    assert burn_24h(three) == D(11) * 24 / 23


def test_burn_7d_uses_complete_days_only_and_short_history() -> None:
    lines = [
        *_week("7"),
        orl(NOW.date(), "100"),
        orl(NOW.date() - timedelta(days=8), "100"),
        oa(NOW.date(), "5"),
    ]
    assert burn_7d(lines, NOW) == (D(7), 7)
    assert burn_7d(_week("6", days=2), NOW) == (D(6), 2)
    assert burn_7d([orl(NOW.date(), "5")], NOW) == (None, 0)
    assert burn_7d([], NOW) == (None, 0)


def test_higher_rate_wins_with_high_confidence() -> None:
    snaps = [
        snap(NOW - timedelta(hours=24, minutes=10), "10", "100"),
        snap(NOW - timedelta(minutes=10), "22", "100"),
    ]
    runway = _runway(snaps, _week("7"))
    assert (runway.burn_24h, runway.burn_7d, runway.burn_per_day, runway.basis) == (D(12), D(7), D(12), "24h")
    assert runway.balance == D(78)
    assert runway.confidence == "high"
    assert runway.days_left == D("6.5")
    assert runway.runs_out_on == date(2026, 12, 3)  # 11:50 + 6.5 days
    assert runway.status == "low"  # 6.5 days < 7
    assert not runway.stale


@pytest.mark.parametrize(
    ("snapshots", "lines", "status", "confidence", "days_left", "stale"),
    [
        ([], _week("1"), "unknown", "none", None, True),
        # balance already negative: depleted, nothing left
        ([snap(NOW, "120", "100")], _week("1"), "depleted", "medium", D(0), False),
        # a 30-day-old snapshot: stale, but its balance is still judged
        ([snap(NOW - timedelta(days=30), "10", "1000")], _week("1"), "stale", "medium", D(990), True),
        ([snap(NOW - timedelta(days=30), "990", "1000")], _week("1"), "low", "medium", D(10), True),
        # no spend at all: no burn, no days_left, ok
        ([snap(NOW, "0", "100")], [], "ok", "none", None, False),
        # only two days of history: low confidence
        ([snap(NOW, "0", "100")], _week("1", days=2), "ok", "low", D(100), False),
        # exactly 3 days of history: medium
        ([snap(NOW, "0", "100")], _week("1", days=3), "ok", "medium", D(100), False),
        # below the low-credit threshold
        ([snap(NOW, "60", "100")], _week("0.1"), "low", "medium", D(400), False),
    ],
)
def test_runway_edge_cases(
    snapshots: list[CreditSnapshot],
    lines: list[SpendLine],
    status: str,
    confidence: str,
    days_left: Decimal | None,
    stale: bool,
) -> None:
    runway = _runway(snapshots, lines)
    assert (runway.status, runway.confidence, runway.days_left, runway.stale) == (
        status,
        confidence,
        days_left,
        stale,
    )


def test_stale_threshold_is_a_parameter() -> None:
    snaps = [snap(NOW - timedelta(hours=3), "0", "100")]
    assert _runway(snaps, _week("1")).status == "stale"
    assert _runway(snaps, _week("1"), stale_after=timedelta(hours=4)).status == "ok"


def test_key_caps_below_ten_percent() -> None:
    keys = [
        or_key("a", limit="100", remaining="9.99"),
        or_key("b", limit="100", remaining="10"),
        or_key("c", limit="100", remaining="1", disabled=True),
        or_key("d"),
        or_key("e", limit="50", remaining="0"),
    ]
    caps = key_caps(keys)
    assert [(c.key_hash, c.percent_remaining) for c in caps] == [("e", D("0.0")), ("a", D("10.0"))]
    assert _runway([snap(NOW, "0")], [], keys=keys).low_keys == caps


def test_huge_runway_has_no_date() -> None:
    runway = _runway([snap(NOW, "0", "1000000000")], _week("0.000001"))
    assert runway.days_left is not None and runway.days_left > 3650
    assert runway.runs_out_on is None


@given(
    st.decimals(min_value=-100, max_value=10000, places=2),
    st.decimals(min_value=0, max_value=1000, places=4),
    st.decimals(min_value=0, max_value=1000, places=4),
)
def test_days_left_never_grows_with_burn(balance: Decimal, burn_a: Decimal, burn_b: Decimal) -> None:
    low, high = sorted([burn_a, burn_b])
    snaps = [snap(NOW, "0", str(balance))]
    slow = _runway(snaps, _week(str(low)))
    fast = _runway(snaps, _week(str(high)))
    if slow.days_left is not None and fast.days_left is not None:
        assert fast.days_left <= slow.days_left
    if fast.runs_out_on is not None and slow.runs_out_on is not None:
        assert fast.runs_out_on <= slow.runs_out_on
