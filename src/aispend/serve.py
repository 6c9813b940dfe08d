"""Composition root for ``aispend serve``: store, service, Slack app, scheduler, listener.

:func:`build_runtime` wires everything from settings (tests call it with loopback fakes);
:func:`serve` runs it until interrupted.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.error import URLError

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from slack_sdk.errors import SlackApiError, SlackClientError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette

from aispend.alerts.job import AlertRun, run_alerts
from aispend.alerts.model import AlertView
from aispend.alerts.state import open_alerts
from aispend.clock import utcnow
from aispend.config import Config
from aispend.digest.alerts import StoredAlertHistory
from aispend.digest.job import DigestOutcome, DigestPoster, weekly_digest
from aispend.ingest import Poller, PollSummary, configured_providers, poller_from_settings
from aispend.metrics import Metrics
from aispend.records import PollStatus
from aispend.scheduler import DB_DOWN, LeaderLock, build_scheduler, first_line
from aispend.service import SpendService
from aispend.settings import Settings, secret
from aispend.slack.alerts import SlackAlertNotifier, alert_actions
from aispend.slack.app import build_app
from aispend.slack.client import make_web_client
from aispend.slack.gateway import SlackGateway
from aispend.slack.home import HomeAudience, republish_homes
from aispend.slack.web import create_web_app, http_server
from aispend.spend.model import Runway, TeamReport
from aispend.store import retention
from aispend.store.audience import StoreHomeAudience
from aispend.store.engine import REQUEST, make_engine, open_store, schema_is_current
from aispend.store.guard import CallGuard, GuardedReader
from aispend.store.locks import PollBusy
from aispend.store.replay import StoreLedger

if TYPE_CHECKING:
    import uvicorn
    from slack_bolt.adapter.socket_mode import SocketModeHandler

log = logging.getLogger(__name__)

POLL_BUDGET_SHARE = 0.9  # of the poll interval, at most, for one poll's budget


class ServeError(Exception):
    """Settings for the chosen mode are missing, malformed or rejected by Slack (exit code 2)."""


class StartupFailure(Exception):
    """Something outside aispend failed at start-up (exit code 1: fix it or try again later)."""


class SlackUnreachable(StartupFailure):
    """Slack's API could not be reached, or failed, at start-up."""


class PortUnavailable(StartupFailure):
    """The HTTP listener cannot bind ``$PORT`` (another process has it, or it is privileged)."""


def _check_port(host: str, port: int) -> None:
    """Bind and release ``host:port`` before anything starts, as uvicorn will (SO_REUSEADDR), so a
    port in use is one line up front instead of a listener thread that dies after start-up."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortUnavailable(
                f"cannot listen on {host}:{port} ({exc.strerror}): stop what uses it, or set PORT"
            ) from None


# Errors Slack answers when the token itself is wrong (https://docs.slack.dev/reference/methods/auth.test),
# as opposed to Slack having trouble: the first are a configuration problem.
_TOKEN_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "missing_scope",
        "no_permission",
        "ekm_access_denied",
        "invalid_token",
        "org_login_required",
    }
)
_BOT_TOKEN_HELP = "set it to the app's Bot User OAuth Token (xoxb-…, under OAuth & Permissions)"
_APP_TOKEN_HELP = (
    "set it to an app-level token (xapp-…, under Basic Information → App-Level Tokens, "
    "scope connections:write)"
)


@dataclass
class Runtime:
    app: App
    web: Starlette
    service: SpendService
    scheduler: BackgroundScheduler
    lock: LeaderLock
    audience: HomeAudience
    metrics: Metrics
    poller: Poller | None
    reported_claims: tuple[str, ...] = ()
    engine: Engine | None = None  # the alert state lives here (the poll engine, no request timeouts)
    config: Config | None = None
    clock: Callable[[], datetime] = utcnow
    digest: DigestPoster | None = None

    started: bool = False  # the scheduler was started (by serve); liveness watches it from then on

    def liveness_problem(self) -> str | None:
        """Why a restart is needed (the scheduler stopped after it started), else None."""
        if self.started and self.poller is not None and not self.scheduler.running:
            return "the poll scheduler stopped"
        return None

    def poll(self) -> PollSummary | None:
        """The scheduled job (leader only): poll, count errors, evaluate the alerts right after,
        refresh every Home tab that was opened, and post the weekly digest if one is due and not
        out yet (start-up catch-up and retries)."""
        if self.poller is None:
            return None
        try:
            summary = self.poller.poll()
        except PollBusy as exc:  # an `aispend poll` beside serve: it does this poll's work
            log.warning("scheduled poll skipped: %s", exc)
            self.metrics.inc("aispend_polls_skipped_total")
            return None
        record_poll(self.metrics, summary, utcnow())
        log_poll(summary, utcnow())
        self._prune()
        try:
            now = utcnow()
            record_spend(
                self.metrics, self.service.config, self.service.team_report(now), self.service.runway(now)
            )
        except DB_DOWN as exc:
            log.warning("/metrics not refreshed: the database is unavailable (%s)", first_line(exc))
        except Exception:  # metrics must never fail the poll job
            log.exception("reading the store for /metrics after the poll failed")
        if summary.abandoned is not None:
            self.metrics.inc("aispend_polls_abandoned_total")
        self._report_double_claims()
        self.evaluate_alerts()
        try:
            users = self.audience.users()
        except SQLAlchemyError as exc:  # the store is down: the poll's own errors say so
            log.warning("Home tabs not refreshed: cannot read who opened them (%s)", type(exc).__name__)
        else:
            republish_homes(self.app.client, self.service, users, self.clock(), self.open_alerts)
        if self.digest is not None:
            try:
                self._count_digest(self.digest.post_due(self.clock()))
            except DB_DOWN as exc:
                log.warning("weekly digest check skipped: the database is unavailable (%s)", first_line(exc))
            except Exception:  # the poll itself succeeded; the digest is retried after the next one
                log.exception("weekly digest check after the poll failed")
        return summary

    def _prune(self) -> None:
        """Delete snapshots and poll runs past the retention period (never the daily spend)."""
        if self.engine is None or self.config is None:
            return
        try:
            retention.prune(self.engine, self.clock(), timedelta(days=self.config.retention_days))
        except SQLAlchemyError:  # pruning must never fail the poll job; the next poll tries again
            log.exception("pruning old snapshots and poll runs failed")

    def _report_double_claims(self) -> None:
        """Log each double claim the newest names reveal, once (not again on every poll)."""
        try:
            claims = tuple(self.service.double_claims())
        except SQLAlchemyError:
            return  # the store is down: the poll's own errors say so
        if claims != self.reported_claims:
            for claim in claims:
                log.warning("double claim in the config (see `aispend check`): %s", claim)
            self.reported_claims = claims

    def open_alerts(self) -> tuple[AlertView, ...]:
        return open_alerts(self.engine) if self.engine is not None else ()

    def evaluate_alerts(self) -> AlertRun | None:
        """One alert evaluation; a failure is logged and counted, never stops the poll job."""
        if self.engine is None or self.config is None:
            return None
        try:
            run = run_alerts(
                engine=self.engine,
                source=self.service,
                config=self.config,
                notifier=SlackAlertNotifier(self.app.client, self.config),
                clock=self.clock,
            )
        except DB_DOWN as exc:  # an outage is an expected state: one line, the next poll retries
            log.warning("alert evaluation skipped: the database is unavailable (%s)", first_line(exc))
            self.metrics.inc("aispend_slack_errors_total", where="alert_evaluation")
            return None
        except Exception:
            log.exception("alert evaluation failed")
            self.metrics.inc("aispend_slack_errors_total", where="alert_evaluation")
            return None
        if run.delivery is not None:
            for _notice, _error in run.delivery.failed:
                self.metrics.inc("aispend_slack_errors_total", where="alert_delivery")
            for notice in run.delivery.sent:
                self.metrics.inc("aispend_alerts_sent_total", rule=notice.alert.key.rule)
        for key in run.applied.resolved:
            self.metrics.inc("aispend_alerts_resolved_total", rule=key.rule)
        return run

    def post_digest(self) -> None:
        """The weekly digest job (CronTrigger at ``digest.weekday``/``digest.time``)."""
        if self.digest is not None:
            self._count_digest(weekly_digest(self.digest, self.clock))

    def _count_digest(self, outcome: DigestOutcome) -> None:
        if outcome.status == "posted":
            self.metrics.inc("aispend_digests_posted_total")
        elif outcome.status in ("failed", "gave_up"):
            self.metrics.inc("aispend_slack_errors_total", where="digest")


def log_poll(summary: PollSummary, finished_at: datetime) -> None:
    """One INFO line per poll (a WARNING naming each failed endpoint when some failed)."""
    written = sum(r.count.inserted + r.count.updated + r.count.deleted for r in summary.results)
    took = (finished_at - summary.started_at).total_seconds()
    failed = [f"{r.provider}/{r.endpoint}: {r.status}" for r in summary.errors]
    if failed:
        log.warning(
            "poll finished in %.1fs: %d rows written, %d of %d endpoints failed (%s)",
            took,
            written,
            len(failed),
            len(summary.results),
            "; ".join(failed),
        )
    else:
        log.info(
            "poll finished in %.1fs: %d endpoints ok, %d rows written", took, len(summary.results), written
        )


def record_poll(metrics: Metrics, summary: PollSummary, finished_at: datetime) -> None:
    """Count each endpoint's outcome and rows; stamp the endpoints that succeeded."""
    for result in summary.results:
        provider, endpoint = str(result.provider), result.endpoint
        metrics.inc("aispend_polls_total", provider=provider, endpoint=endpoint, outcome=str(result.status))
        written = result.count.inserted + result.count.updated + result.count.deleted
        if written:
            metrics.inc("aispend_rows_written_total", written, provider=provider, endpoint=endpoint)
        if result.status is PollStatus.OK:
            metrics.set(
                "aispend_poll_last_success_timestamp_seconds",
                finished_at.timestamp(),
                provider=provider,
                endpoint=endpoint,
            )


def record_spend(metrics: Metrics, config: Config, team: TeamReport, runway: Runway) -> None:
    """Gauges operators alert on: balance, runway, month-to-date spend and budget per project."""
    if runway.balance is None:
        metrics.clear("aispend_openrouter_balance_usd")
    else:
        metrics.set("aispend_openrouter_balance_usd", runway.balance)
    if runway.days_left is None:
        metrics.clear("aispend_openrouter_runway_days")
    else:
        metrics.set("aispend_openrouter_runway_days", runway.days_left)
    names = [project.name for project in config.projects]
    metrics.set_per_project(
        "aispend_project_spend_usd", {report.project: report.total for report in team.projects}, names
    )
    budgets = {p.name: p.monthly_budget_usd for p in config.projects if p.monthly_budget_usd is not None}
    metrics.set_per_project("aispend_project_budget_usd", budgets, names)


def _require(settings: Settings, socket_mode: bool) -> None:
    missing = [] if secret(settings.slack_bot_token) else ["SLACK_BOT_TOKEN"]
    if socket_mode and not secret(settings.slack_app_token):
        missing.append("SLACK_APP_TOKEN")
    if not socket_mode and not secret(settings.slack_signing_secret):
        missing.append("SLACK_SIGNING_SECRET")
    if missing:
        raise ServeError(
            f"set {', '.join(missing)} to run `aispend serve{' --socket' if socket_mode else ''}`"
        )
    bot_token = secret(settings.slack_bot_token) or ""
    if not bot_token.startswith(("xoxb-", "xoxp-", "xoxe.xoxb-", "xoxe.xoxp-")):  # xoxe.: token rotation
        raise ServeError(f"SLACK_BOT_TOKEN is {_token_kind(bot_token)}, not a bot token: {_BOT_TOKEN_HELP}")
    app_token = secret(settings.slack_app_token) or ""
    if socket_mode and not app_token.startswith("xapp-"):
        raise ServeError(
            f"SLACK_APP_TOKEN is {_token_kind(app_token)}, not an app-level token: {_APP_TOKEN_HELP}"
        )


def _token_kind(token: str) -> str:
    """What a token looks like, from its public prefix only (the secret part is never shown)."""
    kinds = {"xoxb-": "a bot token", "xoxp-": "a user token", "xapp-": "an app-level token"}
    kinds |= {"xoxe.xoxb-": "a bot token", "xoxe-": "a refresh token", "xoxa-": "a workspace token"}
    return next((kind for prefix, kind in kinds.items() if token.startswith(prefix)), "not a Slack token")


def _slack_failure(exc: Exception, what: str, setting: str, help_text: str, api_url: str) -> Exception:
    """Turn a failed start-up call to Slack into one line saying what is wrong and what to set."""
    if isinstance(exc, SlackApiError):
        error = str(exc.response.get("error") or f"HTTP {exc.response.status_code}")
        if error in _TOKEN_ERRORS:
            return ServeError(f"Slack rejected {setting} ({error}): {help_text}")
        return SlackUnreachable(f"Slack answered {what} with {error!r} at {api_url}; try again later")
    reason = getattr(exc, "reason", None) or exc
    return SlackUnreachable(
        f"cannot reach Slack at {api_url} ({reason}): check the network, or set SLACK_API_URL"
    )


_NETWORK_ERRORS = (SlackApiError, SlackClientError, URLError, OSError)
_QUIET = logging.getLogger("aispend.serve.startup_check")
_QUIET.setLevel(logging.CRITICAL)  # its failures are reported as one line by the caller instead


def _request_engine(engine: Engine, database_url: str) -> Engine:
    """An engine with request timeouts (``store.engine.REQUEST``) on the same database.

    An in-memory SQLite database exists only inside its one engine, so it is shared as is.
    """
    url = engine.url
    if url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:"):
        return engine
    return make_engine(database_url, timeouts=REQUEST)


def build_runtime(settings: Settings, config: Config, *, socket_mode: bool = False) -> Runtime:
    _require(settings, socket_mode)
    bot_token = secret(settings.slack_bot_token)
    assert bot_token is not None
    metrics = Metrics()
    client = make_web_client(bot_token, settings.slack_api_url, metrics=metrics)
    probe = make_web_client(bot_token, settings.slack_api_url, logger=_QUIET)
    try:  # before anything else starts, so a wrong token or no network is one line, not a traceback
        probe.auth_test()
    except _NETWORK_ERRORS as exc:
        raise _slack_failure(
            exc, "auth.test", "SLACK_BOT_TOKEN", _BOT_TOKEN_HELP, settings.slack_api_url
        ) from None
    engine = open_store(settings.database_url)  # polls, migrations, the leader lock
    reads = _request_engine(engine, settings.database_url)
    service = SpendService(
        reads,
        config,
        stale_after=timedelta(minutes=3 * config.poll_interval_minutes),
        providers=configured_providers(settings),
    )
    # Slack answers and /healthz read through deadlines: a hung database gets a polite answer.
    guard = CallGuard()
    guarded = GuardedReader(service, guard)
    audience = StoreHomeAudience(reads, guard)  # any replica's leader republishes every Home
    # Socket Mode requests are not signed; Bolt still wants a value it will never use.
    app = build_app(
        reader=guarded,
        client=client,
        signing_secret=secret(settings.slack_signing_secret) or "socket-mode",
        token_verification=True,  # Bolt keeps the auth.test result; per-request look-ups would cost time
        metrics=metrics,
        audience=audience,
        ledger=StoreLedger(reads, guard),
        extensions=[alert_actions(engine, config, utcnow)],
        alerts=lambda: open_alerts(engine),
    )
    # A poll's budget ends before the next poll is due, so one slow poll never skips the next
    # (the scheduler runs one at a time: max_instances=1).
    poller = poller_from_settings(
        engine,
        settings,
        backfill_days=config.backfill_days,
        poll_seconds_cap=config.poll_interval_minutes * 60 * POLL_BUDGET_SHARE,
    )
    lock = LeaderLock(engine, on_change=lambda leads: metrics.set("aispend_leader", int(leads)))
    if not lock.needed:  # SQLite: a single process, which leads by construction
        metrics.set("aispend_leader", 1)
    web = create_web_app(
        app,
        signing_secret=secret(settings.slack_signing_secret) or "socket-mode",
        health=lambda: guarded.health(utcnow()),
        metrics=metrics,
        stale_after=timedelta(minutes=3 * config.poll_interval_minutes) if poller is not None else None,
        alive=lambda: runtime.liveness_problem(),
        schema_current=lambda: schema_is_current(reads),
        slack_events=not socket_mode,
    )
    runtime = Runtime(
        app,
        web,
        service,
        BackgroundScheduler(),
        lock,
        audience,
        metrics,
        poller,
        engine=engine,
        config=config,
    )
    if config.digest is not None:
        runtime.digest = DigestPoster(
            engine, service, SlackGateway(app.client), config, alerts=StoredAlertHistory(engine)
        )
    runtime.scheduler = build_scheduler(
        config,
        poll=runtime.poll if poller is not None else None,
        lock=lock,
        digest=runtime.post_digest if runtime.digest is not None else None,
        leader_retry=timedelta(seconds=settings.leader_retry_seconds),
    )
    return runtime


def serve(settings: Settings, config: Config, *, socket_mode: bool, host: str = "0.0.0.0") -> int:
    """Run until SIGTERM or SIGINT, then stop everything within :data:`STOP_TIMEOUT_S`.

    Both modes serve ``/healthz`` and ``/metrics`` over HTTP on ``$PORT`` (an orchestrator probes
    a Socket Mode bot too). The listener runs in a thread so the main thread owns the signals:
    as PID 1 in a container the kernel ignores SIGTERM unless a handler is installed, which is why
    a bare ``Event().wait()`` never stopped.
    """
    _check_port(host, settings.port)
    runtime = build_runtime(settings, config, socket_mode=socket_mode)
    stop = threading.Event()
    installed = _on_stop_signals(stop)
    server = http_server(runtime.web, host, settings.port)
    listener = threading.Thread(target=server.run, name="http", daemon=True)
    handler = None
    try:
        if socket_mode:  # connect first: if Slack refuses the app token, nothing has started yet
            from aispend.slack.socket import start_socket_mode

            app_token = secret(settings.slack_app_token)
            assert app_token is not None
            try:
                handler = start_socket_mode(runtime.app, app_token)
            except _NETWORK_ERRORS as exc:
                raise _slack_failure(
                    exc, "apps.connections.open", "SLACK_APP_TOKEN", _APP_TOKEN_HELP, settings.slack_api_url
                ) from None
        if runtime.poller is None:
            log.warning("no provider keys set: serving stored data only, nothing will be polled")
        if runtime.scheduler.get_jobs():  # the poll job, and the weekly digest when configured
            runtime.scheduler.start()
            runtime.started = True
            jobs = ", ".join(job.id for job in runtime.scheduler.get_jobs())
            log.info("scheduler started (%s): a poll every %d minutes", jobs, config.poll_interval_minutes)
        listener.start()
        while not stop.wait(1.0):
            if not listener.is_alive():
                log.error("the HTTP listener on port %s stopped; shutting down", settings.port)
                return 1
        log.info("stopping: signal received")
        return 0
    finally:
        _shutdown(runtime, server, listener, handler)
        for signum, previous in installed.items():
            signal.signal(signum, previous)
        if stop.is_set():  # a failed start says what failed in one line; a stop is news
            log.info("stopped")


STOP_TIMEOUT_S = 8.0
"""How long a graceful stop may take; orchestrators send SIGKILL after 10 s (Docker, Kubernetes)."""


EXIT_GRACE_S = 1.5
"""After :func:`serve` returned, how long library threads get before the process exits anyway."""


def exit_watchdog(code: int, grace: float = EXIT_GRACE_S) -> None:
    """End the process with ``code`` if it is still alive ``grace`` seconds from now.

    Everything of ours is stopped by then (socket closed, scheduler down, lock released), but the
    interpreter's exit waits for every non-daemon thread, and slack_sdk's Socket Mode client can
    leave a worker starting its receive loop when SIGTERM comes while it connects (seen as PID 1
    in the image): the stop would then wait for the orchestrator's SIGKILL. Hand-written: no
    library offers an exit deadline; call it from the main thread of the ``aispend`` process only.
    """

    def watch() -> None:
        time.sleep(grace)
        lingering = [
            t.name
            for t in threading.enumerate()
            if t.is_alive() and not t.daemon and t is not threading.main_thread()
        ]
        log.warning("forcing exit: threads still running after the stop: %s", ", ".join(lingering) or "none")
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(code)

    threading.Thread(target=watch, name="exit-watchdog", daemon=True).start()


def _on_stop_signals(stop: threading.Event) -> dict[int, Any]:
    if threading.current_thread() is not threading.main_thread():
        return {}  # tests call serve() from a thread; they stop it through the event instead
    previous: dict[int, Any] = {}
    for signum in (signal.SIGTERM, signal.SIGINT):
        previous[signum] = signal.signal(signum, lambda *_: stop.set())
    return previous


def _shutdown(
    runtime: Runtime, server: uvicorn.Server, listener: threading.Thread, handler: SocketModeHandler | None
) -> None:
    """Close the socket, drain the listener, stop the scheduler, release the leader lock."""
    deadline = time.monotonic() + STOP_TIMEOUT_S
    if handler is not None:
        handler.client.close()
    server.should_exit = True
    if listener.is_alive():
        listener.join(max(0.0, deadline - time.monotonic() - 2))
    if runtime.scheduler.running:
        # wait=False: a poll in flight is abandoned, not awaited; its window is re-fetched next
        # time and ingestion is idempotent, so nothing is lost or double-counted.
        runtime.scheduler.shutdown(wait=False)
    runtime.lock.release()
