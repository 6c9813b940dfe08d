"""Alert inputs built with the real spend model (reports, pace, runway), not literal results."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from aispend.alerts.rules import AlertInputs, Evaluation, evaluate
from aispend.clock import month_start
from aispend.config import Config, parse_config
from aispend.reader import EndpointHealth, Health
from aispend.records import CreditSnapshot, OpenRouterKey, PollStatus
from aispend.spend.attribution import build_matcher
from aispend.spend.model import KeyCap, MonthSpend, SpendLine, TeamReport
from aispend.spend.reports import team_report
from aispend.spend.runway import credit_runway, key_caps

D = Decimal
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
OWNER = "U0OWNER"
ADMIN = "U0ADMIN"
STRANGER = "U0STRANGER"

BASE_CONFIG: dict[str, Any] = {
    "alert_channel": "C0ALERTS",
    "poll_interval_minutes": 15,
    "openrouter": {"low_credit_usd": D(50), "low_runway_days": D(7)},
    "projects": [
        {
            "name": "search",
            "owner": OWNER,
            "channel": "C0SEARCH",
            "monthly_budget_usd": D(1000),
            "alert_at_percent": [D(80), D(100)],
            "openai_projects": ["proj_search"],
        },
    ],
    "admins": [ADMIN],
}


def config(**overrides: Any) -> Config:
    return parse_config({**BASE_CONFIG, **overrides})


def flat(days: int, usd: str | Decimal, *, end: date) -> dict[date, Decimal]:
    """``usd`` on each of the ``days`` UTC days ending with ``end`` (inclusive)."""
    return {end - timedelta(days=n): D(usd) for n in range(days)}


def month_report(cfg: Config, daily: Mapping[str, Mapping[date, Decimal]], now: datetime) -> TeamReport:
    """The team report of OpenAI spend ``daily`` per project, through the one report pipeline."""
    first = month_start(now.date())
    projects = [replace(p, openai_projects=("proj_" + p.name,)) for p in cfg.team_projects()]
    days = {
        p.name: {d: v for d, v in daily.get(p.name, {}).items() if first <= d <= now.date()} for p in projects
    }
    lines = [
        SpendLine(provider="openai", day=d, amount=v, project_ref="proj_" + name, model="gpt-4o")
        for name, amounts in days.items()
        for d, v in amounts.items()
    ]
    return team_report(build_matcher(projects), MonthSpend(first, lines, days, {}), now)


def runway(
    now: datetime,
    *,
    balance: str | Decimal | None,
    burn: str | Decimal = "0",
    age: timedelta = timedelta(minutes=5),
) -> Any:
    """A real ``credit_runway`` from two ``/credits`` snapshots 24 h apart."""
    if balance is None:
        return credit_runway([], [], [], now, low_credit_usd=D(50), low_runway_days=D(7))
    taken = now - age
    credits = D(1000)
    latest = CreditSnapshot(taken, credits, credits - D(balance))
    earlier = CreditSnapshot(taken - timedelta(hours=24), credits, credits - D(balance) - D(burn))
    return credit_runway([earlier, latest], [], [], now, low_credit_usd=D(50), low_runway_days=D(7))


def caps(*keys: tuple[str, str, str]) -> tuple[KeyCap, ...]:
    """(hash, limit, remaining) → every capped key, as the service hands them over."""
    records = [
        OpenRouterKey(
            hash=h,
            name=h + "-name",
            label=None,
            disabled=False,
            limit=D(limit),
            limit_remaining=D(left),
            limit_reset=None,
            usage=D(0),
            usage_daily=D(0),
            usage_weekly=D(0),
            usage_monthly=D(0),
            byok_usage=D(0),
        )
        for h, limit, left in keys
    ]
    return key_caps(records, threshold_percent=D(1000))


def health(now: datetime, *rows: tuple[str, str, str, timedelta | None]) -> Health:
    """(provider/endpoint, last_status, error, age of last success or None)."""
    endpoints = []
    for name, status, error, age in rows:
        provider, endpoint = name.split("/")
        endpoints.append(
            EndpointHealth(
                provider=provider,  # type: ignore[arg-type]
                endpoint=endpoint,
                last_status=PollStatus(status),
                last_attempt_at=now - timedelta(minutes=1),
                last_success_at=None if age is None else now - age,
                error=error or None,
            )
        )
    return Health(database_ok=True, last_poll_at=now, endpoints=tuple(endpoints), key_level_costs=True)


def inputs(
    cfg: Config,
    now: datetime = NOW,
    *,
    daily: Mapping[str, Mapping[date, Decimal]] | None = None,
    balance: str | Decimal | None = "500",
    burn: str | Decimal = "10",
    snapshot_age: timedelta = timedelta(minutes=5),
    key_caps: tuple[KeyCap, ...] | None = (),
    health: Health | None = None,
    no_health: bool = False,
) -> AlertInputs:
    daily = daily or {}
    return AlertInputs(
        now=now,
        month=month_report(cfg, daily, now),
        runway=runway(now, balance=balance, burn=burn, age=snapshot_age),
        key_caps=key_caps,
        endpoints=None if no_health else (health.endpoints if health is not None else ()),
        recent_daily=daily,
    )


def run_rules(inputs: AlertInputs, cfg: Config) -> Evaluation:
    return evaluate(inputs, cfg.team_projects(), cfg.alert_settings())
