"""Exact money helpers."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aispend.money import MoneyError, fmt_usd, from_nanos, loads_exact, to_decimal, to_nanos, usd_str


def test_provider_floats_keep_every_digit() -> None:
    body = loads_exact('{"amount": {"value": 0.00032195744715549047}}')
    assert body["amount"]["value"] == Decimal("0.00032195744715549047")
    assert to_nanos(body["amount"]["value"]) == 321_957  # 321957.447… rounded below a nano-dollar


def test_floats_are_refused() -> None:
    with pytest.raises(MoneyError):
        to_decimal(0.1)
    with pytest.raises(MoneyError):
        to_decimal("NaN")
    with pytest.raises(MoneyError):
        to_decimal(True)


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=9, allow_nan=False, allow_infinity=False))
def test_nanos_round_trip_exactly(amount: Decimal) -> None:
    assert from_nanos(to_nanos(amount)) == amount


def test_display_and_json_strings() -> None:
    assert fmt_usd(Decimal("1234.565")) == "$1,234.56"  # half-even
    assert fmt_usd(Decimal("-3.1")) == "-$3.10"
    assert usd_str(Decimal("600.000000000")) == "600"
    assert usd_str(Decimal("0.000000001")) == "0.000000001"
    assert usd_str(Decimal("1E+3")) == "1000"
    assert usd_str(Decimal("1371.745"), 2) == "1371.74"


def test_a_number_beyond_decimals_range_is_a_malformed_body_not_an_arithmetic_error() -> None:
    with pytest.raises(ValueError, match="number out of range"):
        loads_exact(b'{"data": [{"amount": 10e0999999999999999999}]}')
