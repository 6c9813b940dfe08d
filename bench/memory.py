"""Memory over time in service: RSS of a ``SpendService`` through many poll generations.

Each simulated poll adds a poll run (a new store generation, as every real poll does) and
rewrites today's OpenAI costs; between polls the questions Slack asks are answered: the
team-wide month and a handful of projects, twice each (the second from the cache). The figure
is the RSS after poll 10 and after the last poll; the target (issue "runs for months") is that
it stays within 10 %.

    .venv/bin/python -m bench.memory            # 300 projects, 1,000 polls
    .venv/bin/python -m bench.memory --quick    # 30 projects, 100 polls
"""

from __future__ import annotations

import argparse
import gc
import tempfile
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine, select

from aispend.records import PollStatus
from aispend.service import SpendService
from aispend.store.engine import make_engine, migrate, session_scope
from aispend.store.models import OpenAICostDaily, PollRun, table_of
from bench.common import REPORT_NOW, ReportSizes, build_report_store, heading, report_config, rss_mb, verdict


def _poll(engine: Engine, generation: int) -> None:
    """What a poll leaves behind that matters to the cache: today's rows rewritten, a new run."""
    costs = table_of(OpenAICostDaily)
    at = REPORT_NOW + timedelta(seconds=generation)
    with session_scope(engine) as session:
        session.execute(
            costs.update()
            .where(costs.c.day == REPORT_NOW.date())
            .values(amount_nanos=costs.c.amount_nanos + 1)
        )
        session.add(PollRun(provider="openai", endpoint="costs", started_at=at, status=PollStatus.OK))


def run(engine: Engine, sizes: ReportSizes, polls: int, asked: int) -> tuple[dict[int, float], int]:
    config = report_config(sizes)
    service = SpendService(engine, config, providers=("openai", "openrouter"))
    names = [project.name for project in config.projects][:asked]
    rss: dict[int, float] = {}
    for generation in range(1, polls + 1):
        _poll(engine, generation)
        now = REPORT_NOW + timedelta(seconds=generation)
        for _ in range(2):
            service.team_report(now)
            for name in names:
                service.project_report(name, now)
        if generation in (1, 10) or generation % max(1, polls // 10) == 0 or generation == polls:
            gc.collect()
            rss[generation] = rss_mb()
    return rss, service.cached_reports()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--polls", type=int, default=1000)
    parser.add_argument("--asked", type=int, default=5, help="projects asked about between polls")
    parser.add_argument("--quick", action="store_true", help="30 projects, 100 polls")
    args = parser.parse_args(argv)
    if args.quick:
        args.projects, args.polls = 30, 100
    sizes = ReportSizes(args.projects, models=10, days=31, unconfigured=3)
    with tempfile.TemporaryDirectory() as folder:
        engine = make_engine(f"sqlite:///{Path(folder) / 'memory.db'}")
        migrate(engine)
        build_report_store(engine, sizes)
        with session_scope(engine) as session:
            rows = len(session.execute(select(table_of(OpenAICostDaily).c.id)).all())
        heading(f"memory: {args.projects} projects ({rows:,} cost rows), {args.polls} polls, SQLite")
        rss, cached = run(engine, sizes, args.polls, args.asked)
        engine.dispose()
    for generation, mb in rss.items():
        print(f"  after poll {generation:>5}: RSS {mb:7.1f} MiB")
    first, last = rss[10] if 10 in rss else rss[1], rss[args.polls]
    growth = (last - first) / first * 100
    print(f"  reports cached after the last poll: {cached} (team month + {args.asked} projects asked)")
    print(
        f"  RSS poll 10 -> {args.polls}: {first:.1f} -> {last:.1f} MiB ({growth:+.1f} %), "
        f"target within ±10 %: {verdict(abs(growth) <= 10)}"
    )


if __name__ == "__main__":
    main()
