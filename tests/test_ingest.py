"""Polling the simulated providers into the store, on SQLite and PostgreSQL.

The expected figures come from the dataset itself (the exact truth the fake servers serve), so
these tests check the whole path: HTTP clients, paging, retries, window replacement, attribution.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from aispend.config import Config, parse_config
from aispend.demo.simulated.dataset import ANY, Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.ingest import Poller
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.records import PollStatus
from aispend.service import SpendService
from aispend.store import reads, writes
from aispend.store.engine import session_scope
from aispend.store.models import OpenAICostDaily, OpenAIKeyName, OpenRouterActivityDaily, PollRun, table_of

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
MONTH = date(2026, 11, 1)
END = TODAY + timedelta(days=1)


@pytest.fixture(scope="module")
def dataset() -> Dataset:
    return Dataset.generate(TODAY)


@pytest.fixture
def providers(dataset: Dataset) -> Iterator[SimulatedProviders]:
    with SimulatedProviders(dataset) as running:
        yield running


def make_poller(
    engine: Engine, providers: SimulatedProviders, *, now: datetime = NOW, openai_key: str | None = None
) -> Poller:
    no_wait = lambda _seconds: None  # noqa: E731 - retries are asserted, not slept through
    openai = OpenAIClient(openai_key or providers.openai.admin_key, providers.openai.base_url, sleep=no_wait)
    openrouter = OpenRouterClient(
        providers.openrouter.management_key, providers.openrouter.base_url, sleep=no_wait
    )
    return Poller(
        engine,
        openai=openai,
        openrouter=openrouter,
        backfill_days=60,
        clock=lambda: now,
        secrets=(providers.openai.admin_key, providers.openrouter.management_key, openai_key),
    )


def team_config(dataset: Dataset) -> Config:
    ids = {p.name: p.id for p in dataset.openai_projects}
    return parse_config(
        {
            "projects": [
                {"name": "search", "openai_projects": ["search"], "openrouter_keys": ["search-prod"]},
                {
                    "name": "support",
                    "openai_projects": [ids["support-bot"]],
                    "openrouter_keys": ["support-prod"],
                },
                {"name": "pipeline", "openai_projects": ["data-pipeline"], "openrouter_keys": ["eval-batch"]},
            ]
        }
    )


def _openai_truth(dataset: Dataset, project: str) -> Decimal:
    return dataset.openai_cost_total(MONTH, END, project_id=dataset_project_id(dataset, project))


def dataset_project_id(dataset: Dataset, name: str) -> str:
    return next(p.id for p in dataset.openai_projects if p.name == name)


def _openrouter_truth(dataset: Dataset, key_name: str, *, end: date = END) -> Decimal:
    return dataset.openrouter_usage_total(MONTH, end, key_hash=dataset.openrouter_key(key_name).hash)


def _row_counts(engine: Engine) -> tuple[int, int]:
    with session_scope(engine) as session:
        costs = session.execute(select(func.count()).select_from(OpenAICostDaily)).scalar_one()
        activity = session.execute(select(func.count()).select_from(OpenRouterActivityDaily)).scalar_one()
    return costs, activity


def test_totals_per_project_provider_and_model_equal_the_dataset_exactly(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    summary = make_poller(engine, providers).poll()
    assert summary.ok, summary.errors
    assert summary.key_level_costs is True
    service = SpendService(engine, team_config(dataset))
    report = service.team_report(NOW)

    expected = {
        "search": ("search", "search-prod"),
        "support": ("support-bot", "support-prod"),
        "pipeline": ("data-pipeline", "eval-batch"),
    }
    for project in report.projects:
        oa_name, or_key = expected[project.project]
        assert project.by_provider["openai"] == _openai_truth(dataset, oa_name)
        assert project.by_provider["openrouter"] == _openrouter_truth(dataset, or_key)
        assert project.total == _openai_truth(dataset, oa_name) + _openrouter_truth(dataset, or_key)

    # Provider totals (projects + unattributed) are the whole month, org-level rows included.
    assert report.provider_totals["openai"] == dataset.openai_cost_total(MONTH, END)
    assert report.provider_totals["openrouter"] == dataset.openrouter_usage_total(MONTH, END)
    assert report.unattributed.by_provider["openai"] > 0  # org-level (null project) spend is reported

    # Per model / line item: OpenAI by line item, OpenRouter by model on days activity covers.
    search = service.project_report("search", NOW)
    assert search is not None
    search_id = dataset_project_id(dataset, "search")
    for detail in (d for d in search.by_billed_item if d.provider == "openai"):
        assert detail.usd == dataset.openai_cost_total(
            MONTH, END, project_id=search_id, line_item=detail.billed_item
        )
    key_hash = dataset.openrouter_key("search-prod").hash
    for model in (m for m in search.by_model if m.provider == "openrouter" and not m.model.startswith("(")):
        assert model.usd == dataset.openrouter_usage_total(MONTH, TODAY, key_hash=key_hash, model=model.model)
    assert search.provisional_since == TODAY


def test_polling_again_changes_nothing_and_a_correction_replaces(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    make_poller(engine, providers).poll()
    before = _row_counts(engine)
    again = make_poller(engine, providers, now=NOW + timedelta(minutes=15)).poll()
    assert again.ok
    for result in again.results:
        if result.endpoint in ("costs", "usage/completions", "usage/embeddings"):
            assert (result.count.inserted, result.count.updated, result.count.deleted) == (0, 0, 0), result
    assert _row_counts(engine) == before

    # A late correction for a past day replaces the old amount instead of adding to it.
    day = TODAY - timedelta(days=2)
    victim = dataset.costs_on(day)[0]
    original = victim.amount
    try:
        dataset.mutate_openai_cost(
            day,
            project_id=victim.project_id,
            api_key_id=victim.api_key_id,
            line_item=victim.line_item,
            new_amount=original + Decimal("12.345678901"),
        )
        fixed = make_poller(engine, providers, now=NOW + timedelta(minutes=30)).poll()
        costs = next(r for r in fixed.results if r.endpoint == "costs")
        assert (costs.count.inserted, costs.count.updated, costs.count.deleted) == (0, 1, 0)
        service = SpendService(engine, team_config(dataset))
        assert service.team_report(NOW).provider_totals["openai"] == dataset.openai_cost_total(MONTH, END)
        assert _row_counts(engine) == before
    finally:
        dataset.mutate_openai_cost(
            day,
            project_id=victim.project_id,
            api_key_id=victim.api_key_id,
            line_item=victim.line_item,
            new_amount=original,
        )


def test_a_poll_killed_mid_ingest_then_a_clean_poll_gives_exact_totals(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("killed")

    monkeypatch.setattr(writes, "replace_openai_usage", crash)
    with pytest.raises(RuntimeError, match="killed"):
        make_poller(engine, providers).poll()
    costs_after_crash, activity_after_crash = _row_counts(engine)
    assert costs_after_crash > 0 and activity_after_crash == 0  # costs were committed, nothing after
    monkeypatch.undo()

    make_poller(engine, providers, now=NOW + timedelta(minutes=1)).poll()
    report = SpendService(engine, team_config(dataset)).team_report(NOW + timedelta(minutes=1))
    assert report.provider_totals["openai"] == dataset.openai_cost_total(MONTH, END)
    assert report.provider_totals["openrouter"] == dataset.openrouter_usage_total(MONTH, END)
    assert _row_counts(engine)[0] == costs_after_crash


def test_rate_limits_and_server_errors_are_retried(engine: Engine, providers: SimulatedProviders) -> None:
    providers.openai.faults.add("/organization/costs", 429, headers={"Retry-After": "1"}, times=1)
    providers.openrouter.faults.add("/keys", 500, times=1)
    summary = make_poller(engine, providers).poll()
    assert summary.ok, summary.errors
    assert providers.openai.count("/organization/costs", status=429) == 1
    assert providers.openrouter.count("/keys", status=500) == 1


def test_failures_keep_stored_data_and_are_recorded(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    make_poller(engine, providers).poll()
    config = team_config(dataset)
    before = SpendService(engine, config).team_report(NOW)
    rows_before = _row_counts(engine)

    providers.openai.faults.add("/organization/costs", truncate=True, times=None)  # every attempt
    providers.openrouter.faults.add("/credits", 403, times=None)
    later = NOW + timedelta(minutes=15)
    summary = make_poller(engine, providers, now=later).poll()
    statuses = {(r.provider, r.endpoint): r.status for r in summary.results}
    assert statuses[("openai", "costs")] == "error"
    assert statuses[("openrouter", "credits")] == "permission_denied"
    assert statuses[("openrouter", "keys")] == "ok"  # the rest of the poll goes on

    assert _row_counts(engine) == rows_before
    after = SpendService(engine, config).team_report(later)
    assert after.provider_totals == before.provider_totals
    health = SpendService(engine, config).health(later)
    credits = next(e for e in health.endpoints if e.endpoint == "credits")
    assert credits.last_status == "permission_denied" and credits.last_success_at == NOW
    runway = SpendService(engine, config).runway(later)
    assert runway.balance == dataset.openrouter_credits.balance  # the last good snapshot, not $0


def _start(request: object) -> date:
    return datetime.fromtimestamp(int(request.query["start_time"][0]), UTC).date()  # type: ignore[attr-defined]


def test_first_poll_backfills_and_later_polls_fetch_only_what_can_change(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    config = team_config(dataset)
    make_poller(engine, providers).poll()
    first = [r for r in providers.openai.requests if r.path == "/organization/costs"]
    assert _start(first[0]) == date(2026, 9, 28)  # the backfill (which reconciles the month too)
    before = SpendService(engine, config).team_report(NOW)
    providers.openai.reset_requests()
    providers.openrouter.reset_requests()
    later = NOW + timedelta(minutes=30)
    make_poller(engine, providers, now=later).poll()
    costs = [r for r in providers.openai.requests if r.path == "/organization/costs"]
    assert _start(costs[0]) == TODAY - timedelta(days=3)  # incremental: the days OpenAI may revise
    assert providers.openrouter.count("/activity") == 0  # activity only once per UTC day
    assert not any(r.path.startswith("/organization/projects") for r in providers.openai.requests)
    # A steady-state poll is a handful of requests whatever the number of projects.
    asked = len(providers.openai.requests) + len(providers.openrouter.requests)
    assert asked <= 12, [r.path for r in [*providers.openai.requests, *providers.openrouter.requests]]
    after = SpendService(engine, config).team_report(later)
    assert after.provider_totals == before.provider_totals  # exact: nothing lost outside the window
    assert after.provider_totals["openai"] == dataset.openai_cost_total(MONTH, END)


def test_the_whole_month_and_every_name_are_fetched_once_per_utc_day(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    make_poller(engine, providers).poll()
    tomorrow = datetime.combine(TODAY + timedelta(days=1), datetime.min.time(), UTC) + timedelta(minutes=5)
    for at, month_wide in ((tomorrow, True), (tomorrow + timedelta(minutes=15), False)):
        providers.openai.reset_requests()
        make_poller(engine, providers, now=at).poll()
        costs = [r for r in providers.openai.requests if r.path == "/organization/costs"]
        names = [r for r in providers.openai.requests if r.path.startswith("/organization/projects")]
        if month_wide:  # the daily reconciliation, and the daily name refresh
            assert _start(costs[0]) == MONTH
            assert len(names) > len(dataset.openai_projects)  # the list plus each project's keys
        else:
            assert _start(costs[0]) == at.date() - timedelta(days=3)
            assert names == []
    report = SpendService(engine, team_config(dataset)).team_report(tomorrow)
    assert report.provider_totals["openai"] == dataset.openai_cost_total(MONTH, END + timedelta(days=1))


def test_an_unknown_id_in_the_costs_fetches_only_its_names(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    make_poller(engine, providers).poll()
    some_key = next(
        k
        for k in dataset.openai_api_keys
        if k.project_id != "" and any(c.api_key_id == k.id for c in dataset.openai_costs)
    )
    with session_scope(engine) as session:  # as if the key had been created since the last listing
        session.execute(table_of(OpenAIKeyName).delete().where(table_of(OpenAIKeyName).c.id == some_key.id))
    poller = make_poller(engine, providers, now=NOW + timedelta(minutes=15))
    for _ in range(2):
        providers.openai.reset_requests()
        poller.poll()
        names = [r.path for r in providers.openai.requests if r.path.startswith("/organization/projects")]
        if _ == 0:  # one key list: the project that owns the new key
            assert names == [f"/organization/projects/{some_key.project_id}/api_keys"]
        else:  # looked up once: not again on every poll
            assert names == []
    with session_scope(engine) as session:
        assert some_key.id in reads.directory(session).openai_keys


def test_key_level_grouping_refused_falls_back_and_is_reported(engine: Engine, dataset: Dataset) -> None:
    with SimulatedProviders(dataset) as providers:
        providers.openai.reject_key_grouping = True
        summary = make_poller(engine, providers).poll()
    assert summary.key_level_costs is False
    with session_scope(engine) as session:
        costs_runs = list(session.execute(select(PollRun).where(col(PollRun.endpoint) == "costs")).scalars())
        assert [(run.status, run.key_level_costs) for run in costs_runs] == [(PollStatus.OK, False)]
        costs_runs[0].detail = "a sentence that no longer says so"  # the flag is stored, not parsed
    health = SpendService(engine, team_config(dataset)).health(NOW)
    assert health.key_level_costs is False
    report = SpendService(engine, team_config(dataset)).team_report(NOW)
    assert report.provider_totals["openai"] == dataset.openai_cost_total(MONTH, END)


def test_keys_never_reach_logs_or_stored_errors(
    engine: Engine, providers: SimulatedProviders, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "sk-admin-WRONGSECRET1234567890"
    providers.openrouter.faults.add("/keys", 503, times=None)
    with caplog.at_level(logging.DEBUG):
        summary = make_poller(engine, providers, openai_key=wrong).poll()
    assert not summary.ok
    with session_scope(engine) as session:
        stored = " ".join(run.error or "" for run in session.execute(select(PollRun)).scalars())
    text = caplog.text + stored + " ".join(r.error or "" for r in summary.results)
    for secret in (wrong, providers.openai.admin_key, providers.openrouter.management_key):
        assert secret not in text
    assert "permission" in stored or "401" in stored


def test_org_level_rows_are_kept(engine: Engine, providers: SimulatedProviders, dataset: Dataset) -> None:
    make_poller(engine, providers).poll()
    report = SpendService(engine, team_config(dataset)).team_report(NOW)
    org = [ref for ref in report.unattributed.refs if ref.kind == "org"]
    assert org and org[0].usd == dataset.openai_cost_total(MONTH, END, project_id=None, api_key_id=ANY)


def test_names_come_from_archived_projects_too_and_their_absence_is_tolerated(
    engine: Engine, providers: SimulatedProviders, dataset: Dataset
) -> None:
    archived = next(p for p in dataset.openai_projects if p.status == "archived")
    providers.openai.faults.add(f"/organization/projects/{archived.id}/api_keys", 404, times=None)
    summary = make_poller(engine, providers).poll()
    names = next(r for r in summary.results if r.endpoint == "projects")
    assert names.status == "ok"
    with session_scope(engine) as session:
        directory = reads.directory(session)
    assert archived.id in directory.openai_projects
    archived_keys = {k.id for k in dataset.openai_api_keys if k.project_id == archived.id}
    assert archived_keys and not archived_keys & set(directory.openai_keys)
    assert any(k.id in directory.openai_keys for k in dataset.openai_api_keys if k.project_id != archived.id)

    # Without the fault the archived project's key names are fetched as well, at the next daily
    # name refresh (between refreshes only ids the costs bring without a name are looked up).
    providers.openai.faults.clear()
    make_poller(engine, providers, now=NOW + timedelta(days=1)).poll()
    with session_scope(engine) as session:
        assert archived_keys <= set(reads.directory(session).openai_keys)
