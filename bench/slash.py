"""Slash-command latency over real HTTP: signed ``/aispend`` requests into uvicorn.

Usage::

    .venv/bin/python -m bench.slash            # 200 x project / projects / help on the report store
    .venv/bin/python -m bench.slash --quick    # small store, 30 requests each

The server is the production stack: ``create_web_app(build_app(reader=SpendService(...), ...))`` under
uvicorn on a pre-bound loopback socket in a thread, reading the cached SQLite store of
``bench.report`` (built on first use). Slack Web API calls go to the fake in ``tests/fakes``.
Requests are sequential from one ``httpx.Client`` (keep-alive). Latency is the client-side round
trip on loopback, which is server-side latency plus well under a millisecond of loopback transport
(``help`` reads nothing from the store, so its figure is the HTTP + Bolt overhead alone); the time
spent inside the reader (``SpendService``) is measured in the server and printed alongside.

Targets: p99 < 100 ms for every command; project / help p50 ratio < 1.5.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, TypeVar

import httpx
from tests.fakes.asgi_server import serve_in_thread
from tests.fakes.fake_slack import FakeSlack
from tests.fakes.slack_requests import command_body, signed_headers

from aispend.config import Config
from aispend.metrics import Metrics
from aispend.reader import Health, SpendReader
from aispend.service import SpendService
from aispend.slack.app import build_app
from aispend.slack.client import make_web_client
from aispend.slack.web import create_web_app
from aispend.spend.model import MixReport, Mover, ProjectReport, RoutesReport, Runway, TeamReport
from aispend.spend.visibility import Audience
from aispend.store.engine import make_engine
from bench.common import (
    REPORT_NOW,
    ReportSizes,
    Timing,
    cached_sqlite_store,
    heading,
    ms,
    report_config,
    verdict,
)

SECRET = "bench-signing-secret"
USER = "U0BENCHUSR"
P99_TARGET = 0.100
RATIO_TARGET = 1.5

R = TypeVar("R")


class TimedReader:
    """A ``SpendReader`` that records how long each call into the real one takes (server side)."""

    def __init__(self, inner: SpendReader) -> None:
        self.inner = inner
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.in_flight = 0
        self._lock = threading.Lock()

    def _time(self, name: str, fn: Callable[[], R]) -> R:
        with self._lock:
            self.in_flight += 1
        start = time.perf_counter()
        try:
            return fn()
        finally:
            with self._lock:
                self.seconds[name].append(time.perf_counter() - start)
                self.in_flight -= 1

    def drain(self, timeout: float = 120.0) -> None:
        """Wait until no reader call is running (Bolt abandons a listener after its 3 s ack
        timeout but the listener thread keeps computing; the next request must not compete)."""
        deadline = time.monotonic() + timeout
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.005)

    def reset(self) -> None:
        with self._lock:
            self.seconds.clear()

    @property
    def config(self) -> Config:
        return self.inner.config

    def project_report(self, name: str, now: datetime, month: date | None = None) -> ProjectReport | None:
        return self._time("project_report", lambda: self.inner.project_report(name, now, month))

    def team_report(self, now: datetime, month: date | None = None, *, audience: Audience) -> TeamReport:
        return self._time("team_report", lambda: self.inner.team_report(now, month, audience=audience))

    def runway(self, now: datetime, *, audience: Audience) -> Runway:
        return self._time("runway", lambda: self.inner.runway(now, audience=audience))

    def mix(self, now: datetime, project: str | None = None, *, audience: Audience) -> MixReport:
        return self._time("mix", lambda: self.inner.mix(now, project, audience=audience))

    def routes(self, now: datetime, *, audience: Audience) -> RoutesReport:
        return self._time("routes", lambda: self.inner.routes(now, audience=audience))

    def movers(self, now: datetime, *, audience: Audience) -> tuple[Mover, ...]:
        return self._time("movers", lambda: self.inner.movers(now, audience=audience))

    def last_poll_at(self) -> datetime | None:
        return self._time("last_poll_at", self.inner.last_poll_at)

    def health(self, now: datetime) -> Health:
        return self._time("health", lambda: self.inner.health(now))


@contextmanager
def serve(reader: SpendReader, fake: FakeSlack, *, nodelay: bool = True) -> Iterator[str]:
    """The production ASGI app under uvicorn on a pre-bound loopback socket; yields its URL.

    ``nodelay``: set TCP_NODELAY on the pre-bound socket (accepted sockets inherit it). Without
    it every response stalls ~40 ms (uvicorn writes headers and body separately; Nagle holds the
    body for the client's delayed ACK). uvicorn's own bind, as ``aispend.slack.web.http_server``
    uses in production, measured ~1.6 ms per trivial GET, so the stall is a harness artefact of
    the pre-bound socket pattern (tests/slack/conftest.py has it too).
    """
    metrics = Metrics()
    bolt = build_app(
        reader=reader,
        client=make_web_client("xoxb-bench", fake.api_url),
        signing_secret=SECRET,
        clock=lambda: REPORT_NOW,
        metrics=metrics,
    )
    asgi = create_web_app(
        bolt,
        signing_secret=SECRET,
        health=lambda: reader.health(REPORT_NOW),
        metrics=metrics,
        clock=lambda: REPORT_NOW,
    )
    with serve_in_thread(asgi, nodelay=nodelay) as url:
        yield url


def run_command(
    http: httpx.Client,
    reader: TimedReader,
    text: str,
    response_url: str,
    count: int,
    budget: float,
    expect: str,
) -> tuple[Timing, list[int]]:
    samples: list[float] = []
    statuses: list[int] = []
    began = time.perf_counter()
    for n in range(count):
        body = command_body(text, user=USER, response_url=response_url, user_name="bench")
        headers = signed_headers(body, secret=SECRET)  # signing is client work: outside the timed span
        start = time.perf_counter()
        response = http.post("/slack/events", content=body, headers=headers)
        samples.append(time.perf_counter() - start)
        statuses.append(response.status_code)
        reader.drain()  # only waits when Bolt answered before the listener finished (ack timeout)
        if n == 0:
            payload: dict[str, Any] = response.json()
            shown = str(payload)
            if expect not in shown or "went wrong" in shown.lower():
                print(f"  (!) unexpected answer to '/aispend {text}': {shown[:300]}")
        if len(samples) >= 5 and time.perf_counter() - began > budget:
            break
    return Timing(tuple(samples)), statuses


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--unconfigured", type=int, default=10)
    parser.add_argument("--requests", type=int, default=200, help="requests per command")
    parser.add_argument("--budget", type=float, default=90.0, help="max seconds per command")
    parser.add_argument("--project", default="team-007")
    parser.add_argument(
        "--nagle", action="store_true", help="no TCP_NODELAY on the pre-bound socket (see serve())"
    )
    parser.add_argument("--quick", action="store_true", help="report --quick store, 30 requests each")
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.models, args.days, args.unconfigured = 30, 10, 60, 3
        args.requests = min(args.requests, 30)

    sizes = ReportSizes(args.projects, args.models, args.days, args.unconfigured)
    url, built = cached_sqlite_store(sizes)
    heading(
        f"slash commands over HTTP: store {sizes.tag} ({'built now' if built else 'cached'}), "
        f"{args.requests} sequential requests per command"
    )
    engine = make_engine(url)
    reader = TimedReader(SpendService(engine, report_config(sizes)))
    fake = FakeSlack().start()
    commands = (
        ("help", "help", "/aispend"),
        (f"project {args.project}", "project", args.project),
        ("projects", "projects", "team-"),
    )
    results: dict[str, Timing] = {}
    inside: dict[str, dict[str, list[float]]] = {}
    try:
        with (
            serve(reader, fake, nodelay=not args.nagle) as base,
            httpx.Client(base_url=base, timeout=60) as http,
        ):
            for text, label, expect in commands:  # warm-up: imports, first compiles, page cache
                run_command(
                    http, reader, text, fake.response_url(), 1 if label == "projects" else 3, 1e9, expect
                )
            for text, label, expect in commands:
                reader.reset()
                timing, statuses = run_command(
                    http, reader, text, fake.response_url(), args.requests, args.budget, expect
                )
                results[label] = timing
                inside[label] = {k: list(v) for k, v in reader.seconds.items()}
                bad = sum(1 for s in statuses if s != 200)
                cut = (
                    f" (stopped after {len(timing.samples)}: --budget {args.budget:g}s)"
                    if len(timing.samples) < args.requests
                    else ""
                )
                print(f"  /aispend {text:22s} {timing.line()}{cut}")
                if bad:
                    print(
                        f"      {bad} of {len(statuses)} answered {sorted(set(statuses))}: Bolt gave up "
                        "waiting for ack() after its 3 s ack timeout (Slack shows 'operation_timeout')"
                    )
                for call, seconds in sorted(inside[label].items()):
                    reader_timing = Timing(tuple(seconds))
                    print(
                        f"      in the server: SpendService.{call:15s} n={len(seconds)} "
                        f"p50={ms(reader_timing.p50)} p99={ms(reader_timing.p99)}"
                    )
    finally:
        fake.stop()
        engine.dispose()

    heading("targets (client-side round trip on loopback, sequential)")
    for label, timing in results.items():
        over_3s = sum(1 for s in timing.samples if s >= 3.0)
        note = f"  ({over_3s} of {len(timing.samples)} over Slack's 3 s ack deadline)" if over_3s else ""
        print(
            f"  {label:9s} p99 {ms(timing.p99):>11s} (target < {ms(P99_TARGET)}): "
            f"{verdict(timing.p99 < P99_TARGET)}{note}"
        )
    ratio = results["project"].p50 / results["help"].p50
    print(
        f"  project/help p50 ratio {ratio:.2f} (target < {RATIO_TARGET:g}): {verdict(ratio < RATIO_TARGET)}"
        f"   (help p50 {ms(results['help'].p50)} = HTTP + signature check + Bolt overhead)"
    )


if __name__ == "__main__":
    main()
