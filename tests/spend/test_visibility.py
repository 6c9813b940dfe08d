"""Audiences and views: who sees which project, and team-wide figures without the hidden ones.

The filtering happens by attribution before aggregation, so the checks compare each filtered
figure with the same aggregation over the visible lines alone (never with hard-coded totals where
the rule is "the same as if the hidden lines did not exist").
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aispend.records import PROVIDERS
from aispend.spend.attribution import build_matcher
from aispend.spend.mix import model_mix, movers, route_costs
from aispend.spend.model import Directory, SpendLine, UsageLine
from aispend.spend.runway import credit_runway
from aispend.spend.units import model_units, team_models
from aispend.spend.visibility import (
    OPERATOR,
    Audience,
    View,
    may_see,
    view_for,
    visible_runway,
    visible_team,
    visible_units,
)

from .factories import D, activity, at, oa, or_key, orl, project, snap, team_from_lines

NOW = at(2026, 11, 27, 12)  # this week: Nov 20..26, last week: Nov 13..19
TODAY = NOW.date()
ADMIN = "U0ADMIN"
OWNER = "U0OWNER"
STRANGER = "U0STRANGER"
PROJECTS = (
    project("search", owner="U0SEARCH", openai_projects=("proj_a",), openrouter_keys=("hash_a",)),
    project(
        "secret", owner=OWNER, visibility="owner", openai_projects=("proj_s",), openrouter_keys=("hash_s",)
    ),
    project("grouped", owner="S0GROUP", visibility="owner", openai_projects=("proj_g",)),
    project("quiet", owner=OWNER, visibility="owner"),
)
MATCHER = build_matcher(PROJECTS, Directory(openrouter_keys={"hash_s": "secret-key"}))
ADMINS = (ADMIN,)


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def view(audience: Audience) -> View:
    return view_for(PROJECTS, audience, ADMINS)


@pytest.mark.parametrize(
    ("name", "audience", "visible"),
    [
        ("search", Audience.user(STRANGER), True),  # public: everyone
        ("search", Audience.channel("C1"), True),
        ("secret", Audience.user(OWNER), True),  # the owner
        ("secret", Audience.user(ADMIN), True),  # an admin
        ("secret", Audience.user(STRANGER), False),
        ("secret", Audience.user("U0SEARCH"), False),  # owning another project does not help
        ("secret", Audience.channel("C1"), False),  # a channel: its least-privileged member
        ("secret", Audience.channel(), False),
        ("secret", OPERATOR, True),  # the CLI
        ("grouped", Audience.user("S0GROUP"), False),  # a group id is never a user id
        ("grouped", Audience.user(STRANGER), False),  # membership unknown: admins only
        ("grouped", Audience.user(ADMIN), True),
        ("grouped", OPERATOR, True),
    ],
)
def test_may_see(name: str, audience: Audience, visible: bool) -> None:
    config = next(p for p in PROJECTS if p.name == name)
    assert may_see(config, audience, ADMINS) is visible
    assert view(audience).admits(name) is visible


def test_a_view_lists_hidden_projects_in_config_order_and_admits_unattributed() -> None:
    stranger = view(Audience.user(STRANGER))
    assert stranger.visible == {"search"} and stranger.hidden == ("secret", "grouped", "quiet")
    assert not stranger.complete and stranger.admits(None)
    assert not stranger.admits("renamed-since")  # a whitelist: unknown names stay hidden
    assert view(Audience.user(OWNER)).hidden == ("grouped",)
    assert view(Audience.user(ADMIN)).complete and view(OPERATOR).complete
    assert Audience.channel("C1").shared and not Audience.user(OWNER).shared and not OPERATOR.shared


def _mix_lines() -> list[SpendLine]:
    return [
        oa(ago(1), "60", project="proj_a", model="gpt-4o"),
        oa(ago(2), "40", project="proj_s", model="secret-model"),  # only the private project
        oa(ago(3), "25", project="proj_s", model="gpt-4o"),  # a shared model, partly private
        orl(ago(1), "10", key="hash_s", model="x/secret", route="Hush"),
        orl(ago(9), "30", key="hash_a", model="x/open", route="Open"),
        oa(ago(2), "5", project="proj_stray", model="gpt-4o"),  # unattributed: everyone sees it
    ]


def test_model_mix_leaves_hidden_spend_out_of_every_sum_and_share() -> None:
    lines = _mix_lines()
    stranger = view(Audience.user(STRANGER))
    mix = model_mix(lines, NOW, matcher=MATCHER, view=stranger)
    visible = [ln for ln in lines if stranger.admits(MATCHER.project_for(ln))]
    assert mix == replace(model_mix(visible, NOW), hidden_spend=True)
    assert (mix.this_week, mix.last_week) == (D(65), D(30))
    assert {m.model for m in mix.models} == {"gpt-4o", "x/open"}
    assert [m.share_now for m in mix.models if m.model == "gpt-4o"] == [D("100.0")]
    owner = model_mix(lines, NOW, matcher=MATCHER, view=view(Audience.user(OWNER)))
    assert owner == model_mix(lines, NOW) and not owner.hidden_spend
    assert mix.project is None


def test_hidden_spend_is_only_flagged_when_something_was_left_out() -> None:
    stranger = view(Audience.user(STRANGER))
    public_only = [oa(ago(1), "60"), oa(ago(2), "0", project="proj_s"), oa(ago(20), "9", project="proj_s")]
    assert not model_mix(public_only, NOW, matcher=MATCHER, view=stranger).hidden_spend
    with pytest.raises(ValueError, match="matcher"):
        model_mix(public_only, NOW, view=stranger)


def test_routes_leave_out_keys_of_hidden_projects_before_shares() -> None:
    rows = [
        activity(ago(1), "3", model="m/a", provider_name="P1", key="hash_a"),
        activity(ago(1), "9", model="m/a", provider_name="P1", key="hash_s"),  # same route, private
        activity(ago(2), "1", model="m/a", provider_name="P2", key="hash_a"),
        activity(ago(2), "7", model="m/secret", provider_name="Hush", key="hash_s"),
        activity(ago(2), "2", model="m/a", provider_name="P2", key="hash_stray"),  # unattributed
    ]
    stranger = view(Audience.user(STRANGER))
    report = route_costs(rows, NOW, matcher=MATCHER, view=stranger)
    assert report.hidden_spend
    got = [(r.model, r.provider_name, r.usd, r.share_of_model) for r in report.routes]
    assert got == [("m/a", "P1", D(3), D("50.0")), ("m/a", "P2", D(3), D("50.0"))]
    visible = [r for r in rows if r.key_hash != "hash_s"]
    assert report == replace(route_costs(visible, NOW), hidden_spend=True)
    everything = route_costs(rows, NOW, matcher=MATCHER, view=view(Audience.user(ADMIN)))
    assert everything == route_costs(rows, NOW) and not everything.hidden_spend
    lines = [orl(ago(1), "4", key="hash_s", model="m/secret", route="Hush"), orl(ago(1), "1", key="hash_a")]
    assert [r.usd for r in route_costs(lines, NOW, matcher=MATCHER, view=stranger).routes] == [D(1)]
    with pytest.raises(ValueError, match="matcher"):
        route_costs(rows, NOW, view=stranger)


def test_movers_never_rank_hidden_projects() -> None:
    lines = [oa(ago(1), "50"), oa(ago(9), "10"), oa(ago(1), "900", project="proj_s")]
    assert [m.project for m in movers(lines, MATCHER, NOW)] == ["secret", "search"]
    assert [m.project for m in movers(lines, MATCHER, NOW, view=view(Audience.user(STRANGER)))] == ["search"]
    assert [m.project for m in movers(lines, MATCHER, NOW, view=view(Audience.user(OWNER)))] == [
        "secret",
        "search",
    ]


def test_visible_month_keeps_the_invariant_for_what_is_shown() -> None:
    lines = [
        oa(ago(1), "100"),
        oa(ago(2), "68.08", project="proj_s"),
        orl(ago(3), "7", key="hash_s"),
        oa(ago(1), "3", project="proj_g"),
        oa(ago(1), "5", project="proj_stray"),
        orl(ago(1), "2", key="hash_stray"),
    ]
    full = team_from_lines(MATCHER, lines, NOW.date(), NOW)
    assert full.total == D("185.08") and full.hidden == ()
    shown = visible_team(full, view(Audience.user(STRANGER)))
    assert [p.project for p in shown.projects] == ["search"]
    assert shown.hidden == ("secret", "grouped", "quiet")
    assert shown.provider_totals == {"openai": D(105), "openrouter": D(2)}
    assert shown.unattributed == full.unattributed
    for provider in PROVIDERS:
        in_projects = sum((r.by_provider[provider] for r in shown.projects), D(0))
        assert shown.provider_totals[provider] == in_projects + shown.unattributed.by_provider[provider]
    owner = visible_team(full, view(Audience.user(OWNER)))
    assert owner.hidden == ("grouped",) and owner.total == full.total - D(3)
    assert visible_team(full, view(Audience.user(ADMIN))) is full
    assert visible_team(full, view(OPERATOR)) is full


def test_visible_runway_drops_caps_of_hidden_keys_and_says_so_from_the_config_alone() -> None:
    keys = [
        or_key("hash_s", limit="100", remaining="3", name="secret-key"),
        or_key("hash_a", limit="100", remaining="5"),
        or_key("hash_stray", limit="10", remaining="0.5"),
    ]
    runway = credit_runway(
        [snap(NOW - timedelta(hours=1), "50")],
        [orl(ago(1), "5")],
        keys,
        NOW,
        low_credit_usd=D(10),
        low_runway_days=D(3),
    )
    assert {k.key_hash for k in runway.low_keys} == {"hash_s", "hash_a", "hash_stray"}
    stranger = visible_runway(runway, MATCHER, view(Audience.user(STRANGER)))
    assert {k.key_hash for k in stranger.low_keys} == {"hash_a", "hash_stray"} and stranger.keys_hidden
    assert (stranger.balance, stranger.burn_per_day) == (runway.balance, runway.burn_per_day)  # account-wide
    # The note does not depend on whether a hidden key is near its cap (that would give it away).
    relaxed = replace(runway, low_keys=tuple(k for k in runway.low_keys if k.key_hash != "hash_s"))
    assert visible_runway(relaxed, MATCHER, view(Audience.user(STRANGER))).keys_hidden
    # A viewer who misses only projects that claim no OpenRouter key is told nothing.
    owner = visible_runway(runway, MATCHER, view(Audience.user(OWNER)))
    assert owner == runway and not owner.keys_hidden
    assert visible_runway(runway, MATCHER, view(OPERATOR)) is runway


_REFS = st.sampled_from(["proj_a", "proj_s", "proj_g", "proj_stray"])
_KEYS = st.sampled_from(["hash_a", "hash_s", "hash_stray"])
_MODELS = st.sampled_from(["m1", "m2", "m3"])
_AMOUNTS = st.decimals(min_value=0, max_value=1000, places=3, allow_nan=False, allow_infinity=False)
_DAYS = st.integers(min_value=0, max_value=16).map(ago)
_LINES = st.lists(
    st.one_of(
        st.builds(lambda d, a, p, m: oa(d, a, project=p, model=m), _DAYS, _AMOUNTS, _REFS, _MODELS),
        st.builds(lambda d, a, k, m: orl(d, a, key=k, model=m, route="R"), _DAYS, _AMOUNTS, _KEYS, _MODELS),
    ),
    max_size=30,
)
_AUDIENCES = st.sampled_from(
    [Audience.user(STRANGER), Audience.user(OWNER), Audience.user(ADMIN), Audience.channel("C1"), OPERATOR]
)


@given(lines=_LINES, audience=_AUDIENCES)
def test_a_view_equals_aggregating_the_visible_lines_alone(
    lines: list[SpendLine], audience: Audience
) -> None:
    seen = view(audience)
    visible = [ln for ln in lines if seen.admits(MATCHER.project_for(ln))]
    left_out = any(ln.amount for ln in lines if ln not in visible and ago(14) <= ln.day <= ago(1))
    mix = model_mix(lines, NOW, matcher=MATCHER, view=seen)
    assert mix == replace(model_mix(visible, NOW), hidden_spend=left_out)
    routes = route_costs(lines, NOW, matcher=MATCHER, view=seen)
    assert routes.routes == route_costs(visible, NOW).routes
    month = visible_team(team_from_lines(MATCHER, lines, NOW.date(), NOW), seen)
    assert month.total == sum((ln.amount for ln in visible if ln.day.month == TODAY.month), Decimal(0))


def test_visible_units_sum_only_the_visible_projects_lines() -> None:
    lines = [
        oa(ago(1), "10", project="proj_a", model="gpt-4o"),
        oa(ago(1), "30", project="proj_s", model="gpt-4o"),
        oa(ago(1), "5", project="proj_s", model="secret-model"),
    ]
    usage = [
        UsageLine("openai", "gpt-4o", 10, 1000, 100, project_ref="proj_a"),
        UsageLine("openai", "gpt-4o", 90, 9000, 900, project_ref="proj_s"),
        UsageLine("openai", "secret-model", 5, 50, 5, project_ref="proj_s"),
    ]
    stranger = view(Audience.user(STRANGER))
    units = visible_units(lines, usage, MATCHER, stranger)
    assert [(u.model, u.usd, u.requests, u.input_tokens) for u in units] == [("gpt-4o", D(10), 10, 1000)]
    assert units == model_units(team_models(lines[:1]), usage[:1])
    owner = visible_units(lines, usage, MATCHER, view(Audience.user(OWNER)))
    assert owner == model_units(team_models(lines), usage)
    # A team report filtered without them shows no units rather than the team's.
    full = replace(team_from_lines(MATCHER, lines, NOW.date(), NOW), units=owner)
    assert visible_team(full, stranger).units == ()
    assert visible_team(full, stranger, units=units).units == units
