"""Ingest throughput: a 60-day backfill through the real ``Poller`` into a fresh SQLite file.

Usage::

    .venv/bin/python -m bench.ingest             # 200 OpenAI projects x 10 line items, 100 OpenRouter keys
    .venv/bin/python -m bench.ingest --quick     # 20 projects, 10 keys
    .venv/bin/python -m bench.ingest --profile   # + cProfile of one more ingest (top 15)

Provider pages come from memory: an ``httpx.MockTransport`` answers from bodies rendered beforehand
by the simulated servers' in-process handler (``SimulatedServer.handle``), so neither sockets nor
the simulator's own JSON rendering are in the timed run (a request the pre-render did not foresee
is rendered on the spot and its rendering time reported separately).

Floor: the very rows the ingest wrote (same tables, same columns) inserted with one bare
SQLAlchemy Core ``executemany`` per table into a fresh database. Targets: ingest <= 3x the floor,
peak RSS of the poll < 200 MB, requests = the minimum the page limits force.
"""

from __future__ import annotations

import argparse
import gc
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, Table, insert, select
from sqlmodel import SQLModel

from aispend.clock import month_start
from aispend.demo.simulated.dataset import Dataset
from aispend.demo.simulated.servers import (
    OPENAI_ADMIN_KEY,
    OPENROUTER_MANAGEMENT_KEY,
    FakeOpenAI,
    FakeOpenRouter,
    SimulatedServer,
)
from aispend.ingest import POLLED_USAGE_ENDPOINTS, REFETCH_DAYS_BACK, Poller, PollSummary
from aispend.providers.openai import OpenAIClient
from aispend.providers.openrouter import OpenRouterClient
from bench.common import (
    REPORT_NOW,
    RESULTS,
    fresh_sqlite,
    heading,
    open_migrated,
    peak_rss_mb,
    profile_top,
    reset_peak_rss,
    rss_mb,
    timed,
    verdict,
)

OPENAI_BASE = "http://openai.bench/v1"
OPENROUTER_BASE = "http://openrouter.bench/api/v1"
RATIO_TARGET = 3.0
RSS_TARGET_MB = 200.0
COSTS_PAGE = 180
USAGE_PAGE = 31
KEYS_PAGE = 100
LIST_PAGE = 100

_KEY_PATH = re.compile(r"^(/organization/projects/)[^/]+(/api_keys)$")
_KEY_TEMPLATE = r"\1{id}\2"


def endpoint_of(server: SimulatedServer, raw_path: str) -> str:
    path = raw_path.split("?", 1)[0].removeprefix(server.api_root)
    name = "openai" if isinstance(server, FakeOpenAI) else "openrouter"
    return f"{name} {_KEY_PATH.sub(_KEY_TEMPLATE, path)}"


@dataclass
class MemoryProviders:
    """A MockTransport handler per provider, answering from pre-rendered responses."""

    openai: FakeOpenAI
    openrouter: FakeOpenRouter
    cache: dict[tuple[str, str], tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    misses: int = 0
    render_seconds: float = 0.0
    recording: bool = True  # pre-render phase: render and keep, do not count

    def transport(self, server: SimulatedServer) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            raw_path = request.url.raw_path.decode("ascii")
            key = (request.url.host, raw_path)
            cached = self.cache.get(key)
            if cached is None:
                start = time.perf_counter()
                response = server.handle(request.method, raw_path, request.headers.get("authorization"))
                cached = (response.status, response.body, dict(response.headers))
                self.cache[key] = cached
                if not self.recording:
                    self.misses += 1
                    self.render_seconds += time.perf_counter() - start
            if not self.recording:
                self.counts[endpoint_of(server, raw_path)] += 1
            status, body, headers = cached
            return httpx.Response(status, content=body, headers=headers)

        return httpx.MockTransport(handle)

    def clients(self) -> tuple[OpenAIClient, OpenRouterClient]:
        no_sleep: Any = lambda _seconds: None  # noqa: E731 - retries never wait in a benchmark
        return (
            OpenAIClient(
                OPENAI_ADMIN_KEY, OPENAI_BASE, transport=self.transport(self.openai), sleep=no_sleep
            ),
            OpenRouterClient(
                OPENROUTER_MANAGEMENT_KEY,
                OPENROUTER_BASE,
                transport=self.transport(self.openrouter),
                sleep=no_sleep,
            ),
        )

    @property
    def body_mb(self) -> float:
        return sum(len(body) for _, body, _ in self.cache.values()) / 2**20

    def largest(self) -> tuple[str, float]:
        (host, path), (_, body, _) = max(self.cache.items(), key=lambda kv: len(kv[1][1]))
        return f"{host}{path.split('?', 1)[0]}", len(body) / 2**20


def prerender(providers: MemoryProviders, dataset: Dataset, backfill_days: int) -> float:
    """Fetch every page the polls will ask for once, through the real clients (no store)."""
    start = time.perf_counter()
    today = dataset.as_of.date()
    end = today + timedelta(days=1)
    windows = [
        (today - timedelta(days=backfill_days), end),  # first poll and the forced full re-poll
        (min(month_start(today), today - timedelta(days=REFETCH_DAYS_BACK)), end),  # scheduled re-poll
    ]
    openai, openrouter = providers.clients()
    with openai, openrouter:
        for project in openai.projects():
            openai.api_keys(project.id)
        for first, last in windows:
            openai.costs(first, last)
            for endpoint in POLLED_USAGE_ENDPOINTS:
                openai.usage(endpoint, first, last)
        openrouter.credits()
        for key in openrouter.keys():
            if key.usage > 0:
                openrouter.activity(key.hash)
    providers.recording = False
    return time.perf_counter() - start


def minimum_requests(dataset: Dataset, backfill_days: int) -> dict[str, int]:
    """What the page limits force for a first poll (window = backfill_days + today)."""
    window_days = backfill_days + 1
    keys = dataset.openrouter_keys
    return {
        "openai /organization/costs": math.ceil(window_days / COSTS_PAGE),
        **{
            f"openai /organization/usage/{e}": math.ceil(window_days / USAGE_PAGE)
            for e in POLLED_USAGE_ENDPOINTS
        },
        "openai /organization/projects": max(1, math.ceil(len(dataset.openai_projects) / LIST_PAGE)),
        # One page per project, archived ones too (they own past spend; each has < 100 keys);
        # there is no org-wide key listing.
        "openai /organization/projects/{id}/api_keys": len(dataset.openai_projects),
        "openrouter /credits": 1,
        # /keys has no has_more: a full last page needs one more (empty) page to prove it is the last.
        "openrouter /keys": len(keys) // KEYS_PAGE + 1,
        "openrouter /activity": sum(1 for k in keys if k.usage > 0),
    }


def data_tables() -> list[Table]:
    return [
        table
        for table in SQLModel.metadata.sorted_tables
        if table.name != "alembic_version" and isinstance(table, Table)
    ]


def snapshot_rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, minus autoincrement ids (what an insert would have to send)."""
    out: dict[str, list[dict[str, Any]]] = {}
    with engine.connect() as conn:
        for table in data_tables():
            columns = [c for c in table.columns if c is not table.autoincrement_column]
            out[table.name] = [dict(row._mapping) for row in conn.execute(select(*columns))]
    return out


def floor_insert(url: str, rows: dict[str, list[dict[str, Any]]]) -> float:
    engine = open_migrated(url)
    tables = {t.name: t for t in data_tables()}
    start = time.perf_counter()
    with engine.begin() as conn:
        for name, batch in rows.items():
            if batch:
                conn.execute(insert(tables[name]), batch)
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds


def written(summary: PollSummary) -> tuple[int, int, int, int]:
    ins = sum(r.count.inserted for r in summary.results)
    upd = sum(r.count.updated for r in summary.results)
    dele = sum(r.count.deleted for r in summary.results)
    same = sum(r.count.unchanged for r in summary.results)
    return ins, upd, dele, same


def run_poll(
    providers: MemoryProviders, engine: Engine, now: datetime, backfill_days: int | None, days: int
) -> tuple[PollSummary, float, dict[str, int]]:
    providers.counts.clear()
    openai, openrouter = providers.clients()
    with openai, openrouter:
        poller = Poller(engine, openai=openai, openrouter=openrouter, backfill_days=days, clock=lambda: now)
        summary, seconds = timed(lambda: poller.poll(backfill_days))
    if not summary.ok:
        for result in summary.errors:
            print(f"  !! {result.provider} {result.endpoint}: {result.status}: {result.error}")
    return summary, seconds, dict(providers.counts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--line-items", type=int, default=10)
    parser.add_argument("--keys", type=int, default=100, help="OpenRouter keys")
    parser.add_argument("--days", type=int, default=60, help="backfill days")
    parser.add_argument("--db", type=Path, default=RESULTS / "ingest.db")
    parser.add_argument("--profile", action="store_true", help="cProfile one more ingest (top 15)")
    parser.add_argument("--quick", action="store_true", help="20 projects, 10 keys")
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.keys = 20, 10

    now = REPORT_NOW
    today: date = now.date()
    heading(
        f"ingest: {args.projects} OpenAI projects x {args.line_items} line items, "
        f"{args.keys} OpenRouter keys, {args.days}-day backfill"
    )
    dataset, t_gen = timed(
        lambda: Dataset.sized(
            today,
            projects=args.projects,
            line_items=args.line_items,
            openrouter_keys=args.keys,
            days=args.days,
        )
    )
    assert dataset.as_of == now, "the dataset's provider clock must be the poll clock"
    print(
        f"  dataset: {len(dataset.openai_costs):,} cost rows, {len(dataset.openai_usage):,} usage rows, "
        f"{len(dataset.openrouter_activity):,} activity rows, {len(dataset.openai_api_keys)} OpenAI keys "
        f"(generated in {t_gen:.1f}s)"
    )
    providers = MemoryProviders(FakeOpenAI(dataset), FakeOpenRouter(dataset))
    t_pre = prerender(providers, dataset, args.days)
    where, size = providers.largest()
    print(
        f"  pre-rendered {len(providers.cache)} responses, {providers.body_mb:.1f} MiB, in {t_pre:.1f}s "
        f"(largest: {size:.1f} MiB {where})"
    )

    # ---- the ingest ---------------------------------------------------------------------------
    url = fresh_sqlite(args.db)
    engine = open_migrated(url)  # migrations are start-up, not ingest
    gc.collect()
    baseline = rss_mb()
    can_reset = reset_peak_rss()
    summary, seconds, counts = run_poll(providers, engine, now, None, args.days)
    peak = peak_rss_mb()
    ins, upd, dele, _ = written(summary)
    rows = snapshot_rows(engine)
    total_rows = sum(len(batch) for batch in rows.values())
    heading("first poll (60-day backfill)")
    print(f"  wall time        {seconds:.2f} s")
    print(
        f"  rows written     {ins:,} inserted, {upd:,} updated, {dele:,} deleted "
        f"({total_rows:,} rows in store)"
    )
    for name, batch in rows.items():
        if batch:
            print(f"                     {name:28s} {len(batch):>9,}")
    print(f"  throughput       {total_rows / seconds:,.0f} rows/s")
    if providers.misses:
        print(
            f"  (!) {providers.misses} request(s) were not pre-rendered; their rendering took "
            f"{providers.render_seconds:.2f}s of the wall time"
        )
    rss_note = "" if can_reset else " (peak since process start: /proc/self/clear_refs unavailable)"
    print(
        f"  RSS              baseline {baseline:.0f} MiB (interpreter + dataset + pre-rendered bodies), "
        f"peak {peak:.0f} MiB, poll's own peak {peak - baseline:.0f} MiB{rss_note}"
    )

    minimum = minimum_requests(dataset, args.days)
    print("  HTTP requests    endpoint                                        made   minimum")
    for endpoint in sorted(set(counts) | set(minimum)):
        made = counts.get(endpoint, 0)
        least = minimum.get(endpoint)
        flag = "" if least is None or made == least else "  <-- above minimum"
        print(f"                   {endpoint:46s} {made:>5}   {least if least is not None else '-':>7}{flag}")
    total_made, total_min = sum(counts.values()), sum(minimum.values())
    print(f"                   {'total':46s} {total_made:>5}   {total_min:>7}")

    # ---- the floor ----------------------------------------------------------------------------
    floor_path = args.db.with_name(args.db.stem + "-floor.db")
    floor = floor_insert(fresh_sqlite(floor_path), rows)
    heading("floor: the same rows by bare Core executemany into a fresh DB (one transaction)")
    print(f"  wall time        {floor:.2f} s ({total_rows / floor:,.0f} rows/s)")
    ratio = (seconds - providers.render_seconds) / floor
    print(f"  ingest / floor   {ratio:.2f}x")

    # ---- re-polls -----------------------------------------------------------------------------
    heading("re-polls of the same data (idempotent)")
    for label, backfill in (
        ("scheduled re-poll (month-to-date + 3 days)", None),
        ("forced 60-day re-poll", args.days),
    ):
        again, t_again, c_again = run_poll(providers, engine, now, backfill, args.days)
        i2, u2, d2, s2 = written(again)
        print(
            f"  {label:44s} {t_again:.2f} s; {sum(c_again.values())} requests; "
            f"{i2} inserted, {u2} updated, {d2} deleted, {s2:,} unchanged"
        )
    engine.dispose()

    heading("targets")
    print(f"  ingest/floor {ratio:.2f}x (target <= {RATIO_TARGET:g}x): {verdict(ratio <= RATIO_TARGET)}")
    own = peak - baseline
    print(
        f"  poll peak RSS {own:.0f} MiB above baseline, {peak:.0f} MiB process total "
        f"(target < {RSS_TARGET_MB:g} MB): {verdict(own < RSS_TARGET_MB)} (own), "
        f"{verdict(peak < RSS_TARGET_MB)} (process total)"
    )
    print(f"  requests {total_made} vs minimum {total_min}: {verdict(total_made <= total_min)}")

    if args.profile:
        openai, openrouter = providers.clients()
        for n, sort in enumerate(("cumulative", "tottime")):
            heading(f"cProfile: one more ingest into a fresh DB, top 15 by {sort} time")
            db = args.db.with_name(f"{args.db.stem}-profile{n}.db")
            profile_engine = open_migrated(fresh_sqlite(db))
            poller = Poller(
                profile_engine,
                openai=openai,
                openrouter=openrouter,
                backfill_days=args.days,
                clock=lambda: now,
            )
            print(profile_top(poller.poll, sort=sort))
            profile_engine.dispose()
        openai.close()
        openrouter.close()


if __name__ == "__main__":
    main()
