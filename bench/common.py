"""Shared helpers for the benchmarks: timing, percentiles, memory, SQL counting, stores.

Nothing here asserts: benchmarks print figures and a PASS/MISS verdict against their targets.
"""

from __future__ import annotations

import cProfile
import hashlib
import io
import math
import os
import pstats
import re
import resource
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, event, insert, text
from sqlalchemy.engine import Connection
from sqlmodel import Session
from tests.pg import pg_problem as pg_problem
from tests.pg import pg_schema as pg_schema

from aispend.config import Config, parse_config
from aispend.store import writes
from aispend.store.engine import make_engine, migrate
from aispend.store.models import (
    IngestMark,
    OpenAICostDaily,
    OpenAIKeyName,
    OpenAIProjectName,
    OpenRouterActivityDaily,
    OpenRouterKeyDay,
    OpenRouterKeyState,
    PollRun,
    table_of,
)

T = TypeVar("T")

RESULTS = Path(__file__).resolve().parent / "results"
PG_URL = os.environ.get("AISPEND_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


# ------------------------------------------------------------------------------------ printing


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def heading(title: str) -> None:
    print()
    print(f"== {title} " + "=" * max(0, 86 - len(title)))


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


# ------------------------------------------------------------------------------------- timing


def percentile(values: Sequence[float], pct: float) -> float:
    """Linear-interpolated percentile (``pct`` in 0..100) of a non-empty sample."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * pct / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True, slots=True)
class Timing:
    samples: tuple[float, ...]

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples)

    @property
    def worst(self) -> float:
        return max(self.samples)

    def line(self) -> str:
        return (
            f"n={len(self.samples)} p50={ms(self.p50)} p99={ms(self.p99)} "
            f"mean={ms(self.mean)} max={ms(self.worst)}"
        )


def repeat(fn: Callable[[], object], runs: int, *, warmup: int = 1) -> Timing:
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return Timing(tuple(samples))


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def profile_top(fn: Callable[[], object], top: int = 15, sort: str = "cumulative") -> str:
    """Run ``fn`` under cProfile and return the ``top`` entries by ``sort`` as text."""
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        fn()
    finally:
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    lines = out.getvalue().splitlines()
    # Drop pstats' preamble (blank lines, "Ordered by", ...) but keep the header row.
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join(line for line in lines[start:] if line.strip())


# ------------------------------------------------------------------------------------- memory


def _status_mb(field_name: str) -> float | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            found = re.search(rf"^{field_name}:\s+(\d+)\s+kB", status.read(), re.MULTILINE)
    except OSError:
        return None
    return int(found.group(1)) / 1024 if found else None


def rss_mb() -> float:
    """Current resident set size in MiB."""
    current = _status_mb("VmRSS")
    if current is not None:
        return current
    import psutil

    return float(psutil.Process().memory_info().rss) / 2**20


def peak_rss_mb() -> float:
    """Peak RSS in MiB since process start or the last :func:`reset_peak_rss`."""
    peak = _status_mb("VmHWM")
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux ≥ 4.0); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


# ---------------------------------------------------------------------------------- SQL count


@dataclass
class QueryCounter:
    """Counts statements sent to the database (an ``executemany`` counts once)."""

    statements: list[str] = field(default_factory=list)
    parameters: list[Any] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()
        self.parameters.clear()

    def replay(self, engine: Engine) -> list[tuple[str, float, int]]:
        """Re-run each captured (non-executemany) statement on the raw DBAPI cursor with
        ``fetchall``: the database + driver time alone, without SQLAlchemy or aispend objects.
        Returns (statement, seconds, rows)."""
        out: list[tuple[str, float, int]] = []
        raw = engine.raw_connection()
        try:
            for statement, params in zip(self.statements, self.parameters, strict=True):
                if params is None:
                    continue
                cursor = raw.cursor()
                start = time.perf_counter()
                cursor.execute(statement, params)
                rows = cursor.fetchall() if cursor.description is not None else []
                out.append((statement, time.perf_counter() - start, len(rows)))
                cursor.close()
            raw.rollback()
        finally:
            raw.close()
        return out

    def _on_execute(
        self,
        conn: Connection,
        cursor: Any,
        statement: str,
        parameters: Any,
        context: Any,
        executemany: bool,
    ) -> None:
        if not executemany:
            self.statements.append(statement)
            self.parameters.append(parameters)
        else:
            self.statements.append(statement)
            self.parameters.append(None)

    @contextmanager
    def attached(self, engine: Engine) -> Iterator[QueryCounter]:
        event.listen(engine, "before_cursor_execute", self._on_execute)
        try:
            yield self
        finally:
            event.remove(engine, "before_cursor_execute", self._on_execute)

    def summary(self) -> str:
        """One short line per statement (first words of each)."""
        return "\n".join(f"    {' '.join(s.split())[:150]}" for s in self.statements)


# --------------------------------------------------------------------------------- PostgreSQL


def fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


# ------------------------------------------------------------------------- report store (synthetic)

# A fixed "now" keeps cached stores valid forever: month-to-date is 27 UTC days of November.
REPORT_NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

_OPENAI_MODELS = (
    "gpt-4o-2024-08-06",
    "gpt-4o-mini-2024-07-18",
    "o3-2025-04-16",
    "gpt-4.1-2025-04-14",
    "gpt-4.1-mini-2025-04-14",
    "o4-mini-2025-04-16",
    "gpt-5-2025-08-07",
    "gpt-5-mini-2025-08-07",
    "text-embedding-3-small",
    "text-embedding-3-large",
)
_ROUTER_MODELS = (
    ("openai/gpt-4.1", "OpenAI"),
    ("anthropic/claude-sonnet-4", "Anthropic"),
    ("anthropic/claude-sonnet-4", "Google Vertex"),
    ("google/gemini-2.5-flash", "Google AI Studio"),
    ("google/gemini-2.5-pro", "Google Vertex"),
    ("meta-llama/llama-3.3-70b-instruct", "Together"),
    ("meta-llama/llama-3.3-70b-instruct", "DeepInfra"),
    ("deepseek/deepseek-r1", "DeepInfra"),
    ("qwen/qwen3-235b-a22b", "Fireworks"),
    ("mistralai/mistral-large", "Mistral"),
    ("x-ai/grok-4", "xAI"),
    ("openai/gpt-4o-mini", "Azure"),
)


def _b62(*parts: object, length: int = 24) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    number = int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest(), 16)
    out = []
    for _ in range(length):
        number, rest = divmod(number, 62)
        out.append(alphabet[rest])
    return "".join(out)


def _line_items(n: int) -> list[tuple[str, str]]:
    """``n`` (line item, model) pairs in OpenAI's style (3 per chat model, 1 per embedding)."""
    items: list[tuple[str, str]] = []
    for model in _OPENAI_MODELS:
        parts = ("input",) if "embedding" in model else ("input", "cached input", "output")
        items.extend((f"{model}, {part}", model) for part in parts)
    while len(items) < n:  # more than the catalogue: invent batch line items
        k = len(items)
        items.append((f"batch | {_OPENAI_MODELS[k % 8]}, input #{k}", _OPENAI_MODELS[k % 8]))
    return items[:n]


@dataclass(frozen=True, slots=True)
class ReportSizes:
    projects: int = 300
    models: int = 20  # per project per day, split between the providers
    days: int = 365
    unconfigured: int = 10  # extra OpenAI projects / OpenRouter keys no config entry claims

    @property
    def openai_items(self) -> int:
        return self.models - self.models // 2

    @property
    def router_models(self) -> int:
        return self.models // 2

    @property
    def tag(self) -> str:
        return f"p{self.projects}-m{self.models}-d{self.days}-u{self.unconfigured}-v2"


@dataclass(frozen=True, slots=True)
class _Project:
    name: str
    openai_project: str
    openai_keys: tuple[str, ...]
    router_keys: tuple[str, ...]
    configured: bool


def _projects(sizes: ReportSizes) -> list[_Project]:
    out: list[_Project] = []
    for i in range(sizes.projects + sizes.unconfigured):
        configured = i < sizes.projects
        name = f"team-{i:03d}" if configured else f"stray-{i:03d}"
        n_keys = 2 + i % 2
        out.append(
            _Project(
                name=name,
                openai_project=f"proj_{_b62('proj', name)}",
                openai_keys=tuple(f"key_{_b62('key', name, k)}" for k in range(n_keys)),
                router_keys=tuple(
                    hashlib.sha256(f"or|{name}|{k}".encode()).hexdigest() for k in range(1 + i % 2)
                ),
                configured=configured,
            )
        )
    return out


def report_config(sizes: ReportSizes) -> Config:
    """A config of ``sizes.projects`` projects claiming the synthetic store's refs.

    The matcher mix is realistic: most projects list their OpenAI project id, a third name it
    instead, every fifth also claims one key of its neighbour by id (key beats project), and
    OpenRouter keys are listed by hash or by name.
    """
    projects = [p for p in _projects(sizes) if p.configured]
    entries: list[dict[str, Any]] = []
    for i, project in enumerate(projects):
        entry: dict[str, Any] = {
            "name": project.name,
            "owner": f"U{i:06d}",
            "monthly_budget_usd": str(1000 + 50 * (i % 40)),
            "openai_projects": [project.name if i % 3 == 1 else project.openai_project],
            "openrouter_keys": [
                (f"{project.name}-or-{k}" if i % 2 else h) for k, h in enumerate(project.router_keys)
            ],
        }
        if i % 5 == 4:
            entry["openai_api_keys"] = [projects[i - 1].openai_keys[-1]]
        if i % 7 == 6:
            entry["visibility"] = "owner"
        entries.append(entry)
    return parse_config({"projects": entries, "admins": ["U000000"]}, source="bench")


def _amount(*parts: object) -> int:
    """A deterministic, realistic nano-dollar amount (0.01 .. ~40 USD)."""
    h = int(hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=6).hexdigest(), 16)
    return 10_000_000 + h % 40_000_000_000


def _insert_batches(conn: Connection, table: Any, rows: Iterator[dict[str, Any]], batch: int = 20_000) -> int:
    total = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            conn.execute(insert(table), chunk)
            total += len(chunk)
            chunk = []
    if chunk:
        conn.execute(insert(table), chunk)
        total += len(chunk)
    return total


def build_report_store(engine: Engine, sizes: ReportSizes, now: datetime = REPORT_NOW) -> dict[str, int]:
    """Fill a migrated, empty store with ``sizes.days`` days of history ending today.

    OpenAI: one cost row per project × line item × day; half the line items are keyed by the
    project's API keys (round robin), half only by project (``api_key_id=''``), plus an org-level
    Scale Tier row a day (no project: unattributed). OpenRouter: one activity row per key-route
    per day through yesterday (``/activity`` never covers today), and a ``/keys`` reading per key
    per day (``openrouter_key_day``) including today. Returns rows per table.
    """
    today = now.date()
    first = today - timedelta(days=sizes.days - 1)
    projects = _projects(sizes)
    items = _line_items(sizes.openai_items)
    routes = [_ROUTER_MODELS[k % len(_ROUTER_MODELS)] for k in range(sizes.router_models)]
    days = [first + timedelta(days=d) for d in range(sizes.days)]
    taken = now.replace(tzinfo=None)
    counts: dict[str, int] = {}

    def cost_rows() -> Iterator[dict[str, Any]]:
        for day in days:
            ordinal = day.toordinal()
            yield {
                "day": day,
                "project_id": "",
                "api_key_id": "",
                "line_item": "scale tier | gpt-4o-2024-08-06, reserved units",
                "model": "gpt-4o-2024-08-06",
                "amount_nanos": 48_387_096_774,
            }
            for p_index, project in enumerate(projects):
                for k, (item, model) in enumerate(items):
                    keyed = k % 2 == 0
                    key = project.openai_keys[(k // 2) % len(project.openai_keys)] if keyed else ""
                    yield {
                        "day": day,
                        "project_id": project.openai_project,
                        "api_key_id": key,
                        "line_item": item,
                        "model": model,
                        "amount_nanos": _amount(ordinal, p_index, k) // (3 if keyed else 5),
                    }

    def activity_rows() -> Iterator[dict[str, Any]]:
        for day in days:
            if day >= today:
                continue
            ordinal = day.toordinal()
            for p_index, project in enumerate(projects):
                for k, (model, provider) in enumerate(routes):
                    key = project.router_keys[k % len(project.router_keys)]
                    usage = _amount("or", ordinal, p_index, k) // 4
                    yield {
                        "day": day,
                        "key_hash": key,
                        "model": model,
                        "provider_name": provider,
                        "usage_nanos": usage,
                        "byok_usage_nanos": 0,
                        "requests": 10 + usage // 5_000_000,
                        "prompt_tokens": usage // 1000,
                        "completion_tokens": usage // 5000,
                        "reasoning_tokens": 0,
                    }

    def key_day_rows() -> Iterator[dict[str, Any]]:
        for day in days:
            for p_index, project in enumerate(projects):
                for h in project.router_keys:
                    yield {
                        "day": day,
                        "key_hash": h,
                        "usage_daily_nanos": _amount("kd", day.toordinal(), p_index) // 2,
                        "taken_at": datetime(day.year, day.month, day.day, 23, 50)
                        if day < today
                        else taken - timedelta(minutes=5),
                    }

    with engine.begin() as conn:
        counts["openai_project"] = _insert_batches(
            conn,
            table_of(OpenAIProjectName),
            iter(
                [
                    {"id": p.openai_project, "name": p.name, "status": "active", "updated_at": taken}
                    for p in projects
                ]
            ),
        )
        counts["openai_api_key"] = _insert_batches(
            conn,
            table_of(OpenAIKeyName),
            iter(
                [
                    {
                        "id": key,
                        "project_id": p.openai_project,
                        "name": f"{p.name}-key-{k}",
                        "updated_at": taken,
                    }
                    for p in projects
                    for k, key in enumerate(p.openai_keys)
                ]
            ),
        )
        counts["openrouter_key"] = _insert_batches(
            conn,
            table_of(OpenRouterKeyState),
            iter(
                [
                    {
                        "hash": h,
                        "name": f"{p.name}-or-{k}",
                        "label": f"sk-or-v1-{h[:3]}...{h[-3:]}",
                        "disabled": False,
                        "limit_nanos": None,
                        "limit_remaining_nanos": None,
                        "limit_reset": None,
                        "usage_nanos": 10**13,
                        "usage_daily_nanos": 10**9,
                        "usage_weekly_nanos": 10**10,
                        "usage_monthly_nanos": 10**11,
                        "byok_usage_nanos": 0,
                        "updated_at": taken,
                    }
                    for p in projects
                    for k, h in enumerate(p.router_keys)
                ]
            ),
        )
        counts["poll_run"] = _insert_batches(
            conn,
            table_of(PollRun),
            iter(
                [
                    {
                        "provider": provider,
                        "endpoint": endpoint,
                        "started_at": taken - timedelta(minutes=5),
                        "finished_at": taken - timedelta(minutes=4),
                        "status": "ok",
                        "detail": "by project, line item and API key" if endpoint == "costs" else None,
                        "key_level_costs": True if endpoint == "costs" else None,
                        "rows_inserted": 0,
                        "rows_updated": 0,
                        "rows_deleted": 0,
                    }
                    for provider, endpoint in (
                        ("openai", "projects"),
                        ("openai", "costs"),
                        ("openai", "usage/completions"),
                        ("openai", "usage/embeddings"),
                        ("openrouter", "credits"),
                        ("openrouter", "keys"),
                        ("openrouter", "activity"),
                    )
                ]
            ),
        )
        counts["openai_cost_daily"] = _insert_batches(conn, table_of(OpenAICostDaily), cost_rows())
        counts["openrouter_activity_daily"] = _insert_batches(
            conn, table_of(OpenRouterActivityDaily), activity_rows()
        )
        counts["openrouter_key_day"] = _insert_batches(conn, table_of(OpenRouterKeyDay), key_day_rows())
        # What a daily poll leaves behind: /activity fetched today for every key.
        counts["ingest_mark"] = _insert_batches(
            conn,
            table_of(IngestMark),
            iter(
                [
                    {"name": f"openrouter.activity.{h}", "value": today.isoformat(), "updated_at": taken}
                    for p in projects
                    for h in p.router_keys
                ]
            ),
        )
    with Session(engine) as session:  # the rollups ingest keeps, built once for the bulk load
        writes.rebuild_rollups(session)
        session.commit()
    if engine.dialect.name == "postgresql":  # autovacuum would analyze a table this size soon anyway
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE"))
    # SQLite: no ANALYZE, since aispend never runs one; plans are what a deployment would get.
    return counts


def cached_sqlite_store(sizes: ReportSizes, *, rebuild: bool = False) -> tuple[str, dict[str, int] | None]:
    """URL of the cached SQLite report store for ``sizes`` (built on first use).

    Returns the URL and the per-table row counts when it was built now (None when reused).
    """
    path = RESULTS / f"report-{sizes.tag}.db"
    done = path.with_suffix(".ok")
    if path.exists() and done.exists() and not rebuild:
        return f"sqlite:///{path}", None
    done.unlink(missing_ok=True)
    url = fresh_sqlite(path)
    engine = make_engine(url)
    migrate(engine)
    counts = build_report_store(engine, sizes)
    with engine.connect() as conn:  # fold the WAL in so the cached file stands alone
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    done.write_text(repr(counts), encoding="utf-8")
    return url, counts


def table_counts(engine: Engine, tables: Sequence[str]) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in tables}


def open_migrated(url: str) -> Engine:
    engine = make_engine(url)
    migrate(engine)
    return engine


def month_first(day: date) -> date:
    return day.replace(day=1)
