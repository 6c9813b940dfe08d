"""Report latency on a year of history: ``SpendService.project_report`` and ``team_report``.

Usage::

    .venv/bin/python -m bench.report            # 300 projects x 20 models x 365 days, SQLite + PG
    .venv/bin/python -m bench.report --quick    # small store, few runs
    .venv/bin/python -m bench.report --no-pg --profile

The store is written directly with Core ``executemany`` into the real tables (see
``bench.common.build_report_store``); the SQLite file is cached under ``bench/results/`` keyed by
size, so reruns skip the build. PostgreSQL gets a fresh schema that is dropped at the end.

Targets: one project p99 < 20 ms, all projects (team_report) p99 < 300 ms, and the number of SQL
statements per report independent of the history length (1 month vs 12 months).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial

from sqlalchemy import Engine

from aispend.config import Config
from aispend.service import SpendService
from aispend.spend.attribution import build_matcher
from aispend.store import reads
from aispend.store.engine import make_engine, session_scope
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
    profile_top,
    report_config,
    timed,
    verdict,
)

PROJECT_P99_TARGET = 0.020
MONTH_P99_TARGET = 0.300


def repeat_within(fn: Callable[[], object], runs: int, budget: float, min_runs: int = 5) -> Timing:
    """Up to ``runs`` timed calls (after one warm-up), stopping early once ``budget`` seconds are
    spent and at least ``min_runs`` were taken."""
    fn()
    samples: list[float] = []
    began = time.perf_counter()
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
        if len(samples) >= min_runs and time.perf_counter() - began > budget:
            break
    return Timing(tuple(samples))


@dataclass
class Result:
    backend: str
    project: Timing
    month: Timing
    cold_project: Timing
    cold_month: Timing
    project_queries: int
    month_queries: int
    project_queries_1m: int
    month_queries_1m: int


def count_queries(engine: Engine, fn: Callable[[], object]) -> QueryCounter:
    counter = QueryCounter()
    with counter.attached(engine):
        fn()
    return counter


def breakdown(engine: Engine, config: Config, project: str, now: datetime, label: str) -> None:
    """Where a report's time goes: each read (SQL alone vs SQL + row objects) and the domain."""
    first = now.date().replace(day=1)
    end = first.replace(month=first.month % 12 + 1, year=first.year + first.month // 12)
    print(f"  breakdown ({label}), one run each:")
    with session_scope(engine) as session:
        directory, t_dir = timed(lambda: reads.directory(session))
        matcher = build_matcher(config.team_projects(), directory)
        scope = reads.Scope(
            openai_projects=[r for r, n in matcher.openai_projects.items() if n == project],
            openai_keys=[r for r, n in matcher.openai_keys.items() if n == project],
            openrouter_keys=[r for r, n in matcher.openrouter_keys.items() if n == project],
        )
        for name, sc in (("one project", scope), ("all projects", reads.ALL)):
            months, t_month = timed(partial(reads.month_lines, session, first, sc))
            days, t_days = timed(partial(reads.day_rows, session, first, end, sc))
            kd, t_kd = timed(partial(reads.key_days, session, first, end, sc))
            through, t_th = timed(partial(reads.activity_through, session, sc.openrouter_keys))
            print(
                f"    {name:12s}: directory {ms(t_dir)} | month_lines {ms(t_month)} ({len(months)} rows) | "
                f"day_rows {ms(t_days)} ({len(days)} rows) | key_days {ms(t_kd)} ({len(kd)} rows) | "
                f"activity_through {ms(t_th)} ({len(through)} keys)"
            )
    # The same statements on the raw DBAPI cursor (fetchall): database + driver time alone.
    service = SpendService(engine, config)
    for name, fn in (
        ("one project", lambda: service.project_report(project, now)),
        ("all projects", lambda: service.team_report(now)),
    ):
        counter = count_queries(engine, fn)
        replayed = counter.replay(engine)
        total_sql = sum(seconds for _, seconds, _ in replayed)
        _, total = timed(fn)
        print(
            f"    {name:12s}: total {ms(total)} = raw SQL {ms(total_sql)} "
            f"+ Python (row objects, attribution, aggregation) {ms(total - total_sql)}"
        )
        for statement, seconds, rows in sorted(replayed, key=lambda r: -r[1])[:4]:
            print(f"      {ms(seconds):>11s} {rows:>7d} rows  {' '.join(statement.split())[:110]}")


def measure(
    backend: str,
    engine: Engine,
    engine_1m: Engine,
    config: Config,
    args: argparse.Namespace,
) -> Result:
    now = REPORT_NOW
    service = SpendService(engine, config)
    service_1m = SpendService(engine_1m, config)
    project = args.project

    report = service.project_report(project, now)
    assert report is not None, f"no project {project!r} in the generated config"
    month = service.team_report(now)
    print(
        f"  sanity: {project} month-to-date ${report.total:,.2f} ({len(report.by_model)} models); "
        f"all projects ${sum(p.total for p in month.projects):,.2f} + unattributed "
        f"${month.unattributed.total:,.2f}"
    )

    # Between polls (the steady state): the service re-clocks reports it built after the last poll.
    project_timing = repeat_within(lambda: service.project_report(project, now), args.runs, args.budget)
    print(f"  project_report({project}), between polls: {project_timing.line()}")
    month_timing = repeat_within(lambda: service.team_report(now), args.runs, args.budget)
    if len(month_timing.samples) < args.runs:
        print(f"  (team_report stopped after {len(month_timing.samples)} runs: --budget {args.budget:g}s)")
    print(f"  team_report (all projects), between polls: {month_timing.line()}")
    # Right after a poll (a fresh service: names, rollup reads and the domain build all run).
    cold_project = repeat_within(
        lambda: SpendService(engine, config).project_report(project, now), args.runs, args.budget
    )
    print(f"  project_report({project}), first after a poll: {cold_project.line()}")
    cold_month = repeat_within(
        lambda: SpendService(engine, config).team_report(now), max(5, args.runs // 5), args.budget
    )
    print(f"  team_report (all projects), first after a poll: {cold_month.line()}")

    def fresh(target: Engine, fn: str) -> int:
        fresh_service = SpendService(target, config)
        call = (
            (lambda: fresh_service.project_report(project, now))
            if fn == "project"
            else (lambda: fresh_service.team_report(now))
        )
        return count_queries(target, call).count

    pq, mq = fresh(engine, "project"), fresh(engine, "month")
    pq1, mq1 = fresh(engine_1m, "project"), fresh(engine_1m, "month")
    print(
        f"  SQL statements per report, first after a poll: project_report {pq1} (1 month of history) vs "
        f"{pq} ({args.days} days); team_report {mq1} vs {mq} (between polls: 1, the poll-generation check)"
    )
    _, t1 = timed(lambda: service_1m.project_report(project, now))
    _, tm1 = timed(lambda: service_1m.team_report(now))
    print(f"  same reports on the 1-month store (one run): project {ms(t1)}, month {ms(tm1)}")

    missed = project_timing.p99 >= PROJECT_P99_TARGET or month_timing.p99 >= MONTH_P99_TARGET
    if missed or args.profile:
        breakdown(engine, config, project, now, backend)
    if (missed or args.profile) and not args.no_cprofile:
        print(f"  cProfile project_report ({backend}), top 15 by cumulative time:")
        print(_indent(profile_top(lambda: service.project_report(project, now))))
        print(f"  cProfile project_report ({backend}), top 15 by own time:")
        print(_indent(profile_top(lambda: service.project_report(project, now), sort="tottime")))
        print(f"  cProfile team_report ({backend}), top 15 by cumulative time:")
        print(_indent(profile_top(lambda: service.team_report(now))))
        print(f"  cProfile team_report ({backend}), top 15 by own time:")
        print(_indent(profile_top(lambda: service.team_report(now), sort="tottime")))
    return Result(backend, project_timing, month_timing, cold_project, cold_month, pq, mq, pq1, mq1)


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.splitlines())


def summary(results: list[Result]) -> None:
    heading("targets")
    for r in results:
        print(
            f"  [{r.backend}] one project p99 {ms(r.project.p99)} (target < {ms(PROJECT_P99_TARGET)}): "
            f"{verdict(r.project.p99 < PROJECT_P99_TARGET)}"
        )
        print(
            f"  [{r.backend}] all projects p99 {ms(r.month.p99)} (target < {ms(MONTH_P99_TARGET)}): "
            f"{verdict(r.month.p99 < MONTH_P99_TARGET)}   (p50 {ms(r.month.p50)})"
        )
        print(
            f"  [{r.backend}] first report after a poll: one project p99 {ms(r.cold_project.p99)} "
            f"({verdict(r.cold_project.p99 < PROJECT_P99_TARGET)}), all projects p99 "
            f"{ms(r.cold_month.p99)} ({verdict(r.cold_month.p99 < MONTH_P99_TARGET)})"
        )
        constant = r.project_queries == r.project_queries_1m and r.month_queries == r.month_queries_1m
        print(
            f"  [{r.backend}] constant query count: project {r.project_queries_1m}->{r.project_queries}, "
            f"month {r.month_queries_1m}->{r.month_queries}: {verdict(constant)}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--models", type=int, default=20, help="rows per project per day (half per provider)")
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--unconfigured", type=int, default=10, help="extra refs no project claims")
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--budget", type=float, default=90.0, help="max seconds per timing loop")
    parser.add_argument("--project", default="team-007")
    parser.add_argument("--pg-url", default=PG_URL)
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached SQLite store")
    parser.add_argument("--profile", action="store_true", help="breakdown + cProfile even on PASS")
    parser.add_argument("--no-cprofile", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--quick", action="store_true", help="30 projects x 10 models x 60 days, 10 runs")
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.models, args.days, args.unconfigured = 30, 10, 60, 3
        args.runs = min(args.runs, 10)

    sizes = ReportSizes(args.projects, args.models, args.days, args.unconfigured)
    sizes_1m = replace(sizes, days=31)
    config = report_config(sizes)
    heading(
        f"report store: {sizes.projects} projects x {sizes.models} models/day "
        f"({sizes.openai_items} OpenAI line items + {sizes.router_models} OpenRouter routes), "
        f"{sizes.days} days, now={REPORT_NOW.isoformat()}"
    )
    results: list[Result] = []

    if not args.no_sqlite:
        (url, built), t_build = timed(lambda: cached_sqlite_store(sizes, rebuild=args.rebuild))
        (url_1m, _), _ = timed(lambda: cached_sqlite_store(sizes_1m, rebuild=args.rebuild))
        if built:
            print(f"  built SQLite store in {t_build:.1f}s: {built} ({sum(built.values()):,} rows)")
        else:
            print(f"  reusing cached SQLite store {url.removeprefix('sqlite:///')}")
        heading("SQLite")
        engine, engine_1m = make_engine(url), make_engine(url_1m)
        results.append(measure("sqlite", engine, engine_1m, config, args))
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
                counts, t_build = timed(lambda: build_report_store(engine, sizes))
                build_report_store(engine_1m, sizes_1m)
                print(f"  built PostgreSQL store in {t_build:.1f}s ({sum(counts.values()):,} rows)")
                results.append(measure("postgresql", engine, engine_1m, config, args))
                engine.dispose()
                engine_1m.dispose()

    summary(results)
    print("\n  (percentiles interpolate linearly; with n < 100 runs p99 is close to the max)")


if __name__ == "__main__":
    main()
