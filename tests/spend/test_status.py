"""The data state per provider, from poll runs (``spend/status.py``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from aispend.spend.status import EndpointRun, data_status, for_month

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
STALE = timedelta(hours=2)


def run(
    provider: str,
    endpoint: str,
    status: str = "ok",
    *,
    ago: timedelta = timedelta(minutes=5),
    success_ago: timedelta | None = timedelta(minutes=5),
) -> EndpointRun:
    return EndpointRun(
        provider=provider,
        endpoint=endpoint,
        last_status=status,
        last_attempt_at=NOW - ago,
        last_success_at=None if success_ago is None else NOW - success_ago,
        error=None if status == "ok" else "boom",
    )


def states(*runs: EndpointRun, configured: tuple[str, ...] = ("openai", "openrouter")) -> dict[str, str]:
    found = data_status(runs, configured, NOW, stale_after=STALE)
    return {p: d.state for p, d in found.items()}


def test_an_empty_store_is_never_polled_and_an_unconfigured_provider_says_so() -> None:
    assert states() == {"openai": "never_polled", "openrouter": "never_polled"}
    assert states(configured=("openai",)) == {"openai": "never_polled", "openrouter": "not_configured"}


def test_a_refused_costs_call_is_no_permission_even_after_earlier_successes() -> None:
    assert states(run("openai", "costs", "permission_denied", success_ago=None))["openai"] == "no_permission"
    assert states(run("openai", "costs", "permission_denied", success_ago=timedelta(minutes=20)))[
        "openai"
    ] == ("no_permission")


def test_failures_are_errors_until_a_success_then_stale_after_the_threshold() -> None:
    assert states(run("openai", "costs", "error", success_ago=None))["openai"] == "error"
    recent = run("openai", "costs", "error", success_ago=timedelta(minutes=30))
    assert states(recent)["openai"] == "ok"  # one failed poll is not yet a gap
    old = run("openai", "costs", "error", success_ago=timedelta(hours=3))
    assert states(old)["openai"] == "stale"
    assert states(run("openai", "costs", ago=timedelta(hours=3), success_ago=timedelta(hours=3)))[
        "openai"
    ] == ("stale")


def test_openrouter_needs_keys_and_only_a_refused_or_failing_activity_spoils_it() -> None:
    keys = run("openrouter", "keys")
    assert states(keys)["openrouter"] == "ok"
    # /activity runs once a UTC day, so a success 20 hours ago is normal, not stale.
    day_old = run("openrouter", "activity", ago=timedelta(hours=20), success_ago=timedelta(hours=20))
    assert states(keys, day_old)["openrouter"] == "ok"
    refused = run("openrouter", "activity", "permission_denied", success_ago=None)
    assert states(keys, refused)["openrouter"] == "no_permission"
    # Activity alone (keys never fetched) is not enough.
    assert states(day_old)["openrouter"] == "never_polled"


def test_a_month_that_ended_before_a_successful_poll_keeps_its_figures() -> None:
    later = NOW + timedelta(days=40)  # January: November ended and was polled afterwards
    runs = [
        EndpointRun("openai", "costs", "permission_denied", later - timedelta(minutes=5), NOW, "refused"),
    ]
    now_status = data_status(runs, ("openai",), later, stale_after=STALE)
    assert now_status["openai"].state == "no_permission"
    # November was last polled on the 27th: not settled, still unknown.
    assert for_month(now_status, date(2026, 11, 1), later)["openai"].state == "no_permission"
    polled_after = [
        EndpointRun("openai", "costs", "permission_denied", later, later - timedelta(days=5), "x")
    ]
    status = data_status(polled_after, ("openai",), later, stale_after=STALE)
    assert for_month(status, date(2026, 11, 1), later)["openai"].state == "ok"
    assert for_month(status, date(2027, 1, 1), later)["openai"].state == "no_permission"
