"""Pure spend domain: attribution, month reports, budget pace, credit runway, model mix, routes.

Plain records in (``SpendLine``, ``KeyDay``, ``Directory``, provider records, ``ProjectConfig``),
plain results out (``aispend.spend.model``). No Slack, HTTP, SQL or clock reads: callers pass
``now``, so every function is deterministic and testable.
"""

from aispend.spend.attribution import Attribution, Matcher, attribute, build_matcher
from aispend.spend.export import instant_str, month_json, project_json, runway_json, unattributed_json
from aispend.spend.mix import Weeks, model_mix, movers, route_costs, weeks
from aispend.spend.pace import budget_pace
from aispend.spend.reports import (
    NOT_BROKEN_DOWN,
    UNSPECIFIED,
    build_project_report,
    daily_by_project,
    fill_openrouter_gaps,
    mark_provisional,
    month_report,
    month_window,
    prepare_lines,
    project_report,
)
from aispend.spend.runway import burn_7d, burn_24h, credit_runway, key_caps

__all__ = [
    "NOT_BROKEN_DOWN",
    "UNSPECIFIED",
    "Attribution",
    "Matcher",
    "Weeks",
    "attribute",
    "budget_pace",
    "build_matcher",
    "build_project_report",
    "burn_7d",
    "burn_24h",
    "credit_runway",
    "daily_by_project",
    "fill_openrouter_gaps",
    "instant_str",
    "key_caps",
    "mark_provisional",
    "model_mix",
    "month_json",
    "month_report",
    "month_window",
    "movers",
    "prepare_lines",
    "project_json",
    "project_report",
    "route_costs",
    "runway_json",
    "unattributed_json",
    "weeks",
]
