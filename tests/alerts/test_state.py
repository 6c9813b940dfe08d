"""The alert state machine over a real database (SQLite and PostgreSQL): every rule fires once,
does not repeat, escalates, resolves past its hysteresis band, re-arms; acknowledge and snooze;
failed posts retried once; a crash between claim and post posted later, once."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from aispend.alerts.rules import AlertInputs, Evaluation
from aispend.alerts.state import (
    DeliveryError,
    acknowledge,
    alerts_between,
    apply_evaluation,
    claim,
    deliver,
    open_alerts,
    plan,
    snooze,
)
from aispend.config import Config
from tests.alerts.factories import NOW, D, caps, config, flat, health, inputs, run_rules
from tests.alerts.fakes import RecordingNotifier

DEC = datetime(2026, 12, 20, 12, tzinfo=UTC)
Make = Callable[[Config, datetime], AlertInputs]


def _spike(yesterday: str) -> Make:
    def make(cfg: Config, now: datetime) -> AlertInputs:
        end = now.date() - timedelta(days=1)
        days = flat(7, "10", end=end - timedelta(days=1))
        days[end] = D(yesterday)
        return inputs(cfg, now, daily={"search": days})

    return make


def _spend(per_day: str) -> Make:
    return lambda cfg, now: inputs(cfg, now, daily={"search": flat(20, per_day, end=now.date())})


def _stale(status: str, minutes: int | None) -> Make:
    age = None if minutes is None else timedelta(minutes=minutes)
    return lambda cfg, now: inputs(cfg, now, health=health(now, ("openai/usage", status, "HTTP 500", age)))


@dataclass(frozen=True)
class Scenario:
    rule: str
    warn: Make
    crit: Make | None
    band: Make
    clear: Make
    monthly: bool


SCENARIOS = [
    Scenario(
        "low_credits",
        lambda c, n: inputs(c, n, balance="40"),
        lambda c, n: inputs(c, n, balance="-1"),
        lambda c, n: inputs(c, n, balance="52"),
        lambda c, n: inputs(c, n, balance="60"),
        False,
    ),
    Scenario(
        "credit_runway",
        lambda c, n: inputs(c, n, balance="500", burn="100"),
        lambda c, n: inputs(c, n, balance="500", burn="300"),
        lambda c, n: inputs(c, n, balance="500", burn="70"),
        lambda c, n: inputs(c, n, balance="500", burn="60"),
        False,
    ),
    Scenario("budget_threshold", _spend("41"), None, _spend("39"), _spend("37"), True),
    Scenario("budget_pace", _spend("41"), _spend("51"), _spend("32"), _spend("30"), True),
    Scenario(
        "key_limit",
        lambda c, n: inputs(c, n, key_caps=caps(("k1", "50", "4"))),
        lambda c, n: inputs(c, n, key_caps=caps(("k1", "50", "0"))),
        lambda c, n: inputs(c, n, key_caps=caps(("k1", "50", "5.2"))),
        lambda c, n: inputs(c, n, key_caps=caps(("k1", "50", "10"))),
        False,
    ),
    Scenario("spend_spike", _spike("40"), _spike("70"), _spike("29"), _spike("20"), True),
    Scenario(
        "stale_data",
        _stale("error", 50),
        _stale("permission_denied", None),
        _stale("error", 20),
        _stale("ok", 5),
        False,
    ),
]


def only_rule(evaluation: Evaluation, rule: str) -> Evaluation:
    return Evaluation(
        tuple(f for f in evaluation.findings if f.key.rule == rule),
        frozenset(u for u in evaluation.unknown if u[0] == rule),
    )


def step(
    engine: Engine, notifier: RecordingNotifier, cfg: Config, make: Make, rule: str, now: datetime
) -> list[str]:
    notifier.clear()
    apply_evaluation(engine, only_rule(run_rules(make(cfg, now), cfg), rule), now)
    deliver(engine, notifier, now)
    return [kind for kind, _ in notifier.kinds()]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.rule)
def test_rule_lifecycle(engine: Engine, scenario: Scenario) -> None:
    cfg = config(projects=[{**config().projects[0].model_dump(), "alert_at_percent": [D(80)]}])
    notifier = RecordingNotifier()
    rule = scenario.rule
    t = NOW
    assert step(engine, notifier, cfg, scenario.warn, rule, t) == ["post"]
    assert notifier.sent[0].alert.severity == "warning"
    assert step(engine, notifier, cfg, scenario.warn, rule, t + timedelta(minutes=15)) == []  # no repeat
    if scenario.crit is not None:
        assert step(engine, notifier, cfg, scenario.crit, rule, t + timedelta(minutes=30)) == ["escalate"]
        assert [n.alert.severity for n in notifier.sent] == ["critical"]
        assert step(engine, notifier, cfg, scenario.crit, rule, t + timedelta(minutes=45)) == []
    assert step(engine, notifier, cfg, scenario.band, rule, t + timedelta(hours=1)) == []  # hysteresis
    assert len(open_alerts(engine)) == 1
    assert step(engine, notifier, cfg, scenario.clear, rule, t + timedelta(hours=2)) == ["resolve"]
    assert step(engine, notifier, cfg, scenario.clear, rule, t + timedelta(hours=3)) == []
    assert open_alerts(engine) == ()
    # Fires again after resolving: a new episode, a new message.
    assert step(engine, notifier, cfg, scenario.warn, rule, t + timedelta(hours=4)) == ["post"]
    assert notifier.sent[0].alert.episode == 2
    if scenario.monthly:
        # The month rolls over while it is still open: December's alert is new; November's closes.
        kinds = step(engine, notifier, cfg, scenario.warn, rule, DEC)
        assert sorted(kinds) == ["post", "resolve"]
        periods = {n.kind: n.alert.key.period for n in notifier.sent}
        assert periods == {"post": "2026-12", "resolve": "2026-11"}


def _budget80(engine: Engine, notifier: RecordingNotifier, now: datetime = NOW, per_day: str = "41") -> None:
    cfg = config()
    evaluation = only_rule(run_rules(_spend(per_day)(cfg, now), cfg), "budget_threshold")
    apply_evaluation(engine, evaluation, now)
    deliver(engine, notifier, now)


def test_unknown_data_never_resolves(engine: Engine) -> None:
    cfg = config()
    notifier = RecordingNotifier()
    apply_evaluation(engine, only_rule(run_rules(inputs(cfg, balance="40"), cfg), "low_credits"), NOW)
    deliver(engine, notifier, NOW)
    later = NOW + timedelta(hours=1)
    no_snapshot = only_rule(run_rules(inputs(cfg, later, balance=None), cfg), "low_credits")
    stale_but_fine = only_rule(
        run_rules(inputs(cfg, later, balance="500", snapshot_age=timedelta(hours=5)), cfg), "low_credits"
    )
    for evaluation in (no_snapshot, stale_but_fine):
        applied = apply_evaluation(engine, evaluation, later)
        assert applied.resolved == ()
    assert len(open_alerts(engine)) == 1


def test_acknowledge_updates_the_message_and_resolution_still_reports_once(engine: Engine) -> None:
    notifier = RecordingNotifier()
    _budget80(engine, notifier)
    alert = open_alerts(engine)[0]
    notifier.clear()
    acked = acknowledge(engine, alert.id, "U0OWNER", NOW + timedelta(minutes=5))
    assert acked is not None and acked.status == "acknowledged" and acked.acknowledged_by == "U0OWNER"
    deliver(engine, notifier, NOW + timedelta(minutes=5))
    assert notifier.kinds() == [("update", str(alert.key))]
    notifier.clear()
    _budget80(engine, notifier, NOW + timedelta(minutes=20))
    assert notifier.sent == []  # still firing, acknowledged: quiet
    _budget80(engine, notifier, NOW + timedelta(hours=1), per_day="30")
    assert [n.kind for n in notifier.sent] == ["resolve"]
    assert acknowledge(engine, alert.id, "U0OWNER", NOW + timedelta(hours=2)) is None  # resolved: nothing


def test_snooze_ends_with_one_reminder_if_still_firing(engine: Engine) -> None:
    notifier = RecordingNotifier()
    _budget80(engine, notifier)
    alert = open_alerts(engine)[0]
    snoozed = snooze(engine, alert.id, "U0ADMIN", NOW)
    assert snoozed is not None and snoozed.snoozed_until == NOW + timedelta(hours=24)
    deliver(engine, notifier, NOW)
    notifier.clear()
    _budget80(engine, notifier, NOW + timedelta(hours=23))
    assert notifier.sent == []
    _budget80(engine, notifier, NOW + timedelta(hours=24, minutes=1))
    assert [n.kind for n in notifier.sent] == ["remind"]
    notifier.clear()
    _budget80(engine, notifier, NOW + timedelta(hours=25))
    assert notifier.sent == []  # one reminder only
    assert open_alerts(engine)[0].status == "firing"


def test_snoozed_alert_that_resolves_gets_no_reminder(engine: Engine) -> None:
    notifier = RecordingNotifier()
    _budget80(engine, notifier)
    snooze(engine, open_alerts(engine)[0].id, "U0ADMIN", NOW)
    notifier.clear()
    _budget80(engine, notifier, NOW + timedelta(hours=30), per_day="30")
    assert [n.kind for n in notifier.sent] == ["resolve"]


def test_resolved_before_it_was_ever_posted_says_nothing(engine: Engine) -> None:
    cfg = config()
    apply_evaluation(engine, only_rule(run_rules(_spend("41")(cfg, NOW), cfg), "budget_threshold"), NOW)
    apply_evaluation(engine, only_rule(run_rules(_spend("30")(cfg, NOW), cfg), "budget_threshold"), NOW)
    notifier = RecordingNotifier()
    deliver(engine, notifier, NOW)
    assert notifier.sent == []


def test_a_failed_post_is_retried_next_evaluation_and_posted_once(engine: Engine) -> None:
    notifier = RecordingNotifier(
        fail_next=[DeliveryError("HTTP 500"), DeliveryError("ratelimited", rate_limited=True)]
    )
    _budget80(engine, notifier)
    assert notifier.sent == []
    assert open_alerts(engine)[0].ts is None
    _budget80(engine, notifier, NOW + timedelta(minutes=15))
    assert notifier.sent == []  # rate limited: the pass stops, nothing lost
    _budget80(engine, notifier, NOW + timedelta(minutes=30))
    _budget80(engine, notifier, NOW + timedelta(minutes=45))
    assert [n.kind for n in notifier.sent] == ["post"]


def test_a_crash_between_claim_and_post_is_posted_later_once(engine: Engine) -> None:
    cfg = config()
    apply_evaluation(engine, only_rule(run_rules(_spend("41")(cfg, NOW), cfg), "budget_threshold"), NOW)
    alert_id = open_alerts(engine)[0].id
    assert claim(engine, alert_id, NOW) is not None  # ... and the process dies here
    notifier = RecordingNotifier()
    deliver(engine, notifier, NOW + timedelta(minutes=1))
    assert notifier.sent == []  # the lease still holds
    deliver(engine, notifier, NOW + timedelta(minutes=6))
    deliver(engine, notifier, NOW + timedelta(minutes=7))
    assert [n.kind for n in notifier.sent] == ["post"]


def test_a_claim_is_exclusive(engine: Engine) -> None:
    cfg = config()
    apply_evaluation(engine, only_rule(run_rules(_spend("41")(cfg, NOW), cfg), "budget_threshold"), NOW)
    alert_id = open_alerts(engine)[0].id
    assert claim(engine, alert_id, NOW) is not None
    assert claim(engine, alert_id, NOW) is None


def test_plan_changes_nothing(engine: Engine) -> None:
    cfg = config()
    planned = plan(engine, only_rule(run_rules(_spend("41")(cfg, NOW), cfg), "budget_threshold"), NOW)
    assert [n.kind for n in planned.due] == ["post"]
    assert open_alerts(engine) == ()


def test_alerts_between_lists_the_week(engine: Engine) -> None:
    notifier = RecordingNotifier()
    _budget80(engine, notifier)
    alert = open_alerts(engine)[0]
    acknowledge(engine, alert.id, "U0OWNER", NOW + timedelta(hours=1))
    _budget80(engine, notifier, NOW + timedelta(days=2), per_day="30")
    week = alerts_between(engine, NOW - timedelta(days=1), NOW + timedelta(days=6))
    assert len(week) == 1
    assert [e.kind for e in week[0].events] == ["fired", "acknowledged", "resolved"]
    assert week[0].events[1].actor == "U0OWNER"
    assert alerts_between(engine, NOW + timedelta(days=7), NOW + timedelta(days=14)) == ()


def test_a_jump_past_several_budget_lines_posts_one_message(engine: Engine) -> None:
    cfg = config()
    budget_rules = ("budget_threshold", "budget_pace")

    def budget(per_day: str, now: datetime) -> Evaluation:
        evaluation = run_rules(_spend(per_day)(cfg, now), cfg)
        return Evaluation(tuple(f for f in evaluation.findings if f.key.rule in budget_rules))

    notifier = RecordingNotifier()
    apply_evaluation(engine, budget("51", NOW), NOW)
    deliver(engine, notifier, NOW)
    assert notifier.kinds() == [("post", "budget_threshold:search:100:2026-11")]
    assert len(open_alerts(engine)) == 3  # 80 % and the pace alert are recorded, covered
    notifier.clear()
    later = NOW + timedelta(hours=1)
    apply_evaluation(engine, budget("30", later), later)
    deliver(engine, notifier, later)
    assert notifier.kinds() == [("resolve", "budget_threshold:search:100:2026-11")]
    assert open_alerts(engine) == ()
