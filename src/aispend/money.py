"""Exact money.

Providers send dollars as JSON numbers (OpenAI: ``0.00032195744715549047``). Parsing them as
``float`` would already lose digits, so provider JSON is decoded with ``parse_float=Decimal`` and
money stays ``Decimal`` in code. Databases store **integer nano-dollars**: SQLite has no decimal
type (its NUMERIC is a float), and an integer column sums exactly on SQLite and PostgreSQL alike.
Digits below one nano-dollar are rounded half-even when a value is stored; that is at most
$0.0000000005 a row, far below the cent the product promises.
"""

from __future__ import annotations

import json
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

NANOS_PER_USD = 1_000_000_000
_NANO = Decimal(1).scaleb(-9)
ZERO = Decimal(0)
# The largest amount one provider value may carry. Stored as nano-dollars in a signed 64-bit
# column, anything from about $9.2e9 up cannot be stored at all, and sums of a few such values
# overflow the rollups; no team's single cost line, key or balance comes near a billion dollars,
# so a value this large is a provider bug and is refused (README "Limits") rather than stored.
MAX_PROVIDER_USD = Decimal(1_000_000_000)


class MoneyError(ValueError):
    """A value that should be an amount of money is not a finite number."""


def to_decimal(value: object) -> Decimal:
    """Coerce a provider value (Decimal, int, numeric string) to ``Decimal``; refuse floats.

    Floats are refused on purpose: by the time a float exists the exact digits are gone. Decode
    JSON with :func:`loads_exact` instead.
    """
    if isinstance(value, bool):
        raise MoneyError(f"not an amount: {value!r}")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        try:
            result = Decimal(value.strip())
        except InvalidOperation as exc:
            raise MoneyError(f"not an amount: {value!r}") from exc
    else:
        raise MoneyError(f"not an amount: {value!r} ({type(value).__name__})")
    if not result.is_finite():
        raise MoneyError(f"not a finite amount: {value!r}")
    return result


def plausible(amount: Decimal) -> Decimal:
    """``amount`` itself, or :class:`MoneyError` when it is too large to be a real figure."""
    if abs(amount) > MAX_PROVIDER_USD:
        raise MoneyError(
            f"{usd_str(amount)} USD is outside the accepted range "
            f"(at most {fmt_usd(MAX_PROVIDER_USD)} in one value)"
        )
    return amount


def to_nanos(amount: Decimal) -> int:
    """Dollars → integer nano-dollars (half-even below one nano-dollar)."""
    return int((amount * NANOS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def from_nanos(nanos: int) -> Decimal:
    """Integer nano-dollars → dollars, with exactly nine decimal places."""
    return (Decimal(nanos) * _NANO).quantize(_NANO)


def usd_str(amount: Decimal, places: int | None = None) -> str:
    """Plain decimal string for JSON output: never exponent notation, never a float."""
    value = amount if places is None else amount.quantize(Decimal(1).scaleb(-places), ROUND_HALF_EVEN)
    if places is None:
        value = value.normalize() if value != 0 else Decimal(0)
        if value == value.to_integral_value():
            value = value.quantize(Decimal(1))
    return format(value, "f")


def fmt_usd(amount: Decimal) -> str:
    """Human display to the cent with thousands separators: ``$1,234.57`` / ``-$3.10``."""
    cents = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    sign = "-" if cents < 0 else ""
    return f"{sign}${abs(cents):,.2f}"


def json_decimal(text: str) -> Decimal:
    """``parse_float`` for provider JSON: the wire text as a ``Decimal``, never a float.

    ``Decimal`` raises ``InvalidOperation`` (an ``ArithmeticError``) for an exponent beyond its
    context (``1e999999999999999999``); as a ``ValueError`` it is refused like any other malformed
    body instead of escaping the JSON error handling.
    """
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"number out of range: {text[:40]}") from None


def loads_exact(data: str | bytes) -> Any:
    """``json.loads`` that decodes every non-integer number as ``Decimal``."""
    return json.loads(data, parse_float=json_decimal)
