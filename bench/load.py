"""Two replicas under load: signed ``/aispend project`` requests while the leader polls.

Usage::

    .venv/bin/python -m bench.load            # 20 concurrent clients for 30 s
    .venv/bin/python -m bench.load --quick    # 10 s, a smaller simulated account

Two real ``aispend serve`` processes (``tests.hostile.served``) share one PostgreSQL database (a
schema of its own on ``AISPEND_BENCH_PG_URL``, default the local test server, dropped afterwards).
The simulated providers (``aispend.demo.simulated``) serve a sized account, so the leader's first
poll (the backfill) is real work that overlaps the load. Every client sends a freshly signed
``/aispend project search`` to each replica in turn. Printed: throughput, p50/p99 per replica and
overall, errors (a non-200 answer, or an answer that is not the project's), each replica's RSS
before (after a 1 s warm-up) and after, and how much of the load overlapped a poll.

Targets: zero errors, p99 < 300 ms, RSS growth < 10 %.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
from sqlalchemy import func, select
from tests.fakes.fake_slack import FakeSlack
from tests.hostile.served import Served, command_body, serve_process, signed_headers
from tests.pg import pg_problem, pg_schema

from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import SimulatedProviders
from aispend.store.engine import make_engine
from aispend.store.models import PollRun
from bench.common import PG_URL, Timing, heading, ms, verdict

CLIENTS = 20
P99_TARGET = 0.300
RSS_GROWTH_TARGET = 0.10

CONFIG = """\
timezone: UTC
poll_interval_minutes: 15
projects:
  - name: search
    owner: U0OWNER
    openai_projects: [search]
    openrouter_keys: [search-prod]
  - name: support
    owner: U0OTHER
    openai_projects: [support-bot]
    openrouter_keys: [support-prod]
"""


def rss_mb(pid: int) -> float:
    rss: int = psutil.Process(pid).memory_info().rss
    return rss / (1 << 20)


def poll_runs(url: str) -> tuple[int, datetime | None]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            count, newest = conn.execute(select(func.count(), func.max(PollRun.started_at))).one()
        return int(count), newest
    finally:
        engine.dispose()


def finished_polls(served: Served | None) -> list[str]:
    text = served.log_text() if served is not None else ""
    return [line for line in text.splitlines() if "poll finished" in line]


def leads(served: Served) -> bool:
    with httpx.Client(base_url=served.url, timeout=5) as http:
        return served.metric(http, "aispend_leader ") == 1


class Load:
    """``clients`` threads, each with its own keep-alive connections, for ``seconds``."""

    def __init__(self, replicas: list[Served], response_url: str) -> None:
        self.replicas = replicas
        self.response_url = response_url
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def run(self, clients: int, seconds: float) -> float:
        stop = time.monotonic() + seconds
        threads = [threading.Thread(target=self._client, args=(i, stop)) for i in range(clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started

    def _client(self, index: int, stop: float) -> None:
        http = [httpx.Client(base_url=r.url, timeout=10) for r in self.replicas]
        sent = 0
        try:
            while time.monotonic() < stop:
                which = (index + sent) % len(self.replicas)
                body = command_body(
                    "project search", response_url=self.response_url, trigger=f"{index}.{sent}"
                )
                began = time.perf_counter()
                try:
                    response = http[which].post("/slack/events", content=body, headers=signed_headers(body))
                    took = time.perf_counter() - began
                    problem = None
                    if response.status_code != 200:
                        problem = f"HTTP {response.status_code}"
                    elif "search" not in response.text or "isn't answering" in response.text:
                        problem = f"unexpected answer: {response.text[:120]}"
                except httpx.HTTPError as exc:
                    took, problem = time.perf_counter() - began, f"{type(exc).__name__}: {exc}"
                with self._lock:
                    self.latency[f"replica {which + 1}"].append(took)
                    if problem is not None:
                        self.errors.append(problem)
                sent += 1
        finally:
            for client in http:
                client.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--projects", type=int, default=200, help="simulated OpenAI projects")
    parser.add_argument("--keys", type=int, default=100, help="simulated OpenRouter keys")
    parser.add_argument("--quick", action="store_true", help="10 s, 40 projects and 20 keys")
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.projects, args.keys = min(args.seconds, 10.0), 40, 20
    problem = pg_problem(PG_URL)
    if problem is not None:
        raise SystemExit(f"bench.load needs PostgreSQL at {PG_URL} (AISPEND_BENCH_PG_URL): {problem}")

    heading(
        f"load: 2 replicas on PostgreSQL, {args.clients} concurrent signed /aispend project for "
        f"{args.seconds:.0f} s while the leader polls ({args.projects} projects x 10 line items, "
        f"{args.keys} OpenRouter keys, 60 days)"
    )
    made = time.perf_counter()
    dataset = Dataset.sized(datetime.now(UTC).date(), projects=args.projects, openrouter_keys=args.keys)
    print(f"simulated account generated in {time.perf_counter() - made:.1f} s")
    fake = FakeSlack().start()
    with (
        SimulatedProviders(dataset) as providers,
        pg_schema(PG_URL, prefix="aispend_bench") as url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        base = Path(tmp)
        (base / "aispend.yaml").write_text(CONFIG, encoding="utf-8")
        env = providers.environ() | {"DATABASE_URL": url, "SLACK_API_URL": fake.api_url}
        with (
            serve_process(base, env, verbose=False) as first,
            serve_process(base, env, verbose=False) as second,
        ):
            replicas = [first, second]
            leader = next((r for r in replicas if leads(r)), None)
            Load(replicas, fake.response_url()).run(2, 1.0)  # warm-up (first imports, connections)
            before = [rss_mb(r.pid) for r in replicas]
            runs_before, _ = poll_runs(url)
            load = Load(replicas, fake.response_url())
            wall = load.run(args.clients, args.seconds)
            after = [rss_mb(r.pid) for r in replicas]
            runs_after, newest = poll_runs(url)
            polled = finished_polls(leader)
            # the leader's RSS once its poll (the backfill) has finished, apart from the load
            waited = time.monotonic() + 180
            while leader is not None and not finished_polls(leader) and time.monotonic() < waited:
                time.sleep(0.5)
            settled = [rss_mb(r.pid) for r in replicas]
            polls = finished_polls(leader)

        every = [s for samples in load.latency.values() for s in samples]
        total = Timing(tuple(every))
        print(
            f"requests {len(every)} in {wall:.1f} s: {len(every) / wall:.1f} req/s; errors {len(load.errors)}"
        )
        for name in sorted(load.latency):
            print(f"  {name}: {Timing(tuple(load.latency[name])).line()}")
        print(f"  all:       {total.line()}")
        for index, (was, now) in enumerate(zip(before, after, strict=True), start=1):
            role = "leader" if replicas[index - 1] is leader else "standby"
            change = (now / was - 1) * 100
            print(f"  replica {index} ({role}) RSS {was:.1f} MiB -> {now:.1f} MiB ({change:+.1f} %)")
        print(f"poll runs during the load: {runs_after - runs_before} endpoint runs, newest started {newest}")
        print(f"leader polls finished during the load: {len(polled)}; afterwards: {len(polls) - len(polled)}")
        for line in polls:
            print(f"  leader: {line.split(': ', 1)[-1]}")
        print(
            "RSS after the leader's poll finished (no load): "
            + ", ".join(f"replica {i} {mb:.1f} MiB" for i, mb in enumerate(settled, start=1))
        )
        for error in load.errors[:5]:
            print(f"  error: {error}")
    fake.stop()
    growth = [now / was - 1 for was, now in zip(before, after, strict=True)]
    shown = ", ".join(f"{g * 100:.1f} %" for g in growth)
    print(
        f"zero errors: {verdict(not load.errors)}; p99 {ms(total.p99)} < {ms(P99_TARGET)}: "
        f"{verdict(total.p99 < P99_TARGET)}; RSS growth {shown} < 10 %: "
        f"{verdict(max(growth) < RSS_GROWTH_TARGET)} (the leader's includes the poll in progress)"
    )


if __name__ == "__main__":
    main()
