"""Composition root for ``aispend serve``: store, service, Slack app, scheduler, listener.

:func:`build_runtime` wires everything from settings (tests call it with loopback fakes);
:func:`serve` runs it until interrupted.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from sqlalchemy import Engine
from starlette.applications import Starlette

from aispend.clock import utcnow
from aispend.config import Config
from aispend.ingest import Poller, PollSummary, poller_from_settings
from aispend.scheduler import LeaderLock, build_scheduler
from aispend.service import SpendService
from aispend.settings import Settings, secret
from aispend.slack.app import build_app
from aispend.slack.client import make_web_client
from aispend.slack.home import HomeAudience, republish_homes
from aispend.slack.web import Metrics, create_web_app, serve_http
from aispend.store.engine import REQUEST, make_engine, open_store
from aispend.store.guard import CallGuard, GuardedReader

log = logging.getLogger(__name__)


class ServeError(Exception):
    """Missing settings for the chosen mode."""


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

    def poll(self) -> PollSummary | None:
        """The scheduled job: poll, count errors, refresh every Home tab that was opened."""
        if self.poller is None:
            return None
        summary = self.poller.poll()
        for problem in summary.errors:
            self.metrics.inc(
                "aispend_poll_errors_total", provider=problem.provider, endpoint=problem.endpoint
            )
        republish_homes(self.app.client, self.service, self.audience.users(), utcnow())
        return summary


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
    engine = open_store(settings.database_url)  # polls, migrations, the leader lock
    service = SpendService(_request_engine(engine, settings.database_url), config)
    # Slack answers and /healthz read through deadlines: a hung database gets a polite answer.
    guarded = GuardedReader(service, CallGuard())
    audience = HomeAudience()
    metrics = Metrics()
    # Socket Mode requests are not signed; Bolt still wants a value it will never use.
    app = build_app(
        reader=guarded,
        client=make_web_client(bot_token, settings.slack_api_url),
        signing_secret=secret(settings.slack_signing_secret) or "socket-mode",
        token_verification=True,
        metrics=metrics,
        audience=audience,
    )
    poller = poller_from_settings(engine, settings, backfill_days=config.backfill_days)
    lock = LeaderLock(engine)
    web = create_web_app(
        app,
        signing_secret=secret(settings.slack_signing_secret) or "socket-mode",
        health=lambda: guarded.health(utcnow()),
        metrics=metrics,
        stale_after=timedelta(minutes=3 * config.poll_interval_minutes),
    )
    runtime = Runtime(app, web, service, BackgroundScheduler(), lock, audience, metrics, poller)
    runtime.scheduler = build_scheduler(config, poll=runtime.poll, lock=lock)
    return runtime


def serve(settings: Settings, config: Config, *, socket_mode: bool) -> int:
    runtime = build_runtime(settings, config, socket_mode=socket_mode)
    if runtime.poller is not None:
        runtime.scheduler.start()
    else:
        log.warning("no provider keys set: serving stored data only, nothing will be polled")
    try:
        if socket_mode:
            from aispend.slack.socket import start_socket_mode

            app_token = secret(settings.slack_app_token)
            assert app_token is not None
            handler = start_socket_mode(runtime.app, app_token)
            try:
                threading.Event().wait()
            finally:
                handler.client.close()
        else:
            serve_http(runtime.web, "0.0.0.0", settings.port)
    finally:
        if runtime.scheduler.running:
            runtime.scheduler.shutdown(wait=False)
        runtime.lock.release()
    return 0
