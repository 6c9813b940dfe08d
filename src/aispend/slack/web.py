"""HTTP mode: a Starlette ASGI app around the sync Bolt app, plus health and metrics.

``POST /slack/events`` first passes the gate (``aispend.slack.gate``: body size cap, signature on
the raw bytes, then parsing), so unauthenticated or oversized requests cost a few microseconds and
never reach Bolt; the signed request then goes to Bolt on a worker thread
(``run_in_threadpool(app.dispatch, …)``), so a listener waiting for its ack never blocks the
event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta

import uvicorn
from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from aispend.clock import utcnow
from aispend.metrics import CONTENT_TYPE, Metrics
from aispend.reader import Health
from aispend.slack.gate import MAX_BODY_BYTES, Rejected, RejectionLog, parse, read_capped, verify


def readiness_payload(
    health: Health | None,
    *,
    now: datetime,
    stale_after: timedelta | None,
    schema_current: bool | None = True,
    started_at: datetime | None = None,
) -> tuple[int, dict[str, object]]:
    """(HTTP status, JSON body) for ``/readyz``: 200 only when this replica can answer truthfully.

    Not ready while the database does not answer (``health`` is None when the read failed or
    hung), while its schema is not the one this code migrates to (``schema_current`` False: an
    older or newer release shares the database), or while polling has stopped: the last poll is
    older than ``stale_after`` (None: this process does not poll). A store never polled is given
    ``stale_after`` from ``started_at`` for its first poll (a 60-day backfill takes a while).
    """
    database = health is not None and health.database_ok
    last = health.last_poll_at if health is not None else None
    age = (now - last).total_seconds() if last is not None else None
    reasons: list[str] = []
    if not database:
        reasons.append("database unreachable")
    elif schema_current is False:
        reasons.append("database schema is not this release's (run the migrations)")
    if stale_after is not None and database:
        limit = stale_after.total_seconds()
        if age is None:
            waited = (now - started_at).total_seconds() if started_at is not None else 0.0
            if waited > limit:
                reasons.append("never polled")
        elif age > limit:
            reasons.append(f"last poll {round(age)} s ago (limit {round(limit)} s)")
    return (503 if reasons else 200), {
        "status": "not_ready" if reasons else "ready",
        "reasons": reasons,
        "database": database,
        "last_poll_at": last.isoformat() if last is not None else None,
        "last_poll_age_seconds": round(age, 3) if age is not None else None,
    }


# /readyz answers within this, whatever the database does (load balancers probe with ~2-5 s).
HEALTH_TIMEOUT_SECONDS = 1.5

_REFUSALS = {400: "malformed request", 401: "invalid signature", 413: "request body too large"}


def create_web_app(
    bolt_app: App,
    *,
    signing_secret: str,
    health: Callable[[], Health],
    metrics: Metrics | None = None,
    stale_after: timedelta | None = None,
    clock: Callable[[], datetime] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    alive: Callable[[], str | None] | None = None,
    schema_current: Callable[[], bool] | None = None,
    slack_events: bool = True,
) -> Starlette:
    """The ASGI app: ``POST /slack/events``, ``GET /healthz``, ``GET /readyz``, ``GET /metrics``.

    ``/healthz`` is liveness and touches no database (restarting a process does not fix one):
    ``alive`` returns None, or why the process is broken in a way a restart fixes (its
    scheduler died). ``/readyz`` is readiness (:func:`readiness_payload`), from ``health`` and
    ``schema_current``, both read on one bounded thread. ``slack_events=False`` (Socket Mode)
    serves probes and metrics only.

    ``signing_secret`` is the app's (the same one Bolt checks again, harmlessly): requests are
    verified here on the raw bytes before anything parses them. ``max_body_bytes`` caps what one
    request may send (413 beyond it).
    ``stale_after``: a last poll older than this makes ``/readyz`` answer 503 (the composition
    root passes a few poll intervals; None when nothing polls). ``health`` may raise when the
    database is unreachable, or hang when it is frozen; both are reported as a 503 within
    :data:`HEALTH_TIMEOUT_SECONDS`.
    """
    counters = metrics if metrics is not None else Metrics()
    now = clock or utcnow
    # One health read at a time on its own thread: probes that arrive while a read hangs share
    # it instead of stacking up threads (the web server's thread pool stays free for Slack).
    health_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aispend-healthz")
    inflight: Future[tuple[Health | None, bool | None]] | None = None
    started_at = now()

    def read_readiness() -> tuple[Health | None, bool | None]:
        current = health()
        return current, (schema_current() if schema_current is not None and current.database_ok else None)

    verifier = SignatureVerifier(signing_secret)
    rejections = RejectionLog()

    async def events(request: Request) -> Response:
        try:
            body = await read_capped(request.headers, request.stream(), max_body_bytes)
            verify(verifier, body, request.headers)
            bolt_request = parse(body, query=request.query_params, headers=request.headers)
        except Rejected as refused:
            rejections.record(refused.reason)
            counters.inc("aispend_slack_rejected_total", reason=refused.reason)
            counters.inc("aispend_http_requests_total", path="/slack/events", status=str(refused.status))
            headers = {"connection": "close"} if refused.status == 413 else None
            return PlainTextResponse(_REFUSALS[refused.status], status_code=refused.status, headers=headers)
        bolt_response = await run_in_threadpool(bolt_app.dispatch, bolt_request)
        counters.inc("aispend_http_requests_total", path="/slack/events", status=str(bolt_response.status))
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> Response:
        problem = alive() if alive is not None else None
        status = 503 if problem else 200
        counters.inc("aispend_http_requests_total", path="/healthz", status=str(status))
        body = {"status": "down", "reason": problem} if problem else {"status": "ok"}
        return JSONResponse(body, status_code=status)

    async def readyz(_: Request) -> Response:
        nonlocal inflight
        if inflight is None or inflight.done():
            inflight = health_thread.submit(read_readiness)
        current: Health | None
        schema: bool | None = None
        try:
            current, schema = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(inflight)), HEALTH_TIMEOUT_SECONDS
            )
        except Exception:  # the read hung past the deadline or failed: both mean "database down"
            current = None
        status, payload = readiness_payload(
            current, now=now(), stale_after=stale_after, schema_current=schema, started_at=started_at
        )
        counters.inc("aispend_http_requests_total", path="/readyz", status=str(status))
        return JSONResponse(payload, status_code=status)

    async def metrics_endpoint(_: Request) -> Response:
        return Response(counters.render(), media_type=CONTENT_TYPE)

    routes = [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
    ]
    if slack_events:
        routes.append(Route("/slack/events", events, methods=["POST"]))
    return Starlette(routes=routes)


def http_server(asgi: Starlette, host: str, port: int) -> uvicorn.Server:
    """A uvicorn server for ``asgi`` (no lifespan: the app has no startup hooks)."""
    config = uvicorn.Config(
        asgi,
        host=host,
        port=port,
        lifespan="off",
        log_config=None,  # uvicorn's records go through aispend's one handler (aispend.logs)
        log_level="info",
        proxy_headers=True,
        timeout_graceful_shutdown=3,  # in-flight requests get 3 s of the 10 s a stop may take
    )
    return uvicorn.Server(config)
