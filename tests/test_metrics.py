"""``/metrics``: a complete, parseable exposition of what operators alert on."""

from __future__ import annotations

from decimal import Decimal

from prometheus_client.parser import text_string_to_metric_families

from aispend.metrics import Metrics


def families(metrics: Metrics) -> dict[str, object]:
    return {family.name: family for family in text_string_to_metric_families(metrics.render().decode())}


def test_every_family_is_exposed_with_help_before_its_first_event() -> None:
    text = Metrics().render().decode()
    parsed = families(Metrics())
    for name in (
        "aispend_polls",
        "aispend_poll_last_success_timestamp_seconds",
        "aispend_rows_written",
        "aispend_openrouter_balance_usd",
        "aispend_openrouter_runway_days",
        "aispend_project_spend_usd",
        "aispend_project_budget_usd",
        "aispend_alerts_sent",
        "aispend_alerts_resolved",
        "aispend_digests_posted",
        "aispend_slash_latency_seconds",
        "aispend_slack_api_errors",
        "process_resident_memory_bytes",
        "python_gc_collections",
    ):
        assert name in parsed, name
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            family = line.split()[2]
            assert f"# HELP {family} " in text, f"{family} has no HELP text"


def test_label_values_are_escaped_and_counts_add_up() -> None:
    metrics = Metrics(process_collectors=False)
    metrics.inc("aispend_slack_commands_total", command='we"ird')
    metrics.inc("aispend_slack_commands_total", command='we"ird')
    assert 'aispend_slack_commands_total{command="we\\"ird"} 2.0' in metrics.render().decode()
    assert metrics.value("aispend_slack_commands_total", command='we"ird') == 2


def test_latency_histogram_counts_each_answer_in_its_bucket() -> None:
    metrics = Metrics(process_collectors=False)
    metrics.observe("aispend_slash_latency_seconds", 0.004, command="help")
    metrics.observe("aispend_slash_latency_seconds", 2.5, command="help")
    assert metrics.value("aispend_slash_latency_seconds_bucket", command="help", le="0.005") == 1
    assert metrics.value("aispend_slash_latency_seconds_bucket", command="help", le="3.0") == 2
    assert metrics.value("aispend_slash_latency_seconds_count", command="help") == 2


def test_per_project_gauges_follow_the_config() -> None:
    metrics = Metrics(process_collectors=False)
    metrics.set_per_project(
        "aispend_project_spend_usd", {"search": Decimal("12.5"), "gone": Decimal(1)}, known=["search"]
    )
    assert metrics.value("aispend_project_spend_usd", project="search") == 12.5
    assert 'project="gone"' not in metrics.render().decode()
    metrics.set_per_project("aispend_project_spend_usd", {}, known=["search"])
    assert 'project="search"' not in metrics.render().decode()
