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


def health_payload(
    health: Health | None, *, now: datetime, stale_after: timedelta | None
) -> tuple[int, dict[str, object]]:
    """(HTTP status, JSON body) for ``/healthz``: 503 when the database is down or unreadable."""
    database = health is not None and health.database_ok
    last = health.last_poll_at if health is not None else None
    age = (now - last).total_seconds() if last is not None else None
    fresh = age is not None and (stale_after is None or age <= stale_after.total_seconds())
    return (200 if database else 503), {
        "status": "ok" if database and fresh else "degraded",
        "database": database,
        "last_poll_at": last.isoformat() if last is not None else None,
        "last_poll_age_seconds": round(age, 3) if age is not None else None,
    }


# /healthz answers within this, whatever the database does (load balancers probe with ~2-5 s).
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
) -> Starlette:
    """The ASGI app: ``POST /slack/events``, ``GET /healthz``, ``GET /metrics``.

    ``signing_secret`` is the app's (the same one Bolt checks again, harmlessly): requests are
    verified here on the raw bytes before anything parses them. ``max_body_bytes`` caps what one
    request may send (413 beyond it).
    ``stale_after``: a last poll older than this makes ``/healthz`` say ``degraded`` (still 200;
    the composition root passes a few poll intervals). ``health`` may raise when the database is
    unreachable, or hang when it is frozen; both are reported as a 503 within
    :data:`HEALTH_TIMEOUT_SECONDS`.
    """
    counters = metrics if metrics is not None else Metrics()
    now = clock or utcnow
    # One health read at a time on its own thread: probes that arrive while a read hangs share
    # it instead of stacking up threads (the web server's thread pool stays free for Slack).
    health_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aispend-healthz")
    inflight: Future[Health] | None = None
    verifier = SignatureVerifier(signing_secret)
    rejections = RejectionLog()

    async def slack_events(request: Request) -> Response:
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
        nonlocal inflight
        if inflight is None or inflight.done():
            inflight = health_thread.submit(health)
        current: Health | None
        try:
            current = await asyncio.wait_for(
                asyncio.shield(asyncio.wrap_future(inflight)), HEALTH_TIMEOUT_SECONDS
            )
        except Exception:  # the read hung past the deadline or failed: both mean "database down"
            current = None
        status, payload = health_payload(current, now=now(), stale_after=stale_after)
        counters.inc("aispend_http_requests_total", path="/healthz", status=str(status))
        return JSONResponse(payload, status_code=status)

    async def metrics_endpoint(_: Request) -> Response:
        return Response(counters.render(), media_type=CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
        ]
    )


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
