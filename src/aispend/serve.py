"""Composition root for ``aispend serve``: store, service, Slack app, scheduler, listener.

:func:`build_runtime` wires everything from settings (tests call it with loopback fakes);
:func:`serve` runs it until interrupted.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from apscheduler.schedulers.background import BackgroundScheduler
from slack_bolt import App
from sqlalchemy import Engine
from starlette.applications import Starlette

from aispend.clock import utcnow
from aispend.config import Config
from aispend.ingest import Poller, PollSummary, configured_providers, poller_from_settings
from aispend.scheduler import LeaderLock, build_scheduler
from aispend.service import SpendService
from aispend.settings import Settings, secret
from aispend.slack.app import build_app
from aispend.slack.client import make_web_client
from aispend.slack.home import HomeAudience, republish_homes
from aispend.slack.web import Metrics, create_web_app, http_server
from aispend.store.engine import REQUEST, make_engine, open_store
from aispend.store.guard import CallGuard, GuardedReader

if TYPE_CHECKING:
    import uvicorn
    from slack_bolt.adapter.socket_mode import SocketModeHandler

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
    service = SpendService(
        _request_engine(engine, settings.database_url),
        config,
        stale_after=timedelta(minutes=3 * config.poll_interval_minutes),
        providers=configured_providers(settings),
    )
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


def serve(settings: Settings, config: Config, *, socket_mode: bool, host: str = "0.0.0.0") -> int:
    """Run until SIGTERM or SIGINT, then stop everything within :data:`STOP_TIMEOUT_S`.

    Both modes serve ``/healthz`` and ``/metrics`` over HTTP on ``$PORT`` (an orchestrator probes
    a Socket Mode bot too). The listener runs in a thread so the main thread owns the signals:
    as PID 1 in a container the kernel ignores SIGTERM unless a handler is installed, which is why
    a bare ``Event().wait()`` never stopped.
    """
    runtime = build_runtime(settings, config, socket_mode=socket_mode)
    stop = threading.Event()
    installed = _on_stop_signals(stop)
    server = http_server(runtime.web, host, settings.port)
    listener = threading.Thread(target=server.run, name="http", daemon=True)
    handler = None
    try:
        if runtime.poller is not None:
            runtime.scheduler.start()
        else:
            log.warning("no provider keys set: serving stored data only, nothing will be polled")
        listener.start()
        if socket_mode:
            from aispend.slack.socket import start_socket_mode

            app_token = secret(settings.slack_app_token)
            assert app_token is not None
            handler = start_socket_mode(runtime.app, app_token)
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


STOP_TIMEOUT_S = 8.0
"""How long a graceful stop may take; orchestrators send SIGKILL after 10 s (Docker, Kubernetes)."""


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
    log.info("stopped")
