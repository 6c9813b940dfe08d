"""``SpendService``: the store read through the spend model (implements ``reader.SpendReader``).

The one place that knows both the tables and the domain: it reads the fewest rows a question
needs (one project's ids only for ``/aispend project``), hands plain records to ``aispend.spend``
and returns its results. A report costs a constant number of indexed range queries, whatever the
length of the stored history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from aispend.clock import ensure_utc, month_start, next_month
from aispend.config import Config
from aispend.reader import EndpointHealth, Health
from aispend.records import PROVIDERS
from aispend.spend.attribution import Matcher, build_matcher
from aispend.spend.mix import model_mix, movers, route_costs
from aispend.spend.model import (
    KeyDay,
    MixReport,
    MonthReport,
    Mover,
    ProjectReport,
    RoutesReport,
    Runway,
    SpendLine,
)
from aispend.spend.reports import month_report, prepare_lines, project_report
from aispend.spend.runway import credit_runway
from aispend.store import reads
from aispend.store.engine import ping, session_scope
from aispend.store.reads import Scope

_DAY = timedelta(days=1)
# Mix, movers and runway look back two full weeks plus today.
_LOOKBACK = timedelta(days=15)


@dataclass(frozen=True, slots=True)
class _Loaded:
    """Stored lines plus what the spend model needs to mark and fill provisional days."""

    matcher: Matcher
    lines: list[SpendLine]
    key_days: list[KeyDay]
    activity_through: dict[str, date]
    now: datetime

    def prepared(self) -> list[SpendLine]:
        return prepare_lines(self.lines, self.key_days, self.now, activity_through=self.activity_through)


class SpendService:
    """Answers every ``SpendReader`` question from the store; never calls a provider."""

    def __init__(
        self, engine: Engine, config: Config, *, stale_after: timedelta = timedelta(hours=2)
    ) -> None:
        self._engine = engine
        self._config = config
        self._stale_after = stale_after

    @property
    def config(self) -> Config:
        return self._config

    # ------------------------------------------------------------------------------ helpers

    def _scope_for(self, matcher: Matcher, project: str) -> Scope:
        return Scope(
            openai_projects=[ref for ref, name in matcher.openai_projects.items() if name == project],
            openai_keys=[ref for ref, name in matcher.openai_keys.items() if name == project],
            openrouter_keys=[ref for ref, name in matcher.openrouter_keys.items() if name == project],
        )

    def _load(self, session: Session, start: date, end: date, now: datetime, scope: Scope | None) -> _Loaded:
        """Stored lines, key readings and activity coverage for ``[start, end)``."""
        matcher = build_matcher(self._config.projects, reads.directory(session))
        if scope is None:
            scope = reads.ALL
        lines = reads.openai_lines(session, start, end, scope) + reads.openrouter_lines(
            session, start, end, scope
        )
        key_days = reads.key_days(session, start, end, scope)
        through = reads.last_activity_days(session)
        return _Loaded(matcher, lines, key_days, through, now)

    # --------------------------------------------------------------------------- questions

    def project_report(self, name: str, now: datetime, month: date | None = None) -> ProjectReport | None:
        now = ensure_utc(now)
        project = self._config.project(name)
        if project is None:
            return None
        first = month_start(month or now.date())
        with session_scope(self._engine) as session:
            matcher = build_matcher(self._config.projects, reads.directory(session))
            scope = self._scope_for(matcher, project.name)
            loaded = self._load(session, first, next_month(first), now, scope)
        return project_report(
            loaded.matcher,
            project.name,
            loaded.lines,
            first,
            now,
            key_days=loaded.key_days,
            activity_through=loaded.activity_through,
        )

    def month_report(self, now: datetime, month: date | None = None) -> MonthReport:
        now = ensure_utc(now)
        first = month_start(month or now.date())
        with session_scope(self._engine) as session:
            loaded = self._load(session, first, next_month(first), now, None)
        return month_report(
            loaded.matcher,
            loaded.lines,
            first,
            now,
            key_days=loaded.key_days,
            activity_through=loaded.activity_through,
        )

    def runway(self, now: datetime) -> Runway:
        now = ensure_utc(now)
        today = now.date()
        with session_scope(self._engine) as session:
            snapshots = reads.credit_snapshots(session, now - timedelta(hours=48))
            keys = reads.openrouter_keys(session)
            loaded = self._load(
                session, today - 8 * _DAY, today + _DAY, now, Scope(openai_projects=(), openai_keys=())
            )
        openrouter = [line for line in loaded.prepared() if line.provider == "openrouter"]
        return credit_runway(
            snapshots,
            openrouter,
            keys,
            now,
            low_credit_usd=self._config.openrouter.low_credit_usd,
            low_runway_days=self._config.openrouter.low_runway_days,
            stale_after=self._stale_after,
        )

    def mix(self, now: datetime, project: str | None = None) -> MixReport:
        now = ensure_utc(now)
        today = now.date()
        with session_scope(self._engine) as session:
            loaded = self._load(session, today - _LOOKBACK, today + _DAY, now, None)
        name = None
        if project is not None:
            config = self._config.project(project)
            name = config.name if config is not None else project
        return model_mix(loaded.prepared(), now, project=name, matcher=loaded.matcher)

    def routes(self, now: datetime) -> RoutesReport:
        now = ensure_utc(now)
        today = now.date()
        with session_scope(self._engine) as session:
            activity = reads.activity(session, today - 8 * _DAY, today)
        return route_costs(activity, now)

    def movers(self, now: datetime) -> tuple[Mover, ...]:
        now = ensure_utc(now)
        today = now.date()
        with session_scope(self._engine) as session:
            loaded = self._load(session, today - _LOOKBACK, today + _DAY, now, None)
        return movers(loaded.prepared(), loaded.matcher, now)

    def health(self, now: datetime) -> Health:
        if not ping(self._engine):
            return Health(database_ok=False, last_poll_at=None, endpoints=(), key_level_costs=None)
        with session_scope(self._engine) as session:
            runs = reads.latest_runs(session)
        newest: dict[tuple[str, str], EndpointHealth] = {}
        last_ok: dict[tuple[str, str], datetime] = {}
        for run in runs:
            if run.status == "ok":
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
            if key == ("openai", "costs") and run.status == "ok" and run.detail:
                key_level = "unavailable" not in run.detail
        last_poll = max((h.last_attempt_at for h in newest.values() if h.last_attempt_at), default=None)
        return Health(
            database_ok=True,
            last_poll_at=last_poll,
            endpoints=tuple(sorted(newest.values(), key=lambda h: (h.provider, h.endpoint))),
            key_level_costs=key_level,
        )
