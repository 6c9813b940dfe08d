"""Prometheus metrics: what an operator alerts on, exposed at ``GET /metrics``.

Every family is declared here, with its help text and label names, so the exposition is complete
from the first scrape (a family that appears only after its first event breaks ``absent()``
alerts) and a label typo fails loudly instead of creating a new series. Each :class:`Metrics`
owns its registry (prometheus_client's default one is process-global, which would leak counts
between tests and between two apps in one process) with the process and GC collectors on it.

Label values are bounded: providers, endpoints and outcomes are fixed sets, subcommands are
parsed kinds, and projects come from ``aispend.yaml`` (a project removed from the config is
dropped from the gauges at the next poll).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from decimal import Decimal

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Slash answers are due within Slack's 3 s ack; buckets resolve the range that matters around it.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0)

_COUNTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "aispend_slack_commands_total": ("Slash commands answered, by subcommand.", ("command",)),
    "aispend_slack_errors_total": (
        "Errors while handling Slack requests, by where they happened.",
        ("where",),
    ),
    "aispend_http_requests_total": ("HTTP requests, by path and status.", ("path", "status")),
    "aispend_slack_rejected_total": (
        "Requests refused before Bolt (size, signature, shape), by reason.",
        ("reason",),
    ),
    "aispend_slack_repeats_total": (
        "Repeated Slack requests (retries, replays) answered without doing their work again.",
        ("kind",),
    ),
    "aispend_polls_abandoned_total": ("Polls abandoned because they overran their time budget.", ()),
    "aispend_polls_skipped_total": (
        "Scheduled polls skipped because another process was polling the same database.",
        (),
    ),
    "aispend_slack_api_errors_total": ("Slack Web API calls that failed, by API method.", ("method",)),
    "aispend_polls_total": (
        "Provider endpoint polls, by provider, endpoint and outcome (ok, no_permission, error).",
        ("provider", "endpoint", "outcome"),
    ),
    "aispend_rows_written_total": (
        "Stored rows inserted, updated or deleted by polls, by provider and endpoint.",
        ("provider", "endpoint"),
    ),
    "aispend_alerts_sent_total": ("Alert notifications posted to Slack, by rule.", ("rule",)),
    "aispend_alerts_resolved_total": ("Alerts resolved, by rule.", ("rule",)),
    "aispend_digests_posted_total": ("Weekly digests posted.", ()),
}
_GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "aispend_poll_last_success_timestamp_seconds": (
        "Unix time of the last successful poll of each provider endpoint.",
        ("provider", "endpoint"),
    ),
    "aispend_openrouter_balance_usd": ("OpenRouter credit balance at the last poll, in USD.", ()),
    "aispend_openrouter_runway_days": (
        "Days the OpenRouter balance lasts at the current burn (absent when unknown).",
        (),
    ),
    "aispend_project_spend_usd": ("Month-to-date spend per configured project, in USD.", ("project",)),
    "aispend_project_budget_usd": ("Monthly budget per configured project, in USD.", ("project",)),
    "aispend_leader": (
        "1 while this replica holds the leader lock and runs polls, alerts and the digest, else 0.",
        (),
    ),
}
_HISTOGRAMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "aispend_slash_latency_seconds": ("Time to answer a slash command, by subcommand.", ("command",)),
}


class Metrics:
    """The app's metric families on a registry of their own."""

    def __init__(self, *, process_collectors: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        if process_collectors:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self._counters = {
            name: Counter(name, doc, labels, registry=self.registry)
            for name, (doc, labels) in _COUNTERS.items()
        }
        self._gauges = {
            name: Gauge(name, doc, labels, registry=self.registry) for name, (doc, labels) in _GAUGES.items()
        }
        self._histograms = {
            name: Histogram(name, doc, labels, buckets=_LATENCY_BUCKETS, registry=self.registry)
            for name, (doc, labels) in _HISTOGRAMS.items()
        }
        self._lock = threading.Lock()

    def inc(self, name: str, amount: int = 1, **labels: str) -> None:
        counter = self._counters[name]
        (counter.labels(**labels) if labels else counter).inc(amount)

    def set(self, name: str, value: Decimal | int | float, **labels: str) -> None:
        # The exposition format is floating point by definition; this is a reading for
        # dashboards, never a figure aispend computes with.
        gauge = self._gauges[name]
        (gauge.labels(**labels) if labels else gauge).set(float(value))

    def clear(self, name: str) -> None:
        """Drop every series of a gauge (a value that is no longer known must not linger)."""
        self._gauges[name].clear()

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        self._histograms[name].labels(**labels).observe(seconds)

    def set_per_project(self, name: str, values: Mapping[str, Decimal], known: Iterable[str]) -> None:
        """Replace a per-project gauge: projects no longer in the config disappear."""
        with self._lock:
            gauge = self._gauges[name]
            gauge.clear()
            allowed = set(known)
            for project, value in values.items():
                if project in allowed:
                    gauge.labels(project=project).set(float(value))

    def value(self, name: str, **labels: str) -> float:
        """The current value of one series (0 when it has not been touched): for tests."""
        sample = self.registry.get_sample_value(name, labels)
        return 0.0 if sample is None else sample

    def render(self) -> bytes:
        return generate_latest(self.registry)
