"""OpenRouter prepaid-credit runway: how many days until requests start failing with 402.

Method (conservative on purpose: running out is worse than an early warning):

* **balance** = ``total_credits − total_usage`` of the newest ``/credits`` snapshot (may be < 0).
* **burn_24h** = usage growth between the newest snapshot and the snapshot closest to 24 h before
  it, scaled to 24 h. It needs the two snapshots to span at least 6 h (shorter spans are dominated
  by bursts) and at most 48 h (a week-old snapshot would not be a "last 24 h" rate any more).
* **burn_7d** = average daily OpenRouter spend over the last 7 complete UTC days, from the
  (gap-filled) spend lines. When history is shorter than 7 days the average is over the days since
  the first OpenRouter line, so a new account is not diluted by days before it existed.
* **burn_per_day** = the higher of the two (``basis`` says which): a sudden surge shows up in the
  24 h rate, a quiet day does not hide a busy week.
* **confidence**: ``none`` without any rate; ``low`` when fewer than 3 days of spend history
  exist (whatever the rates); ``high`` with both rates and ≥ 7 days of history; else ``medium``.
* **days_left** = balance ÷ burn, rounded down to 0.01 (None without a positive burn; 0 when the
  balance is already used up); **runs_out_on** = the UTC day the balance reaches zero, counted from
  the snapshot time.
* **stale** when the newest snapshot is older than ``stale_after`` (default 2 h).
* **status**, first match wins: ``unknown`` (no snapshot), ``depleted`` (balance ≤ 0), ``low``
  (balance < ``low_credit_usd`` or days_left < ``low_runway_days``), ``stale``, ``ok``. A stale
  reading that is already low is still reported as low: it has only become lower since.

Key caps are separate from the account balance: a key with its own ``limit`` whose
``limit_remaining`` is under 10 % of it will fail first, even with credits left.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

from aispend.clock import ensure_utc
from aispend.records import CreditSnapshot, OpenRouterKey
from aispend.spend.model import Confidence, KeyCap, Runway, RunwayStatus, SpendLine
from aispend.spend.pace import days_between

__all__ = ["burn_7d", "burn_24h", "credit_runway", "key_caps"]

_ZERO = Decimal(0)
_DAY = timedelta(days=1)
_MIN_SPAN = timedelta(hours=6)
_MAX_SPAN = timedelta(hours=48)
_MAX_DAYS_LEFT = Decimal(3650)  # beyond ten years a run-out date means nothing
_CENT_DAY = Decimal("0.01")


def burn_24h(snapshots: Sequence[CreditSnapshot]) -> Decimal | None:
    """USD per day from the newest snapshot and the one closest to 24 h before it (see module)."""
    if len(snapshots) < 2:
        return None
    ordered = sorted(snapshots, key=lambda s: ensure_utc(s.taken_at))
    latest = ordered[-1]
    latest_at = ensure_utc(latest.taken_at)
    target = latest_at - _DAY
    candidates = [s for s in ordered[:-1] if _MIN_SPAN <= latest_at - ensure_utc(s.taken_at) <= _MAX_SPAN]
    if not candidates:
        return None
    base = min(candidates, key=lambda s: abs(ensure_utc(s.taken_at) - target))
    span_days = days_between(ensure_utc(base.taken_at), latest_at)
    return max(_ZERO, (latest.total_usage - base.total_usage) / span_days)


def burn_7d(lines: Iterable[SpendLine], now: datetime) -> tuple[Decimal | None, int]:
    """(average daily OpenRouter spend over the last 7 complete UTC days, days of history used).

    History starts at the first OpenRouter line seen (any day); non-OpenRouter lines are ignored.
    """
    today = ensure_utc(now).date()
    start = today - 7 * _DAY
    first_seen: date | None = None
    total = _ZERO
    for line in lines:
        if line.provider != "openrouter":
            continue
        if first_seen is None or line.day < first_seen:
            first_seen = line.day
        if start <= line.day < today:
            total += line.amount
    if first_seen is None or first_seen >= today:
        return None, 0
    days = min(7, (today - max(first_seen, start)).days)
    return max(_ZERO, total / days), days


def key_caps(keys: Iterable[OpenRouterKey], threshold_percent: Decimal = Decimal(10)) -> tuple[KeyCap, ...]:
    """Enabled keys with a positive cap whose remaining cap is under ``threshold_percent`` of it,
    fewest percent left first."""
    caps: list[KeyCap] = []
    for key in keys:
        if key.disabled or key.limit is None or key.limit_remaining is None or key.limit <= 0:
            continue
        if key.limit_remaining * 100 < threshold_percent * key.limit:
            caps.append(
                KeyCap(
                    key_hash=key.hash,
                    name=key.name or key.label,
                    limit=key.limit,
                    limit_remaining=key.limit_remaining,
                    percent_remaining=(key.limit_remaining * 100 / key.limit).quantize(
                        Decimal("0.1"), rounding=ROUND_HALF_UP
                    ),
                )
            )
    caps.sort(key=lambda c: (c.percent_remaining, c.key_hash))
    return tuple(caps)


def _burn(r24: Decimal | None, r7: Decimal | None) -> tuple[Decimal | None, Literal["24h", "7d"] | None]:
    """The higher of the two rates, and which one it is: a sudden spike must not hide behind
    a quiet week."""
    if r24 is not None and (r7 is None or r24 > r7):
        return r24, "24h"
    if r7 is not None:
        return r7, "7d"
    return None, None


def _confidence(
    burn: Decimal | None, r24: Decimal | None, r7: Decimal | None, history_days: int
) -> Confidence:
    if burn is None:
        return "none"
    if history_days < 3:
        return "low"
    if r24 is not None and r7 is not None and history_days >= 7:
        return "high"
    return "medium"


def _time_left(
    balance: Decimal, burn: Decimal | None, snapshot_at: datetime
) -> tuple[Decimal | None, date | None]:
    """Days the balance lasts at ``burn`` and the UTC day it runs out (None past ten years)."""
    if balance <= 0:
        return _ZERO, snapshot_at.date()
    if burn is None or burn <= 0:
        return None, None
    days_left = (balance / burn).quantize(_CENT_DAY, rounding=ROUND_FLOOR)
    if days_left > _MAX_DAYS_LEFT:
        return days_left, None
    seconds = int(balance / burn * 86_400)
    return days_left, (snapshot_at + timedelta(seconds=seconds)).date()


def _status(
    balance: Decimal,
    days_left: Decimal | None,
    stale: bool,
    low_credit_usd: Decimal,
    low_runway_days: Decimal,
) -> RunwayStatus:
    if balance <= 0:
        return "depleted"
    if balance < low_credit_usd or (days_left is not None and days_left < low_runway_days):
        return "low"
    if stale:
        return "stale"
    return "ok"


def credit_runway(
    snapshots: Sequence[CreditSnapshot],
    lines: Iterable[SpendLine],
    keys: Iterable[OpenRouterKey],
    now: datetime,
    *,
    low_credit_usd: Decimal,
    low_runway_days: Decimal,
    stale_after: timedelta = timedelta(hours=2),
    cap_threshold_percent: Decimal = Decimal(10),
) -> Runway:
    """The credit runway at ``now`` (method in the module docstring).

    ``snapshots``: stored ``/credits`` readings, at least the last ~48 h; ``lines``: stored
    OpenRouter spend lines plus their provisional fills
    (:func:`aispend.spend.reports.fill_openrouter_gaps`) for at least the last 8 UTC days;
    ``keys``: the latest ``/keys`` listing; thresholds from ``config.openrouter``.
    """
    now = ensure_utc(now)
    r24 = burn_24h(snapshots)
    r7, history_days = burn_7d(lines, now)
    latest = max(snapshots, key=lambda s: ensure_utc(s.taken_at), default=None)
    snapshot_at: datetime | None = None
    balance: Decimal | None = None
    burn: Decimal | None = None
    basis: Literal["24h", "7d"] | None = None
    confidence: Confidence = "none"
    days_left: Decimal | None = None
    runs_out_on: date | None = None
    stale = True
    status: RunwayStatus = "unknown"
    if latest is not None:  # without a balance there is no runway, whatever the burn
        snapshot_at = ensure_utc(latest.taken_at)
        balance = latest.balance
        burn, basis = _burn(r24, r7)
        confidence = _confidence(burn, r24, r7, history_days)
        days_left, runs_out_on = _time_left(balance, burn, snapshot_at)
        stale = now - snapshot_at > stale_after
        status = _status(balance, days_left, stale, low_credit_usd, low_runway_days)
    return Runway(
        as_of=now,
        snapshot_at=snapshot_at,
        balance=balance,
        burn_per_day=burn,
        burn_24h=r24,
        burn_7d=r7,
        basis=basis,
        confidence=confidence,
        days_left=days_left,
        runs_out_on=runs_out_on,
        stale=stale,
        status=status,
        low_keys=key_caps(keys, cap_threshold_percent),
    )
