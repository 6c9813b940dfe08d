"""Fixtures for the Slack tests: an in-memory ``SpendReader``, the fake Slack API, the Bolt app
and the HTTP server, plus signed-request helpers.

``reader`` is the seam: override that fixture (e.g. with the store-backed ``SpendService`` over a
seeded database) and the app, HTTP and fuzz tests run against it unchanged; expected figures are
read back from the reader, not hard-coded, except in the pure builder tests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient

from aispend.config import Config, parse_config
from aispend.metrics import Metrics
from aispend.reader import EndpointHealth, Health, SpendReader
from aispend.records import PollStatus, Provider
from aispend.slack.app import build_app
from aispend.slack.client import make_web_client
from aispend.slack.home import MemoryHomeAudience
from aispend.slack.web import create_web_app
from aispend.spend.model import (
    BilledItemSpend,
    DayPoint,
    KeyCap,
    MixReport,
    ModelShare,
    ModelSpend,
    Mover,
    Pace,
    ProjectReport,
    RouteCost,
    RoutesReport,
    Runway,
    TeamReport,
    Unattributed,
    UnattributedRef,
)
from aispend.spend.visibility import Audience, view_for, visible_team
from tests.fakes import slack_requests
from tests.fakes.asgi_server import serve_in_thread
from tests.fakes.fake_slack import FakeSlack

SECRET = "test-signing-secret"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MONTH = date(2026, 11, 1)
OWNER = "U0123OWNER"
ATLAS_OWNER = "U0ATLAS"
GROUP = "S0GROUP"
ADMIN = "U0999ADMIN"
STRANGER = "U0STRANGER"
D = Decimal

CONFIG_DATA: dict[str, Any] = {
    "timezone": "Europe/Berlin",
    "alert_channel": "C0123ALERTS",
    "projects": [
        {
            "name": "search",
            "owner": OWNER,
            "monthly_budget_usd": D(2000),
            "openai_projects": ["proj_abc"],
            "openrouter_keys": ["search-prod"],
        },
        {"name": "atlas", "owner": ATLAS_OWNER, "monthly_budget_usd": D(500), "visibility": "owner"},
        {"name": "billing", "owner": GROUP, "visibility": "owner"},
        {"name": "labs", "owner": "U0LABS"},
    ],
    "admins": [ADMIN],
}


def _daily(amounts: list[Decimal], provisional_from: int | None = None) -> tuple[DayPoint, ...]:
    return tuple(
        DayPoint(MONTH + timedelta(days=i), usd, provisional_from is not None and i >= provisional_from)
        for i, usd in enumerate(amounts)
    )


def _report(
    name: str,
    owner: str | None,
    visibility: str,
    models: list[tuple[Provider, str, Decimal]],
    daily: list[Decimal],
    pace: Pace,
) -> ProjectReport:
    by_provider: dict[Provider, Decimal] = {}
    for provider, _, usd in models:
        by_provider[provider] = by_provider.get(provider, D(0)) + usd
    total = sum(by_provider.values(), D(0))
    assert total == sum(daily, D(0)), name
    return ProjectReport(
        project=name,
        month=MONTH,
        as_of=NOW,
        owner=owner,
        channel=None,
        visibility="owner" if visibility == "owner" else "public",
        total=total,
        by_provider=by_provider,
        by_model=tuple(
            ModelSpend(p, m, usd) for p, m, usd in sorted(models, key=lambda row: row[2], reverse=True)
        ),
        by_billed_item=tuple(BilledItemSpend(p, "completions", usd) for p, usd in by_provider.items()),
        daily=_daily(daily, provisional_from=len(daily) - 1),
        provisional_since=MONTH + timedelta(days=len(daily) - 1),
        pace=pace,
    )


def build_reports() -> tuple[ProjectReport, ...]:
    search = _report(
        "search",
        OWNER,
        "public",
        [
            ("openai", "gpt-4o", D("600")),
            ("openai", "gpt-4o-mini", D("400")),
            ("openrouter", "anthropic/claude-3.5-sonnet", D("200")),
            ("openrouter", "meta-llama/llama-3.1-70b", D("20")),
            ("openrouter", "google/gemini-flash", D("10")),
            ("openrouter", "mistral/mistral-large", D("4.567891")),
        ],
        [D(45)] * 26 + [D("64.567891")],
        Pace("on_track", D("1234.567891"), D(2000), D("61.73"), D("1371.74"), D("45.72"), None, 27),
    )
    atlas = _report(
        "atlas",
        ATLAS_OWNER,
        "owner",
        [("openai", "gpt-4.1", D("480"))],
        [D("17.5")] * 26 + [D(25)],
        Pace("at_risk", D(480), D(500), D(96), D("533.33"), D("17.78"), date(2026, 11, 29), 27),
    )
    billing = _report(
        "billing",
        GROUP,
        "owner",
        [("openrouter", "openai/gpt-4o", D("75.25"))],
        [D(0)] * 20 + [D("10.75")] * 7,
        Pace("no_budget", D("75.25"), None, None, D("86.14"), D("10.75"), None, 7),
    )
    labs = _report(
        "labs",
        "U0LABS",
        "public",
        [("openai", "o3-mini", D(12))],
        [D(0)] * 25 + [D(5), D(7)],
        Pace("insufficient_history", D(12), None, None, None, None, None, 2),
    )
    return (search, atlas, billing, labs)


@dataclass
class InMemoryReader:
    """A ``SpendReader`` over literal data; ``calls`` lists every method called."""

    config: Config = field(default_factory=lambda: parse_config(CONFIG_DATA))
    reports: tuple[ProjectReport, ...] = field(default_factory=build_reports)
    calls: list[str] = field(default_factory=list)
    audiences: list[Audience] = field(default_factory=list)  # the audience of each team-wide call
    unattributed: Unattributed = field(
        default_factory=lambda: Unattributed(
            by_provider={"openai": D("42.10"), "openrouter": D("7.90")},
            refs=(
                UnattributedRef("openai", "openai_project", "proj_zzz", "Legacy <script> & co", D(30)),
                UnattributedRef("openai", "org", None, None, D("12.10")),
                UnattributedRef("openrouter", "openrouter_key", "a1b2c3", "temp-key", D("7.90")),
            ),
        )
    )

    def project_report(self, name: str, now: datetime, month: date | None = None) -> ProjectReport | None:
        self.calls.append("project_report")
        return next((r for r in self.reports if r.project.lower() == name.lower()), None)

    def team_report(self, now: datetime, month: date | None = None, *, audience: Audience) -> TeamReport:
        self.calls.append("team_report")
        self.audiences.append(audience)
        totals: dict[Provider, Decimal] = dict(self.unattributed.by_provider)
        for report in self.reports:
            for provider, usd in report.by_provider.items():
                totals[provider] = totals.get(provider, D(0)) + usd
        full = TeamReport(MONTH, now, self.reports, self.unattributed, totals)
        return visible_team(full, view_for(self.config.projects, audience, self.config.admins))

    def runway(self, now: datetime, *, audience: Audience) -> Runway:
        self.calls.append("runway")
        self.audiences.append(audience)
        cap = KeyCap("a1b2c3", "search-prod", D(50), D("4.5"), D(9))
        return Runway(
            as_of=now,
            snapshot_at=now - timedelta(minutes=5),
            balance=D("123.45"),
            burn_per_day=D("29.40"),
            burn_24h=D("25.00"),
            burn_7d=D("29.40"),
            basis="7d",
            confidence="medium",
            days_left=D("4.1989"),
            runs_out_on=date(2026, 12, 1),
            stale=False,
            status="low",
            low_keys=(cap,),
        )

    def mix(self, now: datetime, project: str | None = None, *, audience: Audience) -> MixReport:
        """Literal lines carry no attribution, so the audience is only recorded here; the
        store-backed tests (tests/hostile/test_visibility.py) check the filtering."""
        self.calls.append("mix")
        self.audiences.append(audience)
        return MixReport(
            project=project,
            week_start=date(2026, 11, 20),
            this_week=D(300),
            last_week=D(250),
            models=(
                ModelShare("openai", "gpt-4o", D(150), D(150), D(50), D(60), D(-10), False),
                ModelShare(
                    "openrouter", "anthropic/claude-3.5-sonnet", D(90), D(100), D(30), D(40), D(-10), False
                ),
                ModelShare("openrouter", "deepseek/deepseek-r1", D(60), D(0), D(20), D(0), D(20), True),
            ),
        )

    def routes(self, now: datetime, *, audience: Audience) -> RoutesReport:
        self.calls.append("routes")
        self.audiences.append(audience)
        return RoutesReport(
            start=date(2026, 11, 20),
            end=date(2026, 11, 26),
            routes=(
                RouteCost("anthropic/claude-3.5-sonnet", "Anthropic", D(150), 900, 10_000_000, D(15), D(75)),
                RouteCost(
                    "anthropic/claude-3.5-sonnet", "Amazon Bedrock", D(50), 300, 3_000_000, D("16.67"), D(25)
                ),
                RouteCost("meta-llama/llama-3.1-70b", "Together", D(20), 1000, 22_727_272, D("0.88"), D(100)),
            ),
        )

    def movers(self, now: datetime, *, audience: Audience) -> tuple[Mover, ...]:
        self.calls.append("movers")
        self.audiences.append(audience)
        return ()

    def last_poll_at(self) -> datetime | None:
        self.calls.append("last_poll_at")
        return NOW - timedelta(minutes=5)

    def health(self, now: datetime) -> Health:
        self.calls.append("health")
        five = now - timedelta(minutes=5)
        return Health(
            database_ok=True,
            last_poll_at=five,
            endpoints=(
                EndpointHealth("openai", "costs", PollStatus.OK, five, five, None),
                EndpointHealth("openai", "usage/completions", PollStatus.OK, five, five, None),
                EndpointHealth("openrouter", "credits", PollStatus.PERMISSION_DENIED, five, None, "HTTP 403"),
                EndpointHealth(
                    "openrouter",
                    "activity",
                    PollStatus.ERROR,
                    five,
                    now - timedelta(days=1),
                    "HTTP 502 <html>",
                ),
            ),
            key_level_costs=False,
        )


class CountingReader:
    """Wraps any ``SpendReader`` and records calls, so tests can assert "the reader was not called"."""

    def __init__(self, inner: SpendReader) -> None:
        self.inner = inner
        self.calls: list[str] = []

    @property
    def config(self) -> Config:
        return self.inner.config

    def project_report(self, name: str, now: datetime, month: date | None = None) -> ProjectReport | None:
        self.calls.append("project_report")
        return self.inner.project_report(name, now, month)

    def team_report(self, now: datetime, month: date | None = None, *, audience: Audience) -> TeamReport:
        self.calls.append("team_report")
        return self.inner.team_report(now, month, audience=audience)

    def runway(self, now: datetime, *, audience: Audience) -> Runway:
        self.calls.append("runway")
        return self.inner.runway(now, audience=audience)

    def mix(self, now: datetime, project: str | None = None, *, audience: Audience) -> MixReport:
        self.calls.append("mix")
        return self.inner.mix(now, project, audience=audience)

    def routes(self, now: datetime, *, audience: Audience) -> RoutesReport:
        self.calls.append("routes")
        return self.inner.routes(now, audience=audience)

    def movers(self, now: datetime, *, audience: Audience) -> tuple[Mover, ...]:
        self.calls.append("movers")
        return self.inner.movers(now, audience=audience)

    def last_poll_at(self) -> datetime | None:
        self.calls.append("last_poll_at")
        return self.inner.last_poll_at()

    def health(self, now: datetime) -> Health:
        self.calls.append("health")
        return self.inner.health(now)


# ---------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def reader() -> SpendReader:
    return InMemoryReader()


@pytest.fixture
def counting(reader: SpendReader) -> CountingReader:
    return CountingReader(reader)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[FakeSlack]:
    fake = FakeSlack().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(fake_server: FakeSlack) -> FakeSlack:
    fake_server.reset()
    return fake_server


@pytest.fixture
def web_client(fake: FakeSlack) -> WebClient:
    return make_web_client("xoxb-test", fake.api_url)


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def audience() -> MemoryHomeAudience:
    return MemoryHomeAudience()


@pytest.fixture
def bolt_app(
    counting: CountingReader, web_client: WebClient, metrics: Metrics, audience: MemoryHomeAudience
) -> App:
    return build_app(
        reader=counting,
        client=web_client,
        signing_secret=SECRET,
        clock=lambda: NOW,
        metrics=metrics,
        audience=audience,
    )


@dataclass
class Server:
    url: str
    http: httpx.Client


@pytest.fixture
def server(bolt_app: App, counting: CountingReader, metrics: Metrics) -> Iterator[Server]:
    """The Starlette app under uvicorn on a pre-bound loopback socket, in a thread."""
    asgi = create_web_app(
        bolt_app,
        signing_secret=SECRET,
        health=lambda: counting.health(NOW),
        metrics=metrics,
        clock=lambda: NOW,
    )
    with serve_in_thread(asgi) as url, httpx.Client(base_url=url, timeout=10) as http:
        yield Server(url, http)


# ------------------------------------------------------------------------------------------ helpers


def command_body(text: str, *, user: str = OWNER, response_url: str = slack_requests.NOWHERE) -> str:
    return slack_requests.command_body(text, user=user, response_url=response_url)


def home_opened_body(user: str, tab: str = "home") -> str:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T0FAKE",
            "api_app_id": "A0APP",
            "type": "event_callback",
            "event_id": "Ev0HOME",
            "event_time": int(NOW.timestamp()),
            "event": {
                "type": "app_home_opened",
                "user": user,
                "channel": "D0HOME",
                "tab": tab,
                "event_ts": "1.2",
            },
        }
    )


def signed_headers(
    body: str, *, timestamp: int | None = None, secret: str = SECRET, json_body: bool = False
) -> dict[str, str]:
    return slack_requests.signed_headers(body, secret=secret, timestamp=timestamp, json_body=json_body)


def signed_request(body: str, *, json_body: bool = False) -> BoltRequest:
    headers: dict[str, str | Sequence[str]] = dict(signed_headers(body, json_body=json_body))
    return BoltRequest(body=body, headers=headers)


def all_texts(payload: Any) -> list[str]:
    """Every string under a ``text`` key (message text and every block's text), recursively."""
    found: list[str] = []
    if isinstance(payload, dict):
        for key, value in payload.items():
            if key == "text" and isinstance(value, str):
                found.append(value)
            else:
                found.extend(all_texts(value))
    elif isinstance(payload, list):
        for item in payload:
            found.extend(all_texts(item))
    return found


def joined(payload: Any) -> str:
    return "\n".join(all_texts(payload))
