"""``SpendService``'s report cache stays flat however many polls it lives through, and never
answers from a generation the store has moved past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine

from aispend.config import parse_config
from aispend.records import OpenAICost, PollStatus
from aispend.service import SpendService
from aispend.store import writes
from aispend.store.engine import session_scope
from aispend.store.models import PollRun

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
PROJECTS = ("alpha", "beta", "gamma", "delta")


def poll(engine: Engine, at: datetime, amount: Decimal) -> None:
    """What a poll leaves behind: rewritten cost windows and a run (a new store generation)."""
    day = at.date()
    with session_scope(engine) as session:
        writes.replace_openai_costs(
            session,
            day,
            day + timedelta(days=1),
            [OpenAICost(day, f"proj_{name}", None, "gpt-4o", amount) for name in PROJECTS],
        )
        session.add(PollRun(provider="openai", endpoint="costs", started_at=at, status=PollStatus.OK))


def test_the_report_cache_holds_the_current_generation_only(engine: Engine) -> None:
    config = parse_config(
        {"projects": [{"name": name, "openai_projects": [f"proj_{name}"]} for name in PROJECTS]}
    )
    service = SpendService(engine, config, providers=("openai",))
    sizes: list[int] = []
    per_day: dict[object, Decimal] = {}
    for generation in range(60):  # 15 hours of polls: the UTC day turns during them
        at = NOW + timedelta(minutes=15 * generation)
        amount = Decimal(generation + 1)
        poll(engine, at, amount)
        per_day[at.date()] = amount
        for _question in range(2):  # the second round is answered from the cache
            for name in PROJECTS:
                report = service.project_report(name, at)
                assert report is not None
            team = service.team_report(at)
        # Never an answer from an older generation: the totals are what this poll wrote.
        assert report is not None and report.total == sum(per_day.values())
        assert {p.project: p.total for p in team.projects} == dict.fromkeys(PROJECTS, sum(per_day.values()))
        sizes.append(service.cached_reports())
    # One report per project plus the team-wide month, after the first poll as after the 60th.
    assert max(sizes) == len(PROJECTS) + 1
    assert sizes[0] == sizes[-1]
