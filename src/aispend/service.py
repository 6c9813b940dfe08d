"""``SpendService``: the store read through the spend model (implements ``reader.SpendReader``).

The one place that knows both the tables and the domain. Reports read the rollups the store keeps
at ingest (``spend_month``, ``spend_day``), never every stored row, and only the references a
question needs (one project's ids for ``/aispend project``): a report costs a constant number of
indexed range queries whatever the length of the history. Names for attribution are cached and
reloaded only when a poll has written something since (one primary-key lookup per question).
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from aispend.alerts.rules import AlertInputs
from aispend.clock import day_start, ensure_utc, month_start, next_month
from aispend.config import Config, double_claim_problems
from aispend.digest.content import CHART_WEEKS, AlertHistory, DigestInputs, month_of
from aispend.digest.weeks import IsoWeek
from aispend.money import from_nanos
from aispend.reader import EndpointHealth, Health
from aispend.records import PROVIDERS, OpenRouterActivity, PollStatus, Provider
from aispend.spend.attribution import Matcher, build_matcher
from aispend.spend.mix import model_mix, movers, route_costs, weeks
from aispend.spend.model import (
    DataStatus,
    Directory,
    MixReport,
    MonthSpend,
    Mover,
    ProjectReport,
    ProviderData,
    RoutesReport,
    Runway,
    SpendLine,
    TeamReport,
    UsageLine,
)
from aispend.spend.reports import (
    daily_by_project,
    fill_openrouter_gaps,
    project_report,
    reclock,
    reclock_team,
    team_report,
    usable_providers,
)
from aispend.spend.runway import credit_runway, key_caps
from aispend.spend.status import (
    CREDITS_ENDPOINTS,
    EndpointRun,
    data_status,
    endpoint_state,
    for_month,
    status_key,
)
from aispend.spend.units import attach_units, model_units, project_units, team_models
from aispend.spend.visibility import (
    OPERATOR,
    Audience,
    View,
    view_for,
    visible_batch_tokens,
    visible_runway,
    visible_team,
    visible_units,
)
from aispend.store import reads
from aispend.store.engine import REQUEST, make_engine, ping, session_scope
from aispend.store.models import PollRun
from aispend.store.reads import Scope

log = logging.getLogger(__name__)

_DAY = timedelta(days=1)
_SPIKE_REACH = timedelta(days=8)  # the spike rule's last complete day and the 7 days before it
_EVERY_CAP = Decimal(1000)  # key_caps threshold that lists every capped key (rules apply their own line)
_REPORT_CACHE_SIZE = 512  # one entry per project asked about, plus the team-wide month
_TEAM_INPUTS_CACHE_SIZE = 4  # team months whose lines are kept (this month, a few others asked)
_NO_OPENAI: Collection[str] = ()


class SpendService:
    """Answers every ``SpendReader`` question from the store; never calls a provider."""

    def __init__(
        self,
        engine: Engine,
        config: Config,
        *,
        stale_after: timedelta = timedelta(hours=2),
        providers: Collection[str] = PROVIDERS,
    ) -> None:
        """``providers``: the ones with a key configured (see ``ingest.configured_providers``);
        the others are left out of every answer. Figures older than ``stale_after`` (at least
        three poll intervals) are shown as stale, not as current."""
        self._engine = engine
        self._config = config
        self._stale_after = stale_after
        self._data_stale_after = max(stale_after, timedelta(minutes=3 * config.poll_interval_minutes))
        self._providers = frozenset(providers)
        self._lock = threading.Lock()
        self._cached: tuple[int, Matcher] | None = None
        self._runs: tuple[int, tuple[EndpointRun, ...]] | None = None
        # Reports per (generation, month, UTC day, project): the store only changes when a poll
        # writes (every poll write adds a poll run, bumping the generation), and within a UTC day
        # only the as-of and the pace depend on the clock, so a cached report is re-clocked per
        # question instead of being rebuilt from the store.
        # Only the newest generation is kept (older ones can never be asked for again), so the
        # cache holds at most one entry per project and question whatever the time in service.
        self._reports: OrderedDict[tuple[object, ...], ProjectReport | TeamReport] = OrderedDict()
        self._reports_generation = -1
        # The team's last two weeks (mix, movers) and route rows per key, per (generation, UTC
        # day), with every project's spend in them: each audience's answer filters these by
        # attribution when it aggregates, instead of reading the store again per viewer.
        self._recent: tuple[tuple[object, ...], list[SpendLine]] | None = None
        self._route_rows: tuple[tuple[object, ...], list[OpenRouterActivity]] | None = None
        # The money and usage lines a cached team report was summed from, so an audience's
        # per-model units are summed again over its visible projects only.
        self._team_inputs: OrderedDict[tuple[object, ...], tuple[Sequence[SpendLine], list[UsageLine]]] = (
            OrderedDict()
        )

    @property
    def config(self) -> Config:
        return self._config

    def double_claims(self) -> list[str]:
        """Entries of two projects that name the same provider id once the stored names resolve
        them (``config.double_claim_problems``); attribution gives such an id to one project only,
        so ``aispend poll`` and the scheduled poll report them (names arrive with polls)."""
        with session_scope(self._engine) as session:
            _, matcher = self._matcher(session)
        return double_claim_problems(self._config, matcher.directory)

    def view(self, audience: Audience) -> View:
        """The projects ``audience`` may see, from the config (``spend.visibility``)."""
        return view_for(self._config.projects, audience, self._config.admins)

    # ------------------------------------------------------------------------------ helpers

    def _matcher(self, session: Session) -> tuple[int, Matcher]:
        """(store generation, matchers resolved against the stored names), rebuilt only after a
        new poll run."""
        generation = reads.generation(session)
        with self._lock:
            if self._cached is not None and self._cached[0] == generation:
                return self._cached
        matcher = build_matcher(self._config.team_projects(), reads.directory(session))
        with self._lock:
            self._cached = (generation, matcher)
        return generation, matcher

    def _endpoint_runs(self, session: Session, generation: int) -> tuple[EndpointRun, ...]:
        """The newest run and last success per endpoint, read once per store generation."""
        with self._lock:
            if self._runs is not None and self._runs[0] == generation:
                return self._runs[1]
        runs = _endpoint_runs(reads.latest_runs(session))
        with self._lock:
            self._runs = (generation, runs)
        return runs

    def _status(self, session: Session, generation: int, now: datetime, month: date) -> DataStatus:
        runs = self._endpoint_runs(session, generation)
        status = data_status(runs, self._providers, now, stale_after=self._data_stale_after)
        return for_month(status, month, now)

    def data_status(self, now: datetime, month: date | None = None) -> DataStatus:
        """Per provider, whether its figures for ``month`` (default: this one) can be shown."""
        now = ensure_utc(now)
        with session_scope(self._engine) as session:
            generation = reads.generation(session)
            return self._status(session, generation, now, month_start(month or now.date()))

    def _cached_report(self, key: tuple[object, ...]) -> ProjectReport | TeamReport | None:
        with self._lock:
            found = self._reports.get(key)
            if found is not None:
                self._reports.move_to_end(key)
            return found

    def _remember(self, key: tuple[object, ...], report: ProjectReport | TeamReport) -> None:
        """Cache ``report`` under ``key`` (whose first element is the store generation): a newer
        generation drops every older report; a report built from an older one is not kept."""
        generation = key[0]
        assert isinstance(generation, int)
        with self._lock:
            if generation < self._reports_generation:
                return
            if generation > self._reports_generation:
                self._reports.clear()
                self._reports_generation = generation
            self._reports[key] = report
            while len(self._reports) > _REPORT_CACHE_SIZE:
                self._reports.popitem(last=False)

    def cached_reports(self) -> int:
        """How many reports the cache holds (what must not grow with time in service)."""
        with self._lock:
            return len(self._reports)

    @staticmethod
    def _scope_for(matcher: Matcher, project: str) -> Scope:
        return Scope(
            openai_projects=[ref for ref, name in matcher.openai_projects.items() if name == project],
            openai_keys=[ref for ref, name in matcher.openai_keys.items() if name == project],
            openrouter_keys=[ref for ref, name in matcher.openrouter_keys.items() if name == project],
        )

    @staticmethod
    def _provisional_openrouter_lines(
        session: Session, start: date, end: date, now: datetime, scope: Scope
    ) -> list[SpendLine]:
        """Provisional OpenRouter lines for key-days ``/activity`` does not cover yet.

        Only days after the oldest coverage are read (normally today and yesterday); a key whose
        coverage is unknown makes it read the whole window, which stays correct.
        """
        through = reads.activity_through(session, scope.openrouter_keys)
        since = start
        if through and not reads.unmarked_keys(session, scope.openrouter_keys):
            since = max(start, min(through.values()) + _DAY)
        if since >= end:
            return []
        openrouter_scope = Scope(openai_projects=_NO_OPENAI, openrouter_keys=scope.openrouter_keys)
        uncovered = [
            SpendLine(provider="openrouter", day=day, amount=from_nanos(nanos), key_ref=key)
            for _provider, day, _project, key, nanos in reads.day_rows(session, since, end, openrouter_scope)
            if key is not None and day > through.get(key, date.min)
        ]
        key_days = reads.key_days(session, since, end, scope)
        filled = fill_openrouter_gaps(uncovered, key_days, now, activity_through=through)
        return [line for line in filled if line.provisional and line.model is None]

    def _month_spend(
        self,
        session: Session,
        matcher: Matcher,
        first: date,
        now: datetime,
        scope: Scope,
        status: DataStatus,
    ) -> MonthSpend:
        """Month totals per grouping, daily totals per project, and the provisional fills.

        Each reference with spend this month is attributed once (the domain's matcher decides);
        the database then sums the day rollup per project, so the rows that cross the wire are
        (project, day) sums, not (reference, day) rows. Providers without data (``status``) are
        not read at all: their figures are unknown, not zero.
        """
        end = next_month(first)
        usable = usable_providers(status)
        month_lines = [m for m in reads.month_lines(session, first, scope) if m.provider in usable]
        labels: list[reads.RefLabel] = []
        for provider, project_ref, key_ref in {(m.provider, m.project_ref, m.key_ref) for m in month_lines}:
            project = matcher.project_for_ref(provider, project_ref, key_ref)
            if project is not None:
                labels.append((provider, project_ref, key_ref, project))
        sums = reads.labelled_day_totals(session, first, end, labels)
        daily = {project: {day: from_nanos(n) for day, n in days.items()} for project, days in sums.items()}
        fills = (
            self._provisional_openrouter_lines(session, first, end, now, scope)
            if "openrouter" in usable
            else []
        )
        fill_daily, provisional = daily_by_project(fills, matcher)
        for project, fill_days in fill_daily.items():
            days = daily.setdefault(project, {})
            for day, amount in fill_days.items():
                days[day] = days.get(day, Decimal(0)) + amount
        return MonthSpend(first, [*month_lines, *fills], daily, provisional)

    @staticmethod
    def _usage(
        session: Session, matcher: Matcher, first: date, scope: Scope, status: DataStatus
    ) -> dict[str, list[UsageLine]]:
        """The month's tokens and requests per project (providers with data only)."""
        usable = usable_providers(status)
        lines = [
            line
            for line in reads.usage_lines(session, first, next_month(first), scope)
            if line.provider in usable
        ]
        return attach_units(matcher.project_for_ref, lines)

    def _recent_lines(
        self, session: Session, now: datetime, status: DataStatus, scope: Scope = reads.ALL
    ) -> list[SpendLine]:
        """Two weeks of spend summed per week (lines dated each week's first day) plus the
        provisional OpenRouter fills of those days: what mix and movers compare (providers
        with data only)."""
        wk = weeks(now)
        end = wk.this_end + _DAY
        usable = usable_providers(status)
        lines = [
            line
            for line in reads.week_lines(session, wk.last_start, wk.this_start, end, scope)
            if line.provider in usable
        ]
        if "openrouter" in usable:
            lines.extend(self._provisional_openrouter_lines(session, wk.last_start, end, now, scope))
        return lines

    # --------------------------------------------------------------------------- questions

    def project_report(self, name: str, now: datetime, month: date | None = None) -> ProjectReport | None:
        now = ensure_utc(now)
        project = self._config.project(name)
        if project is None:
            return None
        first = month_start(month or now.date())
        with session_scope(self._engine) as session:
            generation, matcher = self._matcher(session)
            status = self._status(session, generation, now, first)
            key = (generation, first, now.date(), project.name, status_key(status))
            cached = self._cached_report(key)
            if isinstance(cached, ProjectReport):
                return reclock(cached, now)
            scope = self._scope_for(matcher, project.name)
            data = self._month_spend(session, matcher, first, now, scope, status)
            usage = self._usage(session, matcher, first, scope, status)
        report = with_units(project_report(matcher, project.name, data, now, status), usage)
        self._remember(key, report)
        return report

    def team_report(
        self, now: datetime, month: date | None = None, *, audience: Audience = OPERATOR
    ) -> TeamReport:
        """Every project's report, without those ``audience`` may not see (the default, the
        operator, sees all). One team-wide report is cached per poll; audiences filter it."""
        now = ensure_utc(now)
        first = month_start(month or now.date())
        with session_scope(self._engine) as session:
            generation, matcher = self._matcher(session)
            status = self._status(session, generation, now, first)
            key = (generation, first, now.date(), None, status_key(status))
            cached = self._cached_report(key)
            if isinstance(cached, TeamReport):
                return self._for_audience(reclock_team(cached, now), key, matcher, audience)
            data = self._month_spend(session, matcher, first, now, reads.ALL, status)
            usable = usable_providers(status)
            every = [
                line
                for line in reads.usage_lines(session, first, next_month(first), reads.ALL)
                if line.provider in usable
            ]
        usage = attach_units(matcher.project_for_ref, every)
        report = team_report(matcher, data, now, status)
        report = replace(
            report,
            projects=tuple(with_units(p, usage) for p in report.projects),
            units=model_units(team_models(data.lines), every),
        )
        self._remember(key, report)
        with self._lock:
            self._team_inputs[key] = (data.lines, every)
            while len(self._team_inputs) > _TEAM_INPUTS_CACHE_SIZE:
                self._team_inputs.popitem(last=False)
        return self._for_audience(report, key, matcher, audience)

    def _for_audience(
        self, report: TeamReport, key: tuple[object, ...], matcher: Matcher, audience: Audience
    ) -> TeamReport:
        """``report`` as ``audience`` may see it; the per-model units are summed again from the
        month's lines of the visible projects (kept with the report), never derived from totals."""
        view = self.view(audience)
        if view.complete:
            return report
        with self._lock:
            inputs = self._team_inputs.get(key)
        units = visible_units(inputs[0], inputs[1], matcher, view) if inputs is not None else ()
        return visible_team(report, view, units=units)

    def runway(self, now: datetime, *, audience: Audience = OPERATOR) -> Runway:
        """The OpenRouter credit runway; key caps of projects ``audience`` may not see are left
        out (balance and burn are account-wide)."""
        now = ensure_utc(now)
        today = now.date()
        start, end = today - 8 * _DAY, today + _DAY
        openrouter_only = Scope(openai_projects=_NO_OPENAI)
        with session_scope(self._engine) as session:
            generation, matcher = self._matcher(session)
            runs = {
                r.endpoint: r for r in self._endpoint_runs(session, generation) if r.provider == "openrouter"
            }
            snapshots = reads.credit_snapshots(session, now - timedelta(hours=48))
            keys = reads.openrouter_keys(session)
            rows = reads.day_rows(session, start, end, openrouter_only)
            fills = self._provisional_openrouter_lines(session, start, end, now, reads.ALL)
            byok = sum(
                (r.byok_usage for r in reads.route_totals(session, today - 7 * _DAY, today)), Decimal(0)
            )
        lines = [
            SpendLine(provider="openrouter", day=day, amount=from_nanos(nanos), key_ref=key)
            for provider, day, _project, key, nanos in rows
            if provider == "openrouter"
        ]
        if "openrouter" not in self._providers:
            credits = ProviderData("not_configured")
        else:
            credits = endpoint_state(runs, CREDITS_ENDPOINTS, now, self._stale_after)
        runway = credit_runway(
            snapshots,
            [*lines, *fills],
            keys,
            now,
            low_credit_usd=self._config.openrouter.low_credit_usd,
            low_runway_days=self._config.openrouter.low_runway_days,
            stale_after=self._stale_after,
        )
        byok_7d = byok / 7 if runway.burn_7d is not None or byok else None
        runway = replace(runway, data=credits, byok_7d=byok_7d)
        return visible_runway(runway, matcher, self.view(audience))

    def _team_recent(
        self, session: Session, generation: int, now: datetime, status: DataStatus
    ) -> list[SpendLine]:
        """:meth:`_recent_lines` for the whole team, read once per poll, UTC day and data status."""
        key = (generation, now.date(), status_key(status))
        with self._lock:
            if self._recent is not None and self._recent[0] == key:
                return self._recent[1]
        lines = self._recent_lines(session, now, status)
        with self._lock:
            self._recent = (key, lines)
        return lines

    def mix(self, now: datetime, project: str | None = None, *, audience: Audience = OPERATOR) -> MixReport:
        """Model mix of one project or the team; spend of projects ``audience`` may not see is
        left out before the shares are computed."""
        now = ensure_utc(now)
        config = self._config.project(project) if project is not None else None
        view = self.view(audience)
        with session_scope(self._engine) as session:
            generation, matcher = self._matcher(session)
            status = self._status(session, generation, now, now.date())
            wk = weeks(now)
            if config is not None:
                scope = self._scope_for(matcher, config.name)
                lines = self._recent_lines(session, now, status, scope)
                batch, grouped = reads.batch_tokens(session, wk.this_start, wk.this_end + _DAY, scope)
            else:
                lines = self._team_recent(session, generation, now, status)
                rows = reads.batch_tokens_by_ref(session, wk.this_start, wk.this_end + _DAY)
                batch, grouped = visible_batch_tokens(rows, matcher, view)
        name = config.name if config is not None else project
        mix = model_mix(lines, now, project=name, matcher=matcher, data=status, view=view)
        if "openai" not in usable_providers(status) or grouped <= 0:
            return mix
        return replace(mix, batch_share=(Decimal(batch) * 100 / grouped).quantize(Decimal("0.1")))

    def routes(self, now: datetime, *, audience: Audience = OPERATOR) -> RoutesReport:
        """OpenRouter routes of the last 7 complete days, without the keys of projects
        ``audience`` may not see."""
        now = ensure_utc(now)
        wk = weeks(now)
        with session_scope(self._engine) as session:
            generation, matcher = self._matcher(session)
            key = (generation, now.date())
            with self._lock:
                cached = self._route_rows
            if cached is not None and cached[0] == key:
                rows = cached[1]
            else:
                rows = reads.route_totals(session, wk.this_start, wk.this_end + _DAY)
                with self._lock:
                    self._route_rows = (key, rows)
        return route_costs(rows, now, matcher=matcher, view=self.view(audience))

    def movers(self, now: datetime, *, audience: Audience = OPERATOR) -> tuple[Mover, ...]:
        """Week-over-week movers among the projects ``audience`` may see."""
        now = ensure_utc(now)
        with session_scope(self._engine) as session:
            generation, matcher = self._matcher(session)
            status = self._status(session, generation, now, now.date())
            lines = self._team_recent(session, generation, now, status)
        return movers(lines, matcher, now, view=self.view(audience))

    def alert_inputs(self, now: datetime) -> AlertInputs:
        """What the alert rules judge (``aispend.alerts.job.AlertSource``): the team's month,
        the credit runway, every capped OpenRouter key, the endpoints' poll records, and each
        project's daily spend reaching 8 days back (into the previous month early in a month).

        Right after a poll the team month is built once and cached for every later question, so
        an evaluation adds a handful of indexed reads, not a scan of the history.
        """
        now = ensure_utc(now)
        team = self.team_report(now)
        daily: dict[str, dict[date, Decimal]] = {
            report.project: {point.day: point.usd for point in report.daily} for report in team.projects
        }
        reach = now.date() - _SPIKE_REACH
        if reach < team.month:
            for report in self.team_report(now, month=reach).projects:
                days = daily.setdefault(report.project, {})
                for point in report.daily:
                    days.setdefault(point.day, point.usd)
        with session_scope(self._engine) as session:
            _generation, matcher = self._matcher(session)
            keys = reads.openrouter_keys(session)
        health = self.health(now)
        return AlertInputs(
            now=now,
            month=team,
            runway=self.runway(now),
            key_caps=key_caps(keys, threshold_percent=_EVERY_CAP) if keys else None,
            endpoints=health.endpoints if health.database_ok else None,
            recent_daily=daily,
            key_projects=dict(matcher.openrouter_keys),
        )

    def digest_inputs(self, week: IsoWeek, now: datetime, alerts: AlertHistory | None = None) -> DigestInputs:
        """What the weekly digest of ``week`` is built from (``digest.content.build_digest``).

        Spend of ``week`` and the week before summed per grouping (plus provisional OpenRouter
        fills), per-day totals per provider and project for the chart's eight weeks (from the
        day rollup: one row per reference and day), the month report holding the week's last
        day, the credit runway and, when given, the alert history of the week.
        """
        now = ensure_utc(now)
        before = week.previous()
        end = week.end + _DAY
        chart_start = end - CHART_WEEKS * 7 * _DAY
        with session_scope(self._engine) as session:
            _generation, matcher = self._matcher(session)
            lines = reads.week_lines(session, before.start, week.start, end)
            fills = self._provisional_openrouter_lines(session, chart_start, end, now, reads.ALL)
            rows = reads.day_rows(session, chart_start, end)
            last_poll = reads.last_poll_at(session)
        daily: dict[tuple[Provider, str | None, date], Decimal] = {}
        owners: dict[tuple[str, str | None, str | None], str | None] = {}
        for provider, day, project_ref, key_ref, nanos in rows:
            ref = (provider, project_ref, key_ref)
            if ref not in owners:
                owners[ref] = matcher.project_for_ref(provider, project_ref, key_ref)
            slot = (provider, owners[ref], day)
            daily[slot] = daily.get(slot, Decimal(0)) + from_nanos(nanos)
        for fill in fills:
            slot = (fill.provider, matcher.project_for(fill), fill.day)
            daily[slot] = daily.get(slot, Decimal(0)) + fill.amount
        events = None
        if alerts is not None:
            events = alerts.alerts_between(day_start(week.start), day_start(end))
        return DigestInputs(
            week=week,
            now=now,
            matcher=matcher,
            lines=[*lines, *(fill for fill in fills if fill.day >= before.start)],
            daily=daily,
            month=self.team_report(now, month_of(week)),
            runway=self.runway(now),
            alerts=events,
            last_poll_at=last_poll,
            data=self.data_status(now),
        )

    def last_poll_at(self) -> datetime | None:
        with session_scope(self._engine) as session:
            return reads.last_poll_at(session)

    def health(self, now: datetime) -> Health:
        if not ping(self._engine):
            return Health(database_ok=False, last_poll_at=None, endpoints=(), key_level_costs=None)
        with session_scope(self._engine) as session:
            runs = reads.latest_runs(session)
        newest: dict[tuple[str, str], EndpointHealth] = {}
        last_ok: dict[tuple[str, str], datetime] = {}
        for run in runs:
            if run.status is PollStatus.OK:
                key = (run.provider, run.endpoint)
                last_ok[key] = max(last_ok.get(key, run.started_at), run.started_at)
        key_level: bool | None = None
        for run in runs:  # ordered by id, so the last one per endpoint wins
            key = (run.provider, run.endpoint)
            if run.provider not in PROVIDERS:
                continue
            newest[key] = EndpointHealth(
                provider=run.provider,
                endpoint=run.endpoint,
                last_status=run.status,
                last_attempt_at=run.started_at,
                last_success_at=last_ok.get(key),
                error=run.error,
            )
            if key == ("openai", "costs") and run.key_level_costs is not None:
                key_level = run.key_level_costs
        last_poll = max((h.last_attempt_at for h in newest.values() if h.last_attempt_at), default=None)
        return Health(
            database_ok=True,
            last_poll_at=last_poll,
            endpoints=tuple(sorted(newest.values(), key=lambda h: (h.provider, h.endpoint))),
            key_level_costs=key_level,
        )


def _endpoint_runs(runs: Sequence[PollRun]) -> tuple[EndpointRun, ...]:
    """``reads.latest_runs`` (newest run per endpoint plus its newest success, by id) folded into
    one record per endpoint."""
    newest: dict[tuple[str, str], EndpointRun] = {}
    last_ok: dict[tuple[str, str], datetime] = {}
    for run in runs:
        key = (run.provider, run.endpoint)
        if run.status == "ok":
            started = ensure_utc(run.started_at)
            last_ok[key] = max(last_ok.get(key, started), started)
    for run in runs:  # ordered by id: the last one per endpoint wins
        key = (run.provider, run.endpoint)
        newest[key] = EndpointRun(
            provider=key[0],
            endpoint=key[1],
            last_status=run.status,
            last_attempt_at=run.started_at,
            last_success_at=last_ok.get(key),
            error=run.error,
        )
    return tuple(newest.values())


def stored_directory(database_url: str) -> Directory | None:
    """The provider names the poller stored, for checking the config against them; None when
    there is no store to read (yet), so ``aispend check`` never creates or migrates one."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and not (url.database and Path(url.database).is_file()):
        return None
    engine = make_engine(database_url, timeouts=REQUEST)
    try:
        with Session(engine) as session:
            return reads.directory(session)
    except SQLAlchemyError as exc:  # unreachable, or never migrated: the check goes on without names
        log.info("stored directory not readable: %s", type(exc).__name__)
        return None
    finally:
        engine.dispose()


def with_units(report: ProjectReport, usage: dict[str, list[UsageLine]]) -> ProjectReport:
    """The report with its tokens and unit costs (money from the report, tokens from usage)."""
    mine = usage.get(report.project, [])
    total = report.total if report.known else None
    return replace(report, units=model_units(report.by_model, mine), unit_totals=project_units(total, mine))
