"""Weekly digest build time: content + Block Kit + PNG chart on the big report store.

Usage::

    .venv/bin/python -m bench.digest            # 300 projects x 20 models x 365 days (SQLite, cached)
    .venv/bin/python -m bench.digest --quick    # small store
    .venv/bin/python -m bench.digest --pg       # PostgreSQL too (builds a fresh schema, dropped after)

The store is ``bench.report``'s (``bench.common.build_report_store``, cached under
``bench/results/``). Prints the time and SQL statement count of one digest build (the reads, the
pure content, the Block Kit message and the matplotlib chart), the statement count on a one-month
store for comparison, and where the time goes. Target: under 5 s.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from sqlalchemy import Engine

from aispend.config import Config
from aispend.digest.alerts import StoredAlertHistory
from aispend.digest.chart import render_chart
from aispend.digest.content import build_digest
from aispend.digest.job import DigestPoster
from aispend.digest.weeks import report_week
from aispend.service import SpendService
from aispend.slack.digest import digest_message
from bench.common import (
    PG_URL,
    REPORT_NOW,
    QueryCounter,
    ReportSizes,
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

TARGET = 5.0


def measure(backend: str, engine: Engine, engine_1m: Engine, config: Config) -> float:
    now = REPORT_NOW
    week = report_week(now)
    poster = DigestPoster(
        engine, SpendService(engine, config), None, config, alerts=StoredAlertHistory(engine)
    )
    counter = QueryCounter()
    with counter.attached(engine):
        rendered, total = timed(lambda: poster.render(week, now))
    assert rendered.chart is not None
    digest = rendered.digest
    print(
        f"  digest {week}: ${digest.total.now:,.2f} vs ${digest.total.before:,.2f}, "
        f"{digest.project_count} projects, {len(rendered.message.blocks)} blocks, "
        f"chart {len(rendered.chart):,} bytes"
    )
    print(f"  first build after a poll (fresh service): {ms(total)} and {counter.count} SQL statements")
    counter_1m = QueryCounter()
    poster_1m = DigestPoster(engine_1m, SpendService(engine_1m, config), None, config)
    with counter_1m.attached(engine_1m):
        poster_1m.render(week, now)
    print(
        f"  SQL statements on a one-month store: {counter_1m.count} (vs {counter.count} on the full history)"
    )
    # Where the time goes, one run each on a fresh service.
    service = SpendService(engine, config)
    inputs, t_inputs = timed(lambda: service.digest_inputs(week, now, StoredAlertHistory(engine)))
    built, t_build = timed(lambda: build_digest(inputs))
    _, t_blocks = timed(lambda: digest_message(built, tz=config.tz))
    _, t_chart = timed(lambda: render_chart(built))
    print(
        f"  breakdown: store reads + month report + runway {ms(t_inputs)} | content {ms(t_build)} | "
        f"Block Kit {ms(t_blocks)} | chart {ms(t_chart)} ({len(inputs.lines):,} week lines, "
        f"{len(inputs.daily):,} chart cells)"
    )
    return total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--models", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--unconfigured", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="30 projects x 10 models x 60 days")
    parser.add_argument("--pg", action="store_true", help="also measure on PostgreSQL")
    parser.add_argument("--pg-url", default=PG_URL)
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.models, args.days, args.unconfigured = 30, 10, 60, 3
    sizes = ReportSizes(args.projects, args.models, args.days, args.unconfigured)
    sizes_1m = replace(sizes, days=31)
    config = report_config(sizes)
    heading(
        f"digest on the report store: {sizes.projects} projects x {sizes.models} models/day, "
        f"{sizes.days} days"
    )
    results: list[tuple[str, float]] = []
    (url, built), t_build = timed(lambda: cached_sqlite_store(sizes))
    url_1m, _ = cached_sqlite_store(sizes_1m)
    print(
        f"  {'built' if built else 'reusing'} SQLite store {url.removeprefix('sqlite:///')} ({t_build:.1f}s)"
    )
    heading("SQLite")
    engine, engine_1m = open_migrated(url), open_migrated(url_1m)
    results.append(("sqlite", measure("sqlite", engine, engine_1m, config)))
    engine.dispose()
    engine_1m.dispose()
    if args.pg:
        problem = pg_problem(args.pg_url)
        if problem is not None:
            print(f"\n  PostgreSQL skipped: {args.pg_url} unreachable ({problem})")
        else:
            heading("PostgreSQL")
            with pg_schema(args.pg_url) as pg, pg_schema(args.pg_url) as pg_1m:
                engine, engine_1m = open_migrated(pg), open_migrated(pg_1m)
                build_report_store(engine, sizes)
                build_report_store(engine_1m, sizes_1m)
                results.append(("postgresql", measure("postgresql", engine, engine_1m, config)))
                engine.dispose()
                engine_1m.dispose()
    heading("targets")
    for backend, seconds in results:
        print(
            f"  [{backend}] digest with chart {ms(seconds)} (target < {TARGET:.0f} s): "
            f"{verdict(seconds < TARGET)}"
        )


if __name__ == "__main__":
    main()
