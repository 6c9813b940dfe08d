"""The digest's content from plain spend lines (pure: no store, no Slack)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from aispend.config import parse_config
from aispend.digest.content import (
    CHART_WEEKS,
    AlertEvent,
    Change,
    Digest,
    DigestInputs,
    build_digest,
)
from aispend.digest.weeks import IsoWeek
from aispend.records import Provider
from aispend.spend.attribution import Matcher, build_matcher
from aispend.spend.model import SpendLine
from tests.spend.factories import D, at, oa, orl, team_from_lines

WEEK = IsoWeek(2026, 47)  # Mon Nov 16 .. Sun Nov 22
BEFORE = WEEK.previous()
NOW = at(2026, 11, 23, 8)
CONFIG = parse_config(
    {
        "projects": [
            {
                "name": "search",
                "owner": "U0SEARCH",
                "monthly_budget_usd": 100,
                "openai_projects": ["proj_s"],
                "openrouter_keys": ["hash_s"],
            },
            {"name": "labs", "owner": "U0LABS", "openai_projects": ["proj_l"], "monthly_budget_usd": 10000},
            {"name": "secret", "owner": "U0SECRET", "visibility": "owner", "openai_projects": ["proj_x"]},
        ]
    }
)


def _day(week: IsoWeek, offset: int) -> date:
    return week.start + timedelta(days=offset)


def _lines() -> list[SpendLine]:
    return [
        # search: $30 -> $80, the new spend on gpt-4.1 (a new model) and a shift of routes
        oa(_day(BEFORE, 0), "20", project="proj_s", model="gpt-4o"),
        orl(_day(BEFORE, 1), "8", key="hash_s", model="claude", route="Anthropic"),
        orl(_day(BEFORE, 1), "2", key="hash_s", model="claude", route="Bedrock"),
        oa(_day(WEEK, 0), "20", project="proj_s", model="gpt-4o"),
        oa(_day(WEEK, 2), "50", project="proj_s", model="gpt-4.1"),
        orl(_day(WEEK, 3), "2", key="hash_s", model="claude", route="Anthropic"),
        orl(_day(WEEK, 3), "8", key="hash_s", model="claude", route="Bedrock"),
        # labs: $40 -> $35
        oa(_day(BEFORE, 4), "40", project="proj_l", model="gpt-4o"),
        oa(_day(WEEK, 4), "35", project="proj_l", model="gpt-4o"),
        # secret (owner-only): a huge move the team must not see
        oa(_day(BEFORE, 2), "1", project="proj_x", model="o3"),
        oa(_day(WEEK, 2), "900", project="proj_x", model="o3"),
        # unattributed
        oa(_day(WEEK, 5), "7", project="proj_stray", model="gpt-4o"),
        orl(_day(WEEK, 6), "3", key="hash_stray", model=None, route=None, provisional=True),
        # outside both weeks: ignored
        oa(_day(BEFORE, -1), "1000", project="proj_s", model="gpt-4o"),
    ]


def _daily(lines: Sequence[SpendLine], matcher: Matcher) -> dict[tuple[Provider, str | None, date], Decimal]:
    out: dict[tuple[Provider, str | None, date], Decimal] = {}
    for line in lines:
        key = (line.provider, matcher.project_for(line), line.day)
        out[key] = out.get(key, Decimal(0)) + line.amount
    return out


def _build(lines: list[SpendLine], *, alerts: Sequence[AlertEvent] | None = None) -> Digest:
    matcher = build_matcher(CONFIG.team_projects())
    return build_digest(
        DigestInputs(
            week=WEEK,
            now=NOW,
            matcher=matcher,
            lines=lines,
            daily=_daily(lines, matcher),
            month=team_from_lines(matcher, lines, date(2026, 11, 1), NOW),
            runway=None,
            alerts=alerts,
            last_poll_at=NOW,
        )
    )


def test_totals_per_provider_and_project_leave_owner_only_spend_out() -> None:
    digest = _build(_lines())
    assert digest.total == Change(D(20 + 50 + 2 + 8 + 35 + 7 + 3), D(20 + 8 + 2 + 40))
    assert digest.by_provider["openai"] == Change(D(20 + 50 + 35 + 7), D(20 + 40))
    assert digest.by_provider["openrouter"] == Change(D(2 + 8 + 3), D(8 + 2))
    assert {p.project: p.spend for p in digest.projects} == {
        "search": Change(D(80), D(30)),
        "labs": Change(D(35), D(40)),
    }
    assert digest.unattributed == Change(D(10), D(0))
    assert [(r.kind, r.ref, r.usd) for r in digest.unattributed_refs] == [
        ("openai_project", "proj_stray", D(7)),
        ("openrouter_key", "hash_stray", D(3)),
    ]
    assert digest.hidden_projects == 1
    assert all(b.project != "secret" for b in digest.budgets)


def test_the_lead_is_the_biggest_visible_move_with_the_model_that_drove_it() -> None:
    digest = _build(_lines())
    assert digest.lead is not None
    assert digest.lead.project == "search"
    assert digest.lead.spend.delta == D(50)
    assert digest.lead.why is not None and digest.lead.why.model == "gpt-4.1"
    assert [m.project for m in digest.movers] == ["search", "labs"]


def test_new_models_model_shifts_and_route_shifts() -> None:
    digest = _build(_lines())
    assert [(m.model, m.this_week) for m in digest.new_models] == [("gpt-4.1", D(50))]
    assert digest.new_models[0].is_new
    shifted = {m.model for m in digest.model_shifts}
    assert "gpt-4o" in shifted and "(not yet broken down)" not in shifted
    assert [(r.model, r.route, r.share_before, r.share_now) for r in digest.route_shifts] == [
        ("claude", "Bedrock", D(20), D(80))
    ]


def test_budget_pace_lists_the_over_budget_project_first_and_the_chart_covers_eight_weeks() -> None:
    digest = _build(_lines())
    assert [b.project for b in digest.budgets] == ["search", "labs"]
    assert digest.budgets[0].status == "over"
    chart = digest.chart
    assert len(chart.days) == CHART_WEEKS * 7 and chart.days[-1] == WEEK.end
    # Eight weeks include the $1000 day before the compared weeks; the owner-only $900 is left out.
    assert sum(chart.by_provider["openai"]) == D(20 + 50 + 35 + 7 + 20 + 40 + 1000)
    assert sum(chart.by_provider["openrouter"]) == D(2 + 8 + 3 + 8 + 2)


def test_provisional_days_are_noted() -> None:
    digest = _build(_lines())
    assert digest.provisional_days == (_day(WEEK, 6),)
    assert digest.data_through is None


def test_an_empty_week_is_empty_even_when_the_week_before_had_spend() -> None:
    digest = _build([oa(_day(BEFORE, 0), "20", project="proj_s")])
    assert digest.empty
    assert digest.total == Change(D(0), D(20))
    assert not _build(_lines()).empty


def test_alerts_of_the_week_are_counted_and_owner_only_ones_left_out() -> None:
    inside = at(2026, 11, 18, 10)
    events = [
        AlertEvent("search over budget", "critical", "search", fired_at=inside),
        AlertEvent("credits low", "warning", None, fired_at=at(2026, 11, 10), resolved_at=inside),
        AlertEvent(
            "labs at 80%",
            "warning",
            "labs",
            fired_at=inside,
            acknowledged_at=inside,
            acknowledged_by="U0LABS",
        ),
        AlertEvent("secret spike", "critical", "secret", fired_at=inside),
    ]
    summary = _build(_lines(), alerts=events).alerts
    assert summary is not None
    assert (summary.fired, summary.acknowledged, summary.resolved) == (2, 1, 1)
    assert [e.title for e in summary.open] == ["search over budget", "labs at 80%"]
    assert _build(_lines()).alerts is None
