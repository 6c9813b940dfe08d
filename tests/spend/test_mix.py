from __future__ import annotations

from datetime import date, timedelta

import pytest

from aispend.spend.attribution import build_matcher
from aispend.spend.mix import model_mix, movers, route_costs, weeks
from aispend.spend.reports import NOT_BROKEN_DOWN

from .factories import D, activity, at, oa, orl, project

NOW = at(2026, 11, 27, 12)  # this week: Nov 20..26, last week: Nov 13..19
TODAY = NOW.date()
MATCHER = build_matcher(
    [
        project("search", openai_projects=("proj_a",)),
        project("chat", openrouter_keys=("hash_a",)),
        project("idle", openai_projects=("proj_idle",)),
    ]
)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def test_windows_end_yesterday() -> None:
    wk = weeks(NOW)
    assert (wk.this_start.day, wk.this_end.day, wk.last_start.day, wk.last_end.day) == (20, 26, 13, 19)
    # across a month end and the Berlin DST change, windows are plain UTC days
    wk = weeks(at(2026, 11, 1, 0, 5))
    assert (wk.this_start.isoformat(), wk.this_end.isoformat()) == ("2026-10-25", "2026-10-31")


def test_model_mix_shares_shifts_and_new_models() -> None:
    lines = [
        oa(ago(1), "30", model="gpt-4o"),
        oa(ago(7), "10", model="gpt-4o"),
        orl(ago(2), "60", model="anthropic/claude-opus-4"),
        orl(ago(0), "999", model="anthropic/claude-opus-4"),  # today: not in either week
        oa(ago(8), "80", model="gpt-4o"),
        oa(ago(14), "20", model="o3"),
        oa(ago(15), "999", model="o3"),  # before last week
        orl(ago(3), "0", model=None, provisional=True),
    ]
    mix = model_mix(lines, NOW)
    assert mix.week_start == ago(7)
    assert (mix.this_week, mix.last_week) == (D(100), D(100))
    rows = {(m.provider, m.model): m for m in mix.models}
    opus = rows[("openrouter", "anthropic/claude-opus-4")]
    assert (opus.share_now, opus.share_before, opus.shift_pp, opus.is_new) == (D(60), D(0), D(60), True)
    gpt = rows[("openai", "gpt-4o")]
    assert (gpt.this_week, gpt.last_week, gpt.share_now, gpt.share_before, gpt.shift_pp) == (
        D(40),
        D(80),
        D("40.0"),
        D("80.0"),
        D("-40.0"),
    )
    assert not gpt.is_new
    o3 = rows[("openai", "o3")]
    assert (o3.share_now, o3.shift_pp, o3.is_new) == (D(0), D("-20.0"), False)
    assert not rows[("openrouter", NOT_BROKEN_DOWN)].is_new  # zero spend is not "new"
    assert mix.models[0].model == "anthropic/claude-opus-4"


def test_model_mix_for_one_project() -> None:
    lines = [oa(ago(1), "30"), oa(ago(1), "5", project="proj_other"), orl(ago(1), "60")]
    mix = model_mix(lines, NOW, project="Search", matcher=MATCHER)
    assert mix.project == "search"
    assert mix.this_week == D(30)
    with pytest.raises(ValueError):
        model_mix(lines, NOW, project="search")
    with pytest.raises(KeyError):
        model_mix(lines, NOW, project="nope", matcher=MATCHER)


def test_routes_per_model_and_provider() -> None:
    rows = [
        activity(
            ago(1),
            "3",
            model="m/a",
            provider_name="P1",
            requests=2,
            prompt=1000,
            completion=500,
            reasoning=400,
        ),
        activity(ago(2), "1", model="m/a", provider_name="P2", requests=1, prompt=400, completion=100),
        activity(ago(3), "5", model="m/b", provider_name="P1", requests=1, byok="2"),
        activity(ago(8), "100", model="m/a", provider_name="P1"),  # outside the window
        activity(ago(0), "100", model="m/a", provider_name="P1"),  # today: activity has no today
    ]
    report = route_costs(rows, NOW)
    assert (report.start, report.end) == (ago(7), ago(1))
    got = [(r.model, r.provider_name, r.usd, r.requests, r.tokens, r.share_of_model) for r in report.routes]
    assert got == [
        ("m/b", "P1", D(5), 1, 0, D("100.0")),
        ("m/a", "P1", D(3), 2, 1500, D("75.0")),
        ("m/a", "P2", D(1), 1, 500, D("25.0")),
    ]
    assert report.routes[0].usd_per_million_tokens is None
    assert report.routes[0].byok_usd == D(2)
    assert report.routes[1].usd_per_million_tokens == D("2000.0000")


def test_routes_from_spend_lines_skip_unbroken_days() -> None:
    lines = [
        orl(ago(1), "2", model="m/a", route="P1"),
        orl(ago(1), "5", model=None, route=None),
        oa(ago(1), "9"),
    ]
    report = route_costs(lines, NOW)
    assert [(r.model, r.provider_name, r.usd) for r in report.routes] == [("m/a", "P1", D(2))]


def test_movers_by_absolute_delta() -> None:
    lines = [
        oa(ago(1), "50"),
        oa(ago(9), "10"),
        orl(ago(2), "5"),
        orl(ago(10), "40"),
        oa(ago(3), "1000", project="proj_stray"),  # unattributed: not a project mover
    ]
    found = movers(lines, MATCHER, NOW)
    assert [(m.project, m.delta, m.delta_percent) for m in found] == [
        ("search", D(40), D("400.0")),
        ("chat", D(-35), D("-87.5")),
    ]
    assert movers(lines, MATCHER, NOW, limit=1)[0].project == "search"
    fresh = movers([oa(ago(1), "5")], MATCHER, NOW)
    assert fresh[0].delta_percent is None
