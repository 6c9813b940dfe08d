"""JSON-ready dicts for ``aispend spend --json`` and ``aispend credits --json`` (DESIGN.md §4).

Amounts are decimal *strings*, never floats: a float would lose the digits the report is exact to,
and consumers (spreadsheets, jq, finance scripts) can parse a string into their own decimal type.
Days are ``YYYY-MM-DD``, months ``YYYY-MM``, instants ``YYYY-MM-DDTHH:MM:SSZ`` (UTC).
The output contains only ``str``, ``int``, ``bool``, ``None``, ``list`` and ``dict``, so
``json.dumps`` needs no custom encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal
from typing import Any

from aispend.clock import ensure_utc
from aispend.money import usd_str
from aispend.records import PROVIDERS
from aispend.spend.model import Mover, ProjectReport, Runway, TeamReport, Unattributed

__all__ = ["instant_str", "movers_json", "project_json", "runway_json", "team_json", "unattributed_json"]

_CENT = Decimal("0.01")


def instant_str(moment: datetime) -> str:
    return ensure_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def _day(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def _opt(amount: Decimal | None, places: int | None = None) -> str | None:
    return None if amount is None else usd_str(amount, places)


def _pct(value: Decimal | None) -> str | None:
    """Percentages keep their one decimal place (``"50.0"``), as shown in Slack."""
    return None if value is None else format(value, "f")


def _forecast(amount: Decimal | None) -> str | None:
    """Cents, rounded up: a forecast shown below the amount already spent would look wrong."""
    return None if amount is None else usd_str(amount.quantize(_CENT, rounding=ROUND_CEILING))


def project_json(report: ProjectReport) -> dict[str, Any]:
    """One project's report: the DESIGN.md §4 keys plus pace details, details and the daily series."""
    pace = report.pace
    return {
        "project": report.project,
        "month": report.month.strftime("%Y-%m"),
        "as_of": instant_str(report.as_of),
        "owner": report.owner,
        "total_usd": usd_str(report.total),
        "budget_usd": _opt(pace.budget),
        "forecast_usd": _forecast(pace.forecast),
        "pace": pace.status,
        "by_provider": {p: usd_str(report.by_provider.get(p, Decimal(0))) for p in PROVIDERS},
        "by_model": [
            {"provider": m.provider, "model": m.model, "usd": usd_str(m.usd)} for m in report.by_model
        ],
        "provisional_since": _day(report.provisional_since),
        "used_percent": _pct(pace.used_percent),
        "crosses_on": _day(pace.crosses_on),
        "daily_rate_usd": _opt(pace.daily_rate, 2),
        "days_of_data": pace.days_of_data,
        "channel": report.channel,
        "by_detail": [
            {"provider": d.provider, "detail": d.billed_item, "usd": usd_str(d.usd)}
            for d in report.by_billed_item
        ],
        "daily": [
            {"day": p.day.isoformat(), "usd": usd_str(p.usd), "provisional": p.provisional}
            for p in report.daily
        ],
    }


def unattributed_json(unattributed: Unattributed) -> dict[str, Any]:
    """``{"openai": "…", "openrouter": "…", "refs": [...]}``: what to add to the config."""
    out: dict[str, Any] = {p: usd_str(unattributed.by_provider.get(p, Decimal(0))) for p in PROVIDERS}
    out["refs"] = [
        {"provider": r.provider, "kind": r.kind, "ref": r.ref, "name": r.name, "usd": usd_str(r.usd)}
        for r in unattributed.refs
    ]
    return out


def team_json(report: TeamReport) -> dict[str, Any]:
    """All projects: ``{"month", "as_of", "projects": [...], "unattributed": {...}, "total_usd",
    "by_provider"}``; provider totals equal projects plus unattributed."""
    return {
        "month": report.month.strftime("%Y-%m"),
        "as_of": instant_str(report.as_of),
        "projects": [project_json(p) for p in report.projects],
        "unattributed": unattributed_json(report.unattributed),
        "total_usd": usd_str(report.total),
        "by_provider": {p: usd_str(report.provider_totals.get(p, Decimal(0))) for p in PROVIDERS},
    }


def movers_json(movers: Sequence[Mover]) -> list[dict[str, Any]]:
    """Week-over-week movers (7 complete UTC days vs the 7 before), largest change first."""
    return [
        {
            "project": m.project,
            "this_week_usd": usd_str(m.this_week),
            "last_week_usd": usd_str(m.last_week),
            "delta_usd": usd_str(m.delta),
            "delta_percent": _opt(m.delta_percent),
        }
        for m in movers
    ]


def runway_json(runway: Runway) -> dict[str, Any]:
    """The OpenRouter credit runway for ``aispend credits --json``."""
    return {
        "as_of": instant_str(runway.as_of),
        "snapshot_at": None if runway.snapshot_at is None else instant_str(runway.snapshot_at),
        "balance_usd": _opt(runway.balance),
        "burn_per_day_usd": _opt(runway.burn_per_day, 2),
        "burn_24h_usd": _opt(runway.burn_24h, 2),
        "burn_7d_usd": _opt(runway.burn_7d, 2),
        "basis": runway.basis,
        "confidence": runway.confidence,
        "days_left": _opt(runway.days_left),
        "runs_out_on": _day(runway.runs_out_on),
        "stale": runway.stale,
        "status": runway.status,
        "low_keys": [
            {
                "key_hash": k.key_hash,
                "name": k.name,
                "limit_usd": usd_str(k.limit),
                "limit_remaining_usd": usd_str(k.limit_remaining),
                "percent_remaining": _pct(k.percent_remaining),
            }
            for k in runway.low_keys
        ],
    }
