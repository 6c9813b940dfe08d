"""JSON-ready dicts for ``aispend spend --json`` and ``aispend credits --json`` (the README's "Commands").

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
from aispend.records import PROVIDERS, Provider
from aispend.spend.model import (
    DataStatus,
    Mover,
    ProjectReport,
    Runway,
    TeamReport,
    Unattributed,
    Units,
    shown_providers,
)

__all__ = [
    "by_provider_json",
    "instant_str",
    "movers_json",
    "project_json",
    "provider_status_json",
    "runway_json",
    "team_json",
    "unattributed_json",
    "units_json",
]

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


def by_provider_json(amounts: dict[Provider, Decimal], data: DataStatus) -> dict[str, str | None]:
    """Configured providers only; ``null`` for a provider without data (unknown is not zero)."""
    return {p: usd_str(amounts[p]) if p in amounts else None for p in shown_providers(data)}


def provider_status_json(data: DataStatus) -> dict[str, str]:
    """``{"openai": "no_permission", "openrouter": "ok"}``; ``ok`` for all without a status."""
    return {p: data[p].state if p in data else "ok" for p in PROVIDERS}


def project_json(report: ProjectReport) -> dict[str, Any]:
    """One project's report: the README's keys plus pace details, details and the daily series.

    ``total_usd`` is ``null`` when no provider has data; ``by_provider`` names configured
    providers only, ``null`` where the figure is unknown; ``provider_status`` says why.
    """
    pace = report.pace
    return {
        "project": report.project,
        "month": report.month.strftime("%Y-%m"),
        "as_of": instant_str(report.as_of),
        "owner": report.owner,
        "total_usd": usd_str(report.total) if report.known else None,
        "budget_usd": _opt(pace.budget),
        "forecast_usd": _forecast(pace.forecast),
        "pace": pace.status,
        "by_provider": by_provider_json(report.by_provider, report.data),
        "provider_status": provider_status_json(report.data),
        "pace_left_out": list(pace.left_out),
        "by_model": _by_model(report),
        "tokens": None if report.unit_totals is None else units_json(report.unit_totals),
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


def unattributed_json(unattributed: Unattributed, data: DataStatus | None = None) -> dict[str, Any]:
    """``{"openai": "…", "openrouter": "…", "refs": [...]}``: what to add to the config
    (``null`` for a provider without data, none for an unconfigured one)."""
    out: dict[str, Any] = dict(by_provider_json(unattributed.by_provider, data or {}))
    out["refs"] = [
        {
            "provider": r.provider,
            "kind": r.kind,
            "ref": r.ref,
            "name": r.name,
            "usd": usd_str(r.usd),
            "workspace": r.workspace,
        }
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
        "unattributed": unattributed_json(report.unattributed, report.data),
        "total_usd": usd_str(report.total) if report.known else None,
        "by_provider": by_provider_json(report.provider_totals, report.data),
        "provider_status": provider_status_json(report.data),
        "by_model_tokens": [units_json(u) for u in report.units],
    }


def units_json(units: Units) -> dict[str, Any]:
    """Tokens, requests and unit costs (``null`` where a provider does not report a figure or
    where dollars or tokens are missing; unit costs are never estimated from prices)."""
    out: dict[str, Any] = {}
    if units.model is not None:
        out["provider"] = units.provider
        out["model"] = units.model
        out["usd"] = _opt(units.usd)
    out.update(
        {
            "requests": units.requests,
            "input_tokens": units.input_tokens,
            "cached_input_tokens": units.cached_input_tokens,
            "output_tokens": units.output_tokens,
            "reasoning_tokens": units.reasoning_tokens,
            "usd_per_request": _opt(units.usd_per_request, 6),
            "usd_per_million_tokens": _opt(units.usd_per_million_tokens, 4),
            "cached_input_percent": _pct(units.cached_share),
        }
    )
    return out


def _by_model(report: ProjectReport) -> list[dict[str, Any]]:
    """The README's ``by_model`` items, each with the model's tokens and unit costs when read."""
    units = {(u.provider, u.model): u for u in report.units}
    out = []
    for m in report.by_model:
        item: dict[str, Any] = {"provider": m.provider, "model": m.model, "usd": usd_str(m.usd)}
        found = units.get((m.provider, m.model))
        if found is not None:
            item.update({k: v for k, v in units_json(found).items() if k not in item})
        out.append(item)
    return out


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
        "credits_status": "ok" if runway.data is None else runway.data.state,
        "byok_per_day_usd": _opt(runway.byok_7d, 2),
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
