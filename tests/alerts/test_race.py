"""Several evaluators on one database post each alert once: threads and separate processes on
PostgreSQL, threads of one process on SQLite (SQLite deployments are one process)."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from aispend.alerts.rules import Evaluation
from aispend.alerts.state import Delivery, Notice, apply_evaluation, deliver
from aispend.store.engine import make_engine
from tests.alerts.factories import NOW, config, flat, inputs, run_rules
from tests.alerts.fakes import RecordingNotifier

EVALUATORS = 6
PROJECTS = 8


def _evaluation() -> Evaluation:
    base = config().projects[0].model_dump()
    projects = [{**base, "name": f"p{i}", "openai_projects": [f"proj_p{i}"]} for i in range(PROJECTS)]
    cfg = config(projects=projects)
    spend = {f"p{i}": flat(20, "51", end=NOW.date()) for i in range(PROJECTS)}  # 80 %, 100 %, pace
    return run_rules(inputs(cfg, daily=spend, balance="10", burn="10"), cfg)


class SlowNotifier(RecordingNotifier):
    """Holds each post a moment, so racing evaluators overlap while one is posting."""

    def send(self, notice: Notice) -> Delivery | None:
        time.sleep(0.01)
        return super().send(notice)


def _race_threads(engines: list[Engine]) -> Counter[str]:
    evaluation = _evaluation()
    notifier = SlowNotifier()
    barrier = threading.Barrier(len(engines))
    errors: list[BaseException] = []

    def run(engine: Engine) -> None:
        try:
            barrier.wait()
            apply_evaluation(engine, evaluation, NOW)
            deliver(engine, notifier, NOW)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return Counter(f"{kind} {key}" for kind, key in notifier.kinds())


def _expected() -> set[str]:
    """Every firing alert's post, except those a higher budget level covers (80 % and the pace
    alert, when 100 % fires in the same evaluation)."""
    return {
        f"post {f.key}"
        for f in _evaluation().firing
        if not (f.key.rule == "budget_pace" or (f.key.rule == "budget_threshold" and f.key.level == "80"))
    }


def test_threads_race_on_one_database(engine: Engine, db_url: str) -> None:
    engines = [make_engine(db_url) for _ in range(EVALUATORS)]
    try:
        posted = _race_threads(engines)
    finally:
        for other in engines:
            other.dispose()
    assert set(posted) == _expected() and len(_expected()) == PROJECTS + 2  # + low credits, runway
    assert max(posted.values()) == 1


def _process(url: str, out: str, barrier: Any) -> None:
    engine = make_engine(url)

    class FileNotifier:
        def send(self, notice: Notice) -> Delivery | None:
            time.sleep(0.01)
            line = json.dumps({"kind": notice.kind, "key": str(notice.alert.key), "pid": os.getpid()}) + "\n"
            with open(out, "a", encoding="utf-8") as handle:  # O_APPEND: one short write per line
                handle.write(line)
            return Delivery("C0ALERTS", f"{os.getpid()}.{notice.alert.id}")

    barrier.wait()
    apply_evaluation(engine, _evaluation(), NOW)
    deliver(engine, FileNotifier(), NOW)
    engine.dispose()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_separate_processes_race_on_postgresql(engine: Engine, db_url: str, tmp_path: Path) -> None:
    out = tmp_path / "posts.jsonl"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(EVALUATORS)
    procs = [ctx.Process(target=_process, args=(db_url, str(out), barrier)) for _ in range(EVALUATORS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [p.exitcode for p in procs] == [0] * EVALUATORS
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    posted = Counter(f"{line['kind']} {line['key']}" for line in lines)
    assert set(posted) == _expected()
    assert max(posted.values()) == 1
