"""One poll: providers → store, recording every endpoint as a poll run.

Each endpoint is fetched first and written in one transaction afterwards (together with its
poll-run row), so a crash or a provider failure mid-poll leaves everything written before it
intact, and the next poll completes the picture. Writes replace whole windows (see
``store.writes``), so re-polling never double-counts.

Windows: the first successful OpenAI costs poll backfills ``backfill_days``. Later polls are
incremental: they re-fetch only what OpenAI may still revise, today and 3 days back (late
corrections), and once per UTC day the whole current month plus those 3 days (the daily
reconciliation), so a steady-state poll costs a few requests whatever the size of the month.
OpenRouter credits and keys are snapshotted every poll; ``/activity`` (last 30 completed UTC
days) is fetched once per UTC day per key that has ever spent anything. OpenAI project and key
names are refreshed once per UTC day, and in between only for ids the costs bring that the store
has no name for (each looked up once a day: one request per project concerned).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session

from aispend.clock import ensure_utc, month_start, utcnow
from aispend.providers.errors import (
    BadRequest,
    PermissionDenied,
    PollBudgetExhausted,
    ProviderError,
    RateLimited,
    redact,
)
from aispend.providers.limits import Limits, PollBudget
from aispend.providers.openai import CostsPage, OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from aispend.records import (
    OpenAIApiKey,
    OpenAIProject,
    OpenAIUsage,
    OpenRouterActivity,
    OpenRouterKey,
    OpenRouterWorkspace,
    PollStatus,
    Provider,
)
from aispend.settings import Settings, secret
from aispend.store import reads, writes
from aispend.store.engine import session_scope
from aispend.store.locks import PollLock
from aispend.store.models import PollRun
from aispend.store.writes import WriteCount

log = logging.getLogger(__name__)

REFETCH_DAYS_BACK = 3
ACTIVITY_DAYS = 30
RECONCILED_MARK = "openai.costs.reconciled"  # the UTC day the whole month was last re-fetched
NAMES_MARK = "openai.names"  # when every project's name and key names were last listed
POLLED_USAGE_ENDPOINTS = ("completions", "embeddings")  # the usage types teams spend on; more cost requests

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class EndpointResult:
    provider: Provider
    endpoint: str
    status: PollStatus
    count: WriteCount = field(default_factory=WriteCount)
    error: str | None = None
    detail: str | None = None


@dataclass(slots=True)
class PollSummary:
    started_at: datetime
    results: list[EndpointResult] = field(default_factory=list)
    balance: Decimal | None = None
    key_level_costs: bool | None = None
    # Why the rest of the poll was abandoned (its budget ran out), or None when it ran to the end.
    abandoned: str | None = None
    # Providers that answered 429 past every retry, with the message: not asked again this poll.
    throttled: dict[Provider, str] = field(default_factory=dict)
    _not_fetched: set[tuple[Provider, str]] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[EndpointResult]:
        return [result for result in self.results if result.status is not PollStatus.OK]


@dataclass(frozen=True, slots=True)
class _Note:
    """What a successful run says besides its counts."""

    detail: str | None = None  # a sentence for people (``aispend poll``)
    key_level_costs: bool | None = None  # OpenAI costs only: grouped by API key or not


class Poller:
    """Polls every configured provider once per :meth:`poll` call."""

    def __init__(
        self,
        engine: Engine,
        *,
        openai: OpenAIClient | None,
        openrouter: OpenRouterClient | None,
        backfill_days: int = 60,
        clock: Callable[[], datetime] = utcnow,
        secrets: Sequence[str | None] = (),
        limits: Limits | None = None,
    ) -> None:
        self._engine = engine
        self._openai = openai
        self._openrouter = openrouter
        self._backfill_days = backfill_days
        self._clock = clock
        self._secrets = tuple(secrets)
        self.limits = limits or Limits()
        # Ids without a name already looked up today (a key OpenAI no longer lists stays
        # unnamed: it is not asked about again on every poll). Cleared each UTC day.
        self._looked_up_day: date | None = None
        self._looked_up: set[str] = set()

    # ------------------------------------------------------------------------------ driver

    def poll(self, backfill_days: int | None = None, *, wait: float = 0.0) -> PollSummary:
        """Poll every provider once, within one :class:`PollBudget` (README "Limits").

        A poll whose budget runs out stops asking the providers, records every endpoint it did
        not fetch as an error, and returns: it never runs on into the next scheduled poll.
        Only one poll runs per database at a time, whichever process starts it: another one
        running raises :class:`~aispend.store.locks.PollBusy` (after waiting up to ``wait``
        seconds for it to end).
        """
        with PollLock(self._engine).hold(wait):
            return self._poll(backfill_days)

    def _poll(self, backfill_days: int | None) -> PollSummary:
        now = ensure_utc(self._clock())
        summary = PollSummary(started_at=now)
        budget = PollBudget(self.limits)
        with ExitStack() as metered:
            for client in (self._openai, self._openrouter):
                if client is not None:
                    metered.enter_context(client.metered(budget))
            if self._openai is not None:
                self._poll_openai(summary, now, backfill_days)
            if self._openrouter is not None:
                self._poll_openrouter(summary, now)
        for result in summary.errors:
            log.warning("poll %s %s: %s: %s", result.provider, result.endpoint, result.status, result.error)
        if summary.abandoned:
            log.error("poll abandoned: %s", summary.abandoned)
        return summary

    def _run(
        self,
        summary: PollSummary,
        provider: Provider,
        endpoint: str,
        now: datetime,
        fetch: Callable[[], T],
        write: Callable[[Session, T], WriteCount],
        describe: Callable[[T], _Note] = lambda _: _Note(),
    ) -> T | None:
        """Fetch, then write and record the run in one transaction; failures are recorded.

        ``describe`` adds what the stored run says besides its counts (a detail sentence, the
        key-level flag of OpenAI costs). After the poll was abandoned, or its provider throttled
        us, the endpoint is not asked at all; it is recorded once as not fetched, so
        ``/aispend health`` shows why its data is old.
        """
        skipped = summary.abandoned or summary.throttled.get(provider)
        if skipped is not None:
            if (provider, endpoint) not in summary._not_fetched:
                summary._not_fetched.add((provider, endpoint))
                self._fail(summary, provider, endpoint, now, PollStatus.ERROR, f"not fetched: {skipped}")
            return None
        try:
            data = fetch()
        except ProviderError as exc:
            status = PollStatus.PERMISSION_DENIED if isinstance(exc, PermissionDenied) else PollStatus.ERROR
            error = redact(str(exc), *self._secrets)
            if isinstance(exc, PollBudgetExhausted):
                summary.abandoned = error
            elif isinstance(exc, RateLimited):
                summary.throttled[provider] = f"{provider} is rate-limiting this poll ({endpoint}: HTTP 429)"
            self._fail(summary, provider, endpoint, now, status, error)
            return None
        try:
            with session_scope(self._engine) as session:
                count = write(session, data)
                self._record(
                    session, summary, provider, endpoint, now, PollStatus.OK, count, note=describe(data)
                )
        except (OverflowError, DataError, OperationalError) as exc:
            # Amounts are range-checked as they are read (money.MAX_PROVIDER_USD), but sums of many
            # large ones can still overflow a 64-bit rollup: refuse the window, keep the old one.
            if isinstance(exc, OperationalError) and "overflow" not in str(exc).lower():
                raise
            message = f"{provider} {endpoint}: not stored, a value or sum is out of the database's range"
            self._fail(summary, provider, endpoint, now, PollStatus.ERROR, message)
            return None
        return data

    def _fail(
        self,
        summary: PollSummary,
        provider: Provider,
        endpoint: str,
        now: datetime,
        status: PollStatus,
        error: str,
    ) -> None:
        with session_scope(self._engine) as session:
            self._record(session, summary, provider, endpoint, now, status, error=error)

    def _record(
        self,
        session: Session,
        summary: PollSummary,
        provider: Provider,
        endpoint: str,
        now: datetime,
        status: PollStatus,
        count: WriteCount | None = None,
        *,
        error: str | None = None,
        note: _Note | None = None,
    ) -> None:
        """The one place a poll run is written (in the caller's transaction) and summarized."""
        count = WriteCount() if count is None else count
        note = _Note() if note is None else note
        session.add(
            PollRun(
                provider=provider,
                endpoint=endpoint,
                started_at=now,
                finished_at=ensure_utc(self._clock()),
                status=status,
                error=None if error is None else error[:2000],
                detail=note.detail,
                key_level_costs=note.key_level_costs,
                rows_inserted=count.inserted,
                rows_updated=count.updated,
                rows_deleted=count.deleted,
            )
        )
        summary.results.append(EndpointResult(provider, endpoint, status, count, error, note.detail))

    # ------------------------------------------------------------------------------ OpenAI

    def _openai_window(self, now: datetime, backfill_days: int | None) -> tuple[date, date, bool]:
        """(start, end, whether the window reconciles the whole month) of this poll's OpenAI fetch.

        Days before the incremental window are final at OpenAI, and the window is replaced as a
        whole, so stored totals stay exact; the daily full-month fetch catches anything revised
        later than that.
        """
        today = now.date()
        end = today + timedelta(days=1)
        recent = today - timedelta(days=REFETCH_DAYS_BACK)
        month = min(month_start(today), recent)
        if backfill_days is not None:
            start = today - timedelta(days=backfill_days)
            return start, end, start <= month
        with session_scope(self._engine) as session:
            first = not reads.has_successful_run(session, "openai", "costs")
            reconciled = writes.get_mark(session, RECONCILED_MARK)
        if first:
            start = today - timedelta(days=self._backfill_days)
            return start, end, start <= month
        if reconciled != today.isoformat():
            return month, end, True
        return recent, end, False

    def _poll_openai(self, summary: PollSummary, now: datetime, backfill_days: int | None) -> None:
        client = self._openai
        assert client is not None
        self._openai_names(summary, client, now, None)
        start, end, full = self._openai_window(now, backfill_days)

        def write_costs(session: Session, page: CostsPage) -> WriteCount:
            count = writes.replace_openai_costs(session, start, end, page.rows)
            if full:
                writes.set_mark(session, RECONCILED_MARK, now.date().isoformat(), now)
            return count

        def describe_costs(page: CostsPage) -> _Note:
            summary.key_level_costs = page.key_level
            scope = (
                "by project, line item and API key"
                if page.key_level
                else "by project and line item; key-level money attribution unavailable"
            )
            detail = f"{start.isoformat()}..{end.isoformat()} {scope}"
            return _Note(detail, key_level_costs=page.key_level)

        page = self._run(
            summary, "openai", "costs", now, lambda: client.costs(start, end), write_costs, describe_costs
        )
        if page is not None:
            self._openai_names(summary, client, now, page)
        for endpoint in POLLED_USAGE_ENDPOINTS:
            self._run(
                summary, "openai", f"usage/{endpoint}", now, *self._usage_steps(client, endpoint, start, end)
            )

    @staticmethod
    def _usage_steps(
        client: OpenAIClient, endpoint: str, start: date, end: date
    ) -> tuple[Callable[[], list[OpenAIUsage]], Callable[[Session, list[OpenAIUsage]], WriteCount]]:
        def fetch() -> list[OpenAIUsage]:
            return client.usage(endpoint, start, end)

        def write(session: Session, rows: list[OpenAIUsage]) -> WriteCount:
            return writes.replace_openai_usage(session, endpoint, start, end, rows)

        return fetch, write

    def _openai_names(
        self, summary: PollSummary, client: OpenAIClient, now: datetime, page: CostsPage | None
    ) -> None:
        """Every name once per UTC day (``page`` None: called before the costs are fetched);
        in between, only the ids the costs ``page`` brought that have no stored name (a new
        project or key), each looked up at most once a day."""
        today = now.date()
        if self._looked_up_day != today:
            self._looked_up_day, self._looked_up = today, set()
        with session_scope(self._engine) as session:
            last = writes.get_mark(session, NAMES_MARK)
            daily = last is None or ensure_utc(datetime.fromisoformat(last)).date() != today
            new_projects: set[str] = set()  # project ids with no stored name
            owners: set[str] = set()  # projects whose key list has a key with no stored name
            if not daily and page is not None:
                projects = {row.project_id for row in page.rows if row.project_id}
                keys = {row.api_key_id: row.project_id for row in page.rows if row.api_key_id}
                missing_projects, missing_keys = reads.unnamed_openai_ids(session, projects, set(keys))
                new_projects = missing_projects - self._looked_up
                fresh_keys = missing_keys - self._looked_up
                owners = new_projects | {owner for k in fresh_keys if (owner := keys[k])}
        unknown = new_projects | owners
        if (daily and page is not None) or (not daily and not unknown):
            return  # a daily listing that failed this poll is retried by the next one

        def list_keys(project: OpenAIProject | str) -> list[OpenAIApiKey]:
            project_id = project if isinstance(project, str) else project.id
            try:
                return client.api_keys(project_id)
            except ProviderError as exc:
                # Archived projects still own past spend, so their key names help the
                # unattributed report; an API that no longer lists them is not an error.
                archived = isinstance(project, str) or project.status != "active"
                if not (archived and (isinstance(exc, BadRequest) or exc.status == 404)):
                    raise
                log.info("no key list for OpenAI project %s", project_id)
                return []

        def fetch() -> tuple[list[OpenAIProject], list[OpenAIApiKey]]:
            if daily:
                projects = client.projects()
                return projects, [key for project in projects for key in list_keys(project)]
            projects = client.projects() if new_projects else []
            return projects, [key for owner in sorted(owners) for key in list_keys(owner)]

        def write(session: Session, data: tuple[list[OpenAIProject], list[OpenAIApiKey]]) -> WriteCount:
            projects, keys = data
            count = writes.upsert_openai_projects(session, projects, now)
            count += writes.upsert_openai_keys(session, keys, now)
            if daily:
                writes.set_mark(session, NAMES_MARK, now.isoformat(), now)
            return count

        if self._run(summary, "openai", "projects", now, fetch, write) is not None and page is not None:
            self._looked_up.update(unknown)
            self._looked_up.update(k.api_key_id for k in page.rows if k.project_id in owners and k.api_key_id)

    # -------------------------------------------------------------------------- OpenRouter

    def _poll_openrouter(self, summary: PollSummary, now: datetime) -> None:
        client = self._openrouter
        assert client is not None
        credits = self._run(
            summary,
            "openrouter",
            "credits",
            now,
            client.credits,
            lambda session, data: writes.record_openrouter_credits(session, data, now),
        )
        if credits is not None:
            summary.balance = credits.balance
        listing = self._run(
            summary,
            "openrouter",
            "keys",
            now,
            lambda: list_openrouter_keys(client),
            lambda session, data: (
                writes.upsert_openrouter_workspaces(session, data[0], now)
                + writes.record_openrouter_keys(session, data[1], now)
            ),
            lambda data: _Note(f"{len(data[1])} keys in {max(1, len(data[0]))} workspace(s)"),
        )
        if listing is None:
            return
        keys = listing[1]
        today = now.date()
        start = today - timedelta(days=ACTIVITY_DAYS)
        covered = today - timedelta(days=1)
        with session_scope(self._engine) as session:
            through = reads.activity_through(session, [key.hash for key in keys])
            fresh = {key_hash for key_hash, day in through.items() if day >= covered}
            # A key that never spent has no activity to fetch: its coverage is known all the same.
            for key in keys:
                if key.usage <= 0 and key.hash not in fresh:
                    writes.set_mark(session, reads.ACTIVITY_MARK + key.hash, today.isoformat(), now)
        due = [key.hash for key in keys if key.usage > 0 and key.hash not in fresh]
        for key_hash in due:
            self._run(
                summary,
                "openrouter",
                "activity",
                now,
                *self._activity_steps(client, key_hash, start, today, now),
            )

    @staticmethod
    def _activity_steps(
        client: OpenRouterClient, key_hash: str, start: date, today: date, now: datetime
    ) -> tuple[
        Callable[[], list[OpenRouterActivity]], Callable[[Session, list[OpenRouterActivity]], WriteCount]
    ]:
        def fetch() -> list[OpenRouterActivity]:
            return client.activity(key_hash)

        def write(session: Session, rows: list[OpenRouterActivity]) -> WriteCount:
            count = writes.replace_openrouter_activity(session, key_hash, start, today, rows)
            writes.set_mark(session, reads.ACTIVITY_MARK + key_hash, today.isoformat(), now)
            return count

        return fetch, write


# ---------------------------------------------------------------------------------- wiring


def limits_from_settings(settings: Settings, *, poll_seconds_cap: float | None = None) -> Limits:
    """The caps of README "Limits" from the environment.

    ``poll_seconds_cap`` (``aispend serve``: just under the poll interval) keeps a poll's budget
    shorter than the time until the next one is due, so one never delays the next.
    """
    poll_seconds = settings.poll_seconds
    if poll_seconds_cap is not None:
        poll_seconds = min(poll_seconds, poll_seconds_cap)
    return Limits(
        max_pages=settings.max_pages,
        max_rows=settings.max_rows,
        max_page_bytes=settings.max_page_bytes,
        max_body_bytes=settings.max_body_bytes,
        request_seconds=settings.request_seconds,
        poll_seconds=poll_seconds,
        poll_requests=settings.poll_requests,
        poll_rows=settings.poll_rows,
        poll_bytes=settings.poll_bytes,
    )


def list_openrouter_keys(client: OpenRouterClient) -> tuple[list[OpenRouterWorkspace], list[OpenRouterKey]]:
    """Every key of every workspace (``/keys`` lists one workspace at a time); the poller and
    ``aispend check --keys`` list keys the same way.

    An account whose API does not list workspaces (404) or refuses it while ``/keys`` works
    is read as the single default workspace, as before workspaces existed.
    """
    try:
        workspaces = client.workspaces()
    except ProviderError as exc:
        if not (isinstance(exc, PermissionDenied) or exc.status == 404):
            raise
        log.info("OpenRouter /workspaces unavailable (%s); listing the default workspace only", exc.status)
        return [], client.keys()
    if not workspaces:
        return [], client.keys()
    keys: dict[str, OpenRouterKey] = {}
    for workspace in workspaces:
        for key in client.keys(workspace_id=workspace.id):
            keys.setdefault(key.hash, key)
    return workspaces, list(keys.values())


def clients_from_settings(
    settings: Settings, limits: Limits | None = None
) -> tuple[OpenAIClient | None, OpenRouterClient | None]:
    """A client for each provider whose key is set (None for the others)."""
    limits = limits or limits_from_settings(settings)
    openai_key = secret(settings.openai_admin_key)
    openrouter_key = secret(settings.openrouter_management_key)
    openai = OpenAIClient(openai_key, settings.openai_base_url, limits=limits) if openai_key else None
    openrouter = (
        OpenRouterClient(openrouter_key, settings.openrouter_base_url, limits=limits)
        if openrouter_key
        else None
    )
    return openai, openrouter


def configured_providers(settings: Settings) -> tuple[Provider, ...]:
    """The providers with a key set: the others are absent from every answer (not $0)."""
    found: list[Provider] = []
    if secret(settings.openai_admin_key):
        found.append("openai")
    if secret(settings.openrouter_management_key):
        found.append("openrouter")
    return tuple(found)


def poller_from_settings(
    engine: Engine, settings: Settings, *, backfill_days: int, poll_seconds_cap: float | None = None
) -> Poller | None:
    """The production poller (what ``aispend poll`` and ``aispend serve`` run); None without keys."""
    limits = limits_from_settings(settings, poll_seconds_cap=poll_seconds_cap)
    openai, openrouter = clients_from_settings(settings, limits)
    if openai is None and openrouter is None:
        return None
    return Poller(
        engine,
        openai=openai,
        openrouter=openrouter,
        backfill_days=backfill_days,
        secrets=(secret(settings.openai_admin_key), secret(settings.openrouter_management_key)),
        limits=limits,
    )
