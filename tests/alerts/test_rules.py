"""Each rule over inputs built with the real spend model: fires, holds inside the hysteresis band,
clears past it, escalates, and names a new period when the month rolls over."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aispend.alerts.rules import AlertInputs, AlertKey, Evaluation, Finding
from tests.alerts.factories import NOW, D, caps, config, flat, health, inputs, run_rules

YESTERDAY = NOW.date() - timedelta(days=1)


def only(evaluation: Evaluation, rule: str) -> list[Finding]:
    return [f for f in evaluation.findings if f.key.rule == rule]


def one(evaluation: Evaluation, rule: str) -> Finding:
    found = only(evaluation, rule)
    assert len(found) == 1, found
    return found[0]


# ------------------------------------------------------------------------------ low_credits


def test_low_credits_fires_under_the_line_with_the_burn_as_why() -> None:
    cfg = config()
    finding = one(run_rules(inputs(cfg, balance="40", burn="10"), cfg), "low_credits")
    assert finding.firing and finding.severity == "warning"
    assert (finding.figure, finding.threshold, finding.unit) == (D(40), D(50), "usd")
    assert finding.key == AlertKey("low_credits", "openrouter")
    assert "burning $10.00/day" in finding.why


def test_low_credits_is_critical_when_used_up() -> None:
    cfg = config()
    assert one(run_rules(inputs(cfg, balance="0"), cfg), "low_credits").severity == "critical"
    assert one(run_rules(inputs(cfg, balance="-3.5"), cfg), "low_credits").severity == "critical"


@pytest.mark.parametrize(("balance", "expected"), [("50", "holding"), ("54.99", "holding"), ("55", "clear")])
def test_low_credits_resolves_only_above_110_percent(balance: str, expected: str) -> None:
    cfg = config()
    found = only(run_rules(inputs(cfg, balance=balance), cfg), "low_credits")
    assert ("holding" if found and not found[0].firing else "clear" if not found else "firing") == expected


def test_low_credits_without_a_snapshot_is_unknown_not_clear() -> None:
    cfg = config()
    evaluation = run_rules(inputs(cfg, balance=None), cfg)
    assert not only(evaluation, "low_credits")
    assert evaluation.is_unknown(AlertKey("low_credits", "openrouter"))


def test_a_stale_snapshot_may_fire_but_never_resolves() -> None:
    cfg = config()
    stale = inputs(cfg, balance="500", snapshot_age=timedelta(hours=3))
    assert run_rules(stale, cfg).is_unknown(AlertKey("low_credits", "openrouter"))
    low = inputs(cfg, balance="20", snapshot_age=timedelta(hours=3))
    assert one(run_rules(low, cfg), "low_credits").firing


# ---------------------------------------------------------------------------- credit_runway


@pytest.mark.parametrize(
    ("burn", "state", "severity"),
    [
        ("100", "firing", "warning"),
        ("300", "firing", "critical"),
        ("70", "holding", "warning"),
        ("60", "clear", None),
    ],
)
def test_credit_runway(burn: str, state: str, severity: str | None) -> None:
    cfg = config()
    found = only(run_rules(inputs(cfg, balance="500", burn=burn), cfg), "credit_runway")
    if state == "clear":
        assert found == []
        return
    assert found[0].firing == (state == "firing")
    assert found[0].severity == severity
    assert found[0].unit == "days" and found[0].threshold == D(7)
    assert found[0].context is not None and "runs out" in found[0].context


def test_credit_runway_without_burn_is_unknown() -> None:
    cfg = config()
    evaluation = run_rules(inputs(cfg, balance="500", burn="0"), cfg)
    assert not only(evaluation, "credit_runway")
    assert evaluation.is_unknown(AlertKey("credit_runway", "openrouter"))


# ------------------------------------------------------------------------- budget_threshold


def test_budget_threshold_per_level_and_month() -> None:
    cfg = config()
    spend = {"search": flat(20, "41", end=NOW.date())}  # $820 of $1,000
    found = only(run_rules(inputs(cfg, daily=spend), cfg), "budget_threshold")
    assert [(f.key.level, f.key.period, f.firing, f.severity) for f in found] == [
        ("80", "2026-11", True, "warning")
    ]
    assert found[0].figure == D(820) and found[0].threshold == D(800)
    assert "gpt-4o" in found[0].why and found[0].project == "search"


def test_budget_threshold_hundred_is_critical_and_holds_in_the_band() -> None:
    cfg = config()
    near = only(
        run_rules(inputs(cfg, daily={"search": flat(20, "48", end=NOW.date())}), cfg), "budget_threshold"
    )
    assert [(f.key.level, f.firing) for f in near] == [("100", False), ("80", True)]
    over = only(
        run_rules(inputs(cfg, daily={"search": flat(20, "51", end=NOW.date())}), cfg), "budget_threshold"
    )
    assert [(f.key.level, f.firing, f.severity) for f in over] == [
        ("100", True, "critical"),
        ("80", True, "warning"),
    ]


def test_budget_threshold_rearms_next_month() -> None:
    cfg = config()
    december = datetime(2026, 12, 25, 12, tzinfo=UTC)
    found = only(
        run_rules(inputs(cfg, december, daily={"search": flat(25, "40", end=december.date())}), cfg),
        "budget_threshold",
    )
    assert [f.key for f in found] == [
        AlertKey("budget_threshold", "search", "100", "2026-12"),
        AlertKey("budget_threshold", "search", "80", "2026-12"),
    ]


# ------------------------------------------------------------------------------ budget_pace


@pytest.mark.parametrize(
    ("per_day", "state", "severity"),
    [
        ("41", "firing", "warning"),
        ("51", "firing", "critical"),
        ("32", "holding", "warning"),
        ("30", "clear", None),
    ],
)
def test_budget_pace(per_day: str, state: str, severity: str | None) -> None:
    cfg = config()
    found = only(
        run_rules(inputs(cfg, daily={"search": flat(20, per_day, end=NOW.date())}), cfg), "budget_pace"
    )
    if state == "clear":
        assert found == []
        return
    assert found[0].firing == (state == "firing") and found[0].severity == severity
    assert found[0].key == AlertKey("budget_pace", "search", "", "2026-11")
    report_spent = D(per_day) * 20
    if severity == "critical":
        assert found[0].figure == report_spent  # the spend itself crossed
    else:
        assert found[0].figure > report_spent  # the forecast


def test_budget_pace_never_fires_on_insufficient_history() -> None:
    cfg = config()
    early = datetime(2026, 11, 3, 12, tzinfo=UTC)
    evaluation = run_rules(inputs(cfg, early, daily={"search": flat(3, "300", end=early.date())}), cfg)
    assert not only(evaluation, "budget_pace")
    assert evaluation.is_unknown(AlertKey("budget_pace", "search", "", "2026-11"))


# -------------------------------------------------------------------------------- key_limit


def test_key_limit() -> None:
    cfg = config()
    evaluation = run_rules(
        inputs(
            cfg, key_caps=caps(("k1", "50", "4"), ("k2", "50", "0"), ("k3", "50", "5.2"), ("k4", "50", "10"))
        ),
        cfg,
    )
    found = {f.key.entity: (f.firing, f.severity) for f in only(evaluation, "key_limit")}
    assert found == {"k1": (True, "warning"), "k2": (True, "critical"), "k3": (False, "warning")}
    assert (
        "k1-name"
        in one(Evaluation(tuple(f for f in evaluation.findings if f.key.entity == "k1")), "key_limit").why
    )


def test_key_limit_unknown_without_a_key_listing() -> None:
    cfg = config()
    evaluation = run_rules(inputs(cfg, key_caps=None), cfg)
    assert evaluation.is_unknown(AlertKey("key_limit", "k1"))


# ------------------------------------------------------------------------------ spend_spike


def spike_days(yesterday: str, base: str = "10", end: date = YESTERDAY) -> dict[date, D]:
    days = flat(7, base, end=end - timedelta(days=1))
    days[end] = D(yesterday)
    return days


@pytest.mark.parametrize(
    ("yesterday", "base", "state", "severity"),
    [
        ("40", "10", "firing", "warning"),
        ("70", "10", "firing", "critical"),
        ("29", "10", "holding", "warning"),
        ("20", "10", "clear", None),
        ("8.5", "1", "clear", None),  # above 3x the median but under the $10 floor
    ],
)
def test_spend_spike(yesterday: str, base: str, state: str, severity: str | None) -> None:
    cfg = config()
    found = only(run_rules(inputs(cfg, daily={"search": spike_days(yesterday, base)}), cfg), "spend_spike")
    if state == "clear":
        assert found == []
        return
    assert found[0].firing == (state == "firing") and found[0].severity == severity
    assert found[0].figure == D(yesterday) and found[0].threshold == D(30)


def test_spend_spike_is_tunable() -> None:
    cfg = config(alerts={"spike_factor": D(5), "spike_min_usd": D(100)})
    assert not only(run_rules(inputs(cfg, daily={"search": spike_days("90")}), cfg), "spend_spike")
    assert only(run_rules(inputs(cfg, daily={"search": spike_days("120")}), cfg), "spend_spike")


def test_spend_spike_baseline_reaches_into_the_previous_month() -> None:
    cfg = config()
    now = datetime(2026, 12, 2, 9, tzinfo=UTC)
    found = one(
        run_rules(inputs(cfg, now, daily={"search": spike_days("40", end=date(2026, 12, 1))}), cfg),
        "spend_spike",
    )
    assert found.key == AlertKey("spend_spike", "search", "", "2026-12")
    assert found.threshold == D(30)


# ------------------------------------------------------------------------------- stale_data


def test_stale_data() -> None:
    cfg = config()
    h = health(
        NOW,
        ("openai/costs", "ok", "", timedelta(minutes=10)),
        ("openai/usage", "error", "HTTP 500 from provider", timedelta(minutes=50)),
        ("openrouter/keys", "error", "timeout", timedelta(minutes=20)),
        ("openrouter/credits", "permission_denied", "401: key lacks permission", None),
    )
    found = {
        f.key.entity: (f.firing, f.severity)
        for f in only(run_rules(inputs(cfg, health=h), cfg), "stale_data")
    }
    assert found == {
        "openai/usage": (True, "warning"),
        "openrouter/keys": (False, "warning"),
        "openrouter/credits": (True, "critical"),
    }


def test_stale_data_unknown_without_health() -> None:
    cfg = config()
    assert not run_rules(inputs(cfg), cfg).is_unknown(AlertKey("stale_data", "openai/costs"))
    assert run_rules(inputs(cfg, no_health=True), cfg).is_unknown(AlertKey("stale_data", "openai/costs"))


def test_rules_module_imports_no_slack_sql_or_http() -> None:
    """Even transitively: a fresh interpreter that imports the rules loads none of them."""
    import subprocess
    import sys

    probe = (
        "import sys, aispend.alerts.rules; "
        "banned = ('slack_sdk', 'slack_bolt', 'sqlalchemy', 'sqlmodel', 'httpx', 'pydantic', "
        "'aispend.config'); "
        "print(sorted(m for m in banned if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_unknown_provider_figures_may_fire_budget_alerts_but_never_clear_them() -> None:
    from dataclasses import replace as swap

    from aispend.spend.model import DataStatus, ProviderData

    cfg = config()
    no_permission: DataStatus = {
        "openai": ProviderData("no_permission", error="403"),
        "openrouter": ProviderData("ok"),
    }

    def partial(per_day: str) -> AlertInputs:
        made = inputs(cfg, daily={"search": flat(20, per_day, end=NOW.date())})
        projects = tuple(swap(p, data=no_permission) for p in made.month.projects)
        return swap(made, month=swap(made.month, projects=projects))

    low = run_rules(partial("30"), cfg)  # would be clear with every provider known
    for rule in ("budget_threshold", "budget_pace", "spend_spike"):
        assert low.is_unknown(AlertKey(rule, "search", "80", "2026-11"))
    high = run_rules(partial("41"), cfg)
    found = one(high, "budget_pace")
    assert found.firing and found.context is not None and "openai figures unknown" in found.context
