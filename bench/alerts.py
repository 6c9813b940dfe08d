"""Alert evaluation on the report store: time and SQL statements of one evaluation.

Usage::

    .venv/bin/python -m bench.alerts            # 300 projects x 20 models x 365 days (~2 M rows), SQLite + PG
    .venv/bin/python -m bench.alerts --quick    # small store
    .venv/bin/python -m bench.alerts --no-pg

The store is ``bench.report``'s synthetic one (the SQLite file is shared through its cache and
copied here, so this bench never changes it), plus 200 OpenRouter keys with their own caps
(a tenth of them nearly used up) and two ``/credits`` snapshots 24 h apart. Every project has a
budget, so budget alerts fire.

Measured, for one ``run_alerts`` (rules → state → delivery through a notifier that only counts):

* the **first evaluation ever** (every alert is new: rows inserted, every message "posted");
* **right after a poll** (a fresh ``SpendService``: the team month is rebuilt from the rollups;
  the alert state exists, so nothing is posted);
* **between polls** (the same service again: reports come from its cache).

Target: under 1 s, with a statement count that does not grow with the history (1 month vs 12).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, select, update
from sqlmodel import col

from aispend.alerts.job import AlertRun, run_alerts
from aispend.alerts.model import Delivery, Notice
from aispend.config import Config
from aispend.money import to_nanos
from aispend.records import OpenRouterCredits
from aispend.service import SpendService
from aispend.store import writes
from aispend.store.engine import make_engine, migrate, session_scope
from aispend.store.models import OpenRouterKeyState
from bench.common import (
    PG_URL,
    REPORT_NOW,
    QueryCounter,
    ReportSizes,
    Timing,
    build_report_store,
    cached_sqlite_store,
    heading,
    ms,
    open_migrated,
    pg_problem,
    pg_schema,
    report_config,
    timed,
    verdict,
)

TARGET = 1.0
CAPPED_KEYS = 200


class CountingNotifier:
    """Accepts every notice (as Slack would) and counts them."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, notice: Notice) -> Delivery | None:
        self.sent += 1
        return Delivery("C0BENCH", f"1700000000.{self.sent:06d}") if notice.kind == "post" else None


def add_caps_and_credits(engine: Engine) -> None:
    """200 keys get a $100 cap (every tenth with under 10 % left); two credit snapshots."""
    with session_scope(engine) as session:
        hashes = list(session.execute(select(col(OpenRouterKeyState.hash))).scalars())
        for index, key_hash in enumerate(sorted(hashes)[:CAPPED_KEYS]):
            left = Decimal(5) if index % 10 == 0 else Decimal(60)
            session.execute(
                update(OpenRouterKeyState)
                .where(col(OpenRouterKeyState.hash) == key_hash)
                .values(limit_nanos=to_nanos(Decimal(100)), limit_remaining_nanos=to_nanos(left))
            )
        writes.record_openrouter_credits(
            session, OpenRouterCredits(Decimal(5000), Decimal(3000)), REPORT_NOW - timedelta(hours=25)
        )
        writes.record_openrouter_credits(
            session, OpenRouterCredits(Decimal(5000), Decimal(3400)), REPORT_NOW - timedelta(minutes=5)
        )


def alert_config(sizes: ReportSizes) -> Config:
    base = report_config(sizes)
    return base.model_copy(update={"alert_channel": "C0ALERTS"})


@dataclass
class Measured:
    backend: str
    first: float
    first_statements: int
    first_alerts: int
    after_poll: Timing
    after_poll_statements: int
    between: Timing
    between_statements: int
    after_poll_statements_1m: int


def _evaluate(engine: Engine, service: SpendService, config: Config) -> AlertRun:
    return run_alerts(
        engine=engine, source=service, config=config, notifier=CountingNotifier(), clock=lambda: REPORT_NOW
    )


def _count(engine: Engine, fn: Callable[[], object]) -> int:
    counter = QueryCounter()
    with counter.attached(engine):
        fn()
    return counter.count


def _repeat(fn: Callable[[], object], runs: int) -> Timing:
    samples = []
    for _ in range(runs):
        _, seconds = timed(fn)
        samples.append(seconds)
    return Timing(tuple(samples))


def measure(backend: str, engine: Engine, engine_1m: Engine, config: Config, runs: int) -> Measured:
    counter = QueryCounter()
    with counter.attached(engine):
        first_run, first = timed(lambda: _evaluate(engine, SpendService(engine, config), config))
    sent = len(first_run.delivery.sent) if first_run.delivery else 0
    print(
        f"  first evaluation ever: {ms(first)}, {counter.count} statements; "
        f"{len(first_run.evaluation.firing)} firing, {len(first_run.applied.fired)} new, {sent} posted"
    )
    after_statements = _count(engine, lambda: _evaluate(engine, SpendService(engine, config), config))
    after = _repeat(lambda: _evaluate(engine, SpendService(engine, config), config), runs)
    print(f"  right after a poll (fresh service): {after.line()}; {after_statements} statements")
    warm = SpendService(engine, config)
    _evaluate(engine, warm, config)
    between_statements = _count(engine, lambda: _evaluate(engine, warm, config))
    between = _repeat(lambda: _evaluate(engine, warm, config), runs)
    print(f"  between polls (same service): {between.line()}; {between_statements} statements")
    _evaluate(engine_1m, SpendService(engine_1m, config), config)
    after_1m = _count(engine_1m, lambda: _evaluate(engine_1m, SpendService(engine_1m, config), config))
    print(
        f"  statements right after a poll: {after_1m} (1 month of history) vs {after_statements} (all of it)"
    )
    return Measured(
        backend, first, counter.count, len(first_run.applied.fired), after, after_statements, between,
        between_statements, after_1m,
    )  # fmt: skip


def summary(results: list[Measured]) -> None:
    heading("targets")
    for r in results:
        print(
            f"  [{r.backend}] evaluation right after a poll p99 {ms(r.after_poll.p99)} "
            f"(target < {ms(TARGET)}): {verdict(r.after_poll.p99 < TARGET)}; between polls p99 "
            f"{ms(r.between.p99)}: {verdict(r.between.p99 < TARGET)}; first ever {ms(r.first)} "
            f"({r.first_alerts} alerts): {verdict(r.first < TARGET)}"
        )
        constant = r.after_poll_statements == r.after_poll_statements_1m
        print(
            f"  [{r.backend}] statements after a poll {r.after_poll_statements_1m} (1 month) -> "
            f"{r.after_poll_statements} (full): {verdict(constant)}; between polls {r.between_statements}"
        )


def _sqlite_copy(sizes: ReportSizes, workdir: Path) -> Engine:
    url, built = cached_sqlite_store(sizes)
    source = Path(url.removeprefix("sqlite:///"))
    if built:
        print(f"  built SQLite store {source} ({sum(built.values()):,} rows)")
    target = workdir / f"alerts-{sizes.tag}.db"
    shutil.copyfile(source, target)
    engine = make_engine(f"sqlite:///{target}")
    migrate(engine)
    add_caps_and_credits(engine)
    return engine


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--unconfigured", type=int, default=10)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--quick", action="store_true", help="30 projects x 10 models x 60 days")
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.models, args.days, args.unconfigured, args.runs = 30, 10, 60, 3, 5
    sizes = ReportSizes(args.projects, args.models, args.days, args.unconfigured)
    sizes_1m = replace(sizes, days=31)
    config = alert_config(sizes)
    heading(
        f"alert evaluation: {sizes.projects} projects x {sizes.models} models/day x {sizes.days} days, "
        f"{CAPPED_KEYS} capped OpenRouter keys, now={REPORT_NOW.isoformat()}"
    )
    results: list[Measured] = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory(prefix="aispend-bench-alerts-") as tmp:
            engine, engine_1m = _sqlite_copy(sizes, Path(tmp)), _sqlite_copy(sizes_1m, Path(tmp))
            heading("SQLite")
            results.append(measure("sqlite", engine, engine_1m, config, args.runs))
            engine.dispose()
            engine_1m.dispose()
    if not args.no_pg:
        problem = pg_problem(args.pg_url)
        if problem is not None:
            print(f"\n  PostgreSQL skipped: {args.pg_url} unreachable ({problem})")
        else:
            heading("PostgreSQL")
            with pg_schema(args.pg_url) as url, pg_schema(args.pg_url) as url_1m:
                engine, engine_1m = open_migrated(url), open_migrated(url_1m)
                _, t_build = timed(lambda: build_report_store(engine, sizes))
                build_report_store(engine_1m, sizes_1m)
                add_caps_and_credits(engine)
                add_caps_and_credits(engine_1m)
                print(f"  built PostgreSQL store in {t_build:.1f}s")
                results.append(measure("postgresql", engine, engine_1m, config, args.runs))
                engine.dispose()
                engine_1m.dispose()
    summary(results)


if __name__ == "__main__":
    main()
