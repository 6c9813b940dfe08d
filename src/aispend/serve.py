"""Composition root for ``aispend serve``: store, service, Slack app, scheduler, listener."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from aispend.clock import utcnow
from aispend.config import Config
from aispend.ingest import Poller
from aispend.providers import OpenAIClient, OpenRouterClient
from aispend.scheduler import LeaderLock, build_scheduler
from aispend.service import SpendService
from aispend.settings import Settings, secret
from aispend.slack.app import build_app
from aispend.slack.client import make_web_client
from aispend.slack.home import HomeAudience, republish_homes
from aispend.slack.web import Metrics, create_web_app, serve_http
from aispend.store.engine import open_store

log = logging.getLogger(__name__)


class ServeError(Exception):
    """Missing settings for the chosen mode."""


def serve(settings: Settings, config: Config, *, socket_mode: bool) -> int:
    bot_token = secret(settings.slack_bot_token)
    signing_secret = secret(settings.slack_signing_secret)
    app_token = secret(settings.slack_app_token)
    missing = [] if bot_token else ["SLACK_BOT_TOKEN"]
    if socket_mode and not app_token:
        missing.append("SLACK_APP_TOKEN")
    if not socket_mode and not signing_secret:
        missing.append("SLACK_SIGNING_SECRET")
    if missing:
        raise ServeError(
            f"set {', '.join(missing)} to run `aispend serve{' --socket' if socket_mode else ''}`"
        )
    assert bot_token is not None

    engine = open_store(settings.database_url)
    service = SpendService(engine, config)
    client = make_web_client(bot_token, settings.slack_api_url)
    audience = HomeAudience()
    metrics = Metrics()
    # Socket Mode requests are not signed; Bolt still wants a value it will never use.
    app = build_app(
        reader=service,
        client=client,
        signing_secret=signing_secret or "socket-mode",
        token_verification=True,
        metrics=metrics,
        audience=audience,
    )

    openai_key = secret(settings.openai_admin_key)
    openrouter_key = secret(settings.openrouter_management_key)
    poller = Poller(
        engine,
        openai=OpenAIClient(openai_key, settings.openai_base_url) if openai_key else None,
        openrouter=OpenRouterClient(openrouter_key, settings.openrouter_base_url) if openrouter_key else None,
        backfill_days=config.backfill_days,
        secrets=(openai_key, openrouter_key),
    )

    def poll_job() -> None:
        summary = poller.poll()
        for problem in summary.errors:
            metrics.inc("aispend_poll_errors_total", provider=problem.provider, endpoint=problem.endpoint)
        republish_homes(client, service, audience.users(), utcnow())

    lock = LeaderLock(engine)
    scheduler = build_scheduler(config, poll=poll_job, lock=lock)
    if openai_key or openrouter_key:
        scheduler.start()
    else:
        log.warning("no provider keys set: serving stored data only, nothing will be polled")
    try:
        if socket_mode:
            assert app_token is not None
            from aispend.slack.socket import start_socket_mode

            handler = start_socket_mode(app, app_token)
            try:
                threading.Event().wait()
            finally:
                handler.client.close()
        else:
            web = create_web_app(
                app,
                health=lambda: service.health(utcnow()),
                metrics=metrics,
                stale_after=timedelta(minutes=3 * config.poll_interval_minutes),
            )
            serve_http(web, "0.0.0.0", settings.port)
    finally:
        if scheduler.running:
            scheduler.shutdown(wait=False)
        lock.release()
    return 0
