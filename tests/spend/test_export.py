from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from aispend.spend.attribution import build_matcher
from aispend.spend.export import project_json, runway_json, team_json
from aispend.spend.mix import model_mix, movers, route_costs
from aispend.spend.model import SpendLine
from aispend.spend.reports import fill_openrouter_gaps
from aispend.spend.runway import credit_runway
from tests.readme import code_block

from .factories import D, activity, at, find_floats, key_day, oa, or_key, orl, project, snap, team_from_lines

NOW = at(2026, 11, 27, 12)
NOV = date(2026, 11, 1)
MATCHER = build_matcher(
    [
        project("search", owner="U0123OWNER", monthly_budget_usd=D(2000), openai_projects=("proj_a",)),
        project("chat", openrouter_keys=("hash_a",)),
    ]
)
LINES = [
    oa(date(2026, 11, 1), "1000.000000", model="gpt-4o"),
    oa(date(2026, 11, 27), "0.5", model="gpt-4o"),
    orl(date(2026, 11, 3), "234.567891"),
    oa(date(2026, 11, 4), "12", project="proj_zz"),
    orl(date(2026, 11, 5), "3", key="hash_zz"),
]
KEYS = [key_day(date(2026, 11, 27), "hash_a", "1.25")]

README_KEYS = set(json.loads(code_block("json", '{"project": "search"')))


def _strings_only(value: Any) -> None:
    """No number other than ints (counts) and no float anywhere."""
    assert find_floats(value) == []
    if isinstance(value, dict):
        for item in value.values():
            _strings_only(item)
    elif isinstance(value, list):
        for item in value:
            _strings_only(item)
    else:
        assert value is None or isinstance(value, str | bool | int), value


def test_project_json_has_the_readme_keys_and_string_amounts() -> None:
    report = team_from_lines(MATCHER, LINES, NOV, NOW, key_days=KEYS)
    data = project_json(report.projects[0])
    assert README_KEYS <= set(data)
    assert data["project"] == "search"
    assert data["month"] == "2026-11"
    assert data["as_of"] == "2026-11-27T12:00:00Z"
    assert data["owner"] == "U0123OWNER"
    assert data["total_usd"] == "1000.5"
    assert data["budget_usd"] == "2000"
    assert data["pace"] == "on_track"
    assert data["by_provider"] == {"openai": "1000.5", "openrouter": "0"}
    assert data["by_model"] == [{"provider": "openai", "model": "gpt-4o", "usd": "1000.5"}]
    assert data["provisional_since"] == "2026-11-27"
    assert data["used_percent"] == "50.0"
    assert data["daily"][0] == {"day": "2026-11-01", "usd": "1000", "provisional": False}
    assert len(data["daily"]) == 27
    forecast = Decimal(data["forecast_usd"])
    assert forecast >= Decimal(data["total_usd"])
    assert forecast == forecast.quantize(Decimal("0.01"))
    _strings_only(data)
    assert json.loads(json.dumps(data)) == data


def test_month_json_shape() -> None:
    data = team_json(team_from_lines(MATCHER, LINES, NOV, NOW, key_days=KEYS))
    assert {"month", "projects", "unattributed"} <= set(data)
    assert [p["project"] for p in data["projects"]] == ["search", "chat"]
    assert data["projects"][1]["total_usd"] == "235.817891"
    assert data["unattributed"]["openai"] == "12"
    assert data["unattributed"]["openrouter"] == "3"
    assert data["unattributed"]["refs"][0] == {
        "provider": "openai",
        "kind": "openai_project",
        "ref": "proj_zz",
        "name": None,
        "usd": "12",
        "workspace": None,  # OpenRouter keys only
    }
    assert data["by_provider"] == {"openai": "1012.5", "openrouter": "238.817891"}
    _strings_only(data)
    json.dumps(data)


def test_runway_json() -> None:
    runway = credit_runway(
        [snap(NOW - timedelta(hours=1), "40", "100")],
        [orl(NOW.date() - timedelta(days=i), "3") for i in range(1, 8)],
        [or_key("k", limit="10", remaining="0.5")],
        NOW,
        low_credit_usd=D(50),
        low_runway_days=D(7),
    )
    data = runway_json(runway)
    assert data["balance_usd"] == "60"
    assert data["burn_per_day_usd"] == "3.00"
    assert data["days_left"] == "20"
    assert data["status"] == "ok"
    assert data["low_keys"][0]["percent_remaining"] == "5.0"
    _strings_only(data)
    json.dumps(data)


# ------------------------------------------------------------------------------ no floats

_amounts = st.decimals(min_value=-50, max_value=5000, places=9, allow_nan=False, allow_infinity=False)


@st.composite
def any_line(draw: st.DrawFn) -> SpendLine:
    day = date(2026, 11, 1) + timedelta(days=draw(st.integers(0, 26)))
    if draw(st.booleans()):
        return oa(day, draw(_amounts), project=draw(st.sampled_from(["proj_a", "proj_b", None])))
    return orl(day, draw(_amounts), key=draw(st.sampled_from(["hash_a", "hash_b"])))


@settings(max_examples=40)
@given(st.lists(any_line(), max_size=30), st.decimals(min_value=-10, max_value=500, places=4))
def test_no_float_reaches_any_output(lines: list[SpendLine], usage: Decimal) -> None:
    prepared = fill_openrouter_gaps(lines, KEYS, NOW)
    report = team_from_lines(MATCHER, prepared, NOV, NOW)
    runway = credit_runway(
        [snap(NOW - timedelta(hours=20), "1"), snap(NOW, str(usage), "300")],
        prepared,
        [or_key("k", limit="10", remaining="0.3")],
        NOW,
        low_credit_usd=D(50),
        low_runway_days=D(7),
    )
    outputs: list[object] = [
        report,
        runway,
        model_mix(prepared, NOW),
        route_costs([activity(date(2026, 11, 25), "1", prompt=3, completion=4)], NOW),
        movers(prepared, MATCHER, NOW),
        team_json(report),
        runway_json(runway),
    ]
    for output in outputs:
        assert find_floats(output) == []
