"""Idempotent writes.

Every provider answer covers a *window* (a range of UTC days, for one endpoint or one key). The
answer is the truth for that window, so we replace the window: rows new to the store are
inserted, changed rows updated in place, rows the provider no longer reports deleted, unchanged
rows left alone. Re-polling any window therefore never double-counts, and late corrections
replace earlier values. The diff is computed from one indexed read of the window and applied
with executemany batches, which keeps a 60-day backfill close to a bare bulk insert.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    delete,
    func,
    insert,
    literal,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from aispend.clock import month_start, next_month
from aispend.money import to_nanos
from aispend.records import (
    OpenAIApiKey,
    OpenAICost,
    OpenAIProject,
    OpenAIUsage,
    OpenRouterActivity,
    OpenRouterCredits,
    OpenRouterKey,
    OpenRouterWorkspace,
)
from aispend.store.models import (
    IngestMark,
    OpenAICostDaily,
    OpenAIKeyName,
    OpenAIProjectName,
    OpenAIUsageDaily,
    OpenRouterActivityDaily,
    OpenRouterCreditSnapshot,
    OpenRouterKeyDay,
    OpenRouterKeySnapshot,
    OpenRouterKeyState,
    OpenRouterWorkspaceName,
    SpendDay,
    SpendMonth,
    table_of,
)


@dataclass(frozen=True, slots=True)
class WriteCount:
    inserted: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0

    def __add__(self, other: WriteCount) -> WriteCount:
        return WriteCount(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.deleted + other.deleted,
            self.unchanged + other.unchanged,
        )


def _merge(
    rows: Iterable[dict[str, Any]], keys: Sequence[str], sums: Sequence[str]
) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Index rows by natural key, summing the measures of rows that share one (providers may
    split a natural key across results, e.g. one OpenRouter model served by two endpoints)."""
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[name] for name in keys)
        seen = merged.get(key)
        if seen is None:
            merged[key] = row  # rows are fresh dicts from the caller's generator
        else:
            for name in sums:
                seen[name] += row[name]
    return merged


def replace_window(
    session: Session,
    model: Any,
    window: ColumnElement[bool],
    rows: Iterable[dict[str, Any]],
    keys: Sequence[str],
    measures: Sequence[str],
) -> WriteCount:
    """Make the rows matching ``window`` equal to ``rows`` (natural key ``keys``)."""
    table = table_of(model)
    incoming = _merge(rows, keys, measures)
    columns = [table.c.id, *(table.c[name] for name in keys), *(table.c[name] for name in measures)]
    existing: dict[tuple[Any, ...], tuple[int, tuple[Any, ...]]] = {}
    for found_row in session.execute(select(*columns).where(window)):
        existing[tuple(found_row[1 : 1 + len(keys)])] = (found_row[0], tuple(found_row[1 + len(keys) :]))

    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    unchanged = 0
    for key, row in incoming.items():
        found = existing.pop(key, None)
        if found is None:
            inserts.append(row)
            continue
        row_id, values = found
        if values == tuple(row[name] for name in measures):
            unchanged += 1
        else:
            updates.append({"_id": row_id, **{f"_{name}": row[name] for name in measures}})
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        stmt = (
            update(table)
            .where(table.c.id == bindparam("_id"))
            .values({name: bindparam(f"_{name}") for name in measures})
        )
        session.connection().execute(stmt, updates)
    if existing:
        stale = [row_id for row_id, _ in existing.values()]
        for start in range(0, len(stale), 500):
            session.execute(delete(table).where(table.c.id.in_(stale[start : start + 500])))
    return WriteCount(len(inserts), len(updates), len(existing), unchanged)


def _days(model: Any, start: date, end: date) -> ColumnElement[bool]:
    table = table_of(model)
    return and_(table.c.day >= start, table.c.day < end)


@lru_cache(maxsize=4096)
def model_from_line_item(line_item: str | None) -> str:
    """Best-effort model name from an OpenAI cost line item (``"gpt-4o-2024-08-06, input"``).

    Line items are free text; we only strip a trailing ``", input"``-style part and a product
    prefix (``"evals | …"``). The line item itself is kept verbatim for the detail view.
    """
    if not line_item:
        return ""
    text = line_item.split(" | ")[-1]
    head, sep, _tail = text.rpartition(",")
    return (head if sep else text).strip()


R = TypeVar("R", OpenAICost, OpenAIUsage)
CHUNK_DAYS = 7


def _day_chunks(rows: Iterable[R], start: date, end: date) -> Iterator[tuple[date, date, list[R]]]:
    """Split a window into week-long sub-windows with their rows.

    Replacing a big window (a 60-day backfill of a large org is ~250k rows) in one diff would hold
    every row's payload, the stored window and the statement parameters at once; week by week
    the same result needs a fraction of the memory. Sub-windows tile the window exactly, so the
    replace semantics (insert, update, delete what is gone) are unchanged.
    """
    by_day: dict[date, list[R]] = {}
    for row in rows:
        if start <= row.day < end:
            by_day.setdefault(row.day, []).append(row)
    chunk_start = start
    while chunk_start < end:
        chunk_end = min(end, chunk_start + timedelta(days=CHUNK_DAYS))
        chunk = [
            row for day in sorted(d for d in by_day if chunk_start <= d < chunk_end) for row in by_day[day]
        ]
        yield chunk_start, chunk_end, chunk
        chunk_start = chunk_end


def replace_openai_costs(session: Session, start: date, end: date, rows: Iterable[OpenAICost]) -> WriteCount:
    count = WriteCount()
    for chunk_start, chunk_end, chunk in _day_chunks(rows, start, end):
        payload = (
            {
                "day": row.day,
                "project_id": row.project_id or "",
                "api_key_id": row.api_key_id or "",
                "line_item": row.line_item or "",
                "model": model_from_line_item(row.line_item),
                "amount_nanos": to_nanos(row.amount),
            }
            for row in chunk
        )
        count += replace_window(
            session,
            OpenAICostDaily,
            _days(OpenAICostDaily, chunk_start, chunk_end),
            payload,
            keys=("day", "project_id", "api_key_id", "line_item"),
            measures=("amount_nanos",),
        )
    if count.inserted or count.updated or count.deleted:
        refresh_openai_rollups(session, start, end)
    return count


def replace_openai_usage(
    session: Session, endpoint: str, start: date, end: date, rows: Iterable[OpenAIUsage]
) -> WriteCount:
    table = table_of(OpenAIUsageDaily)
    count = WriteCount()
    for chunk_start, chunk_end, chunk in _day_chunks(rows, start, end):
        payload = (
            {
                "day": row.day,
                "endpoint": endpoint,
                "project_id": row.project_id or "",
                "api_key_id": row.api_key_id or "",
                "model": row.model or "",
                "batch": "" if row.batch is None else ("true" if row.batch else "false"),
                "service_tier": row.service_tier or "",
                "input_tokens": row.input_tokens,
                "cached_tokens": row.cached_tokens,
                "output_tokens": row.output_tokens,
                "requests": row.requests,
            }
            for row in chunk
        )
        count += replace_window(
            session,
            OpenAIUsageDaily,
            and_(_days(OpenAIUsageDaily, chunk_start, chunk_end), table.c.endpoint == endpoint),
            payload,
            keys=("day", "endpoint", "project_id", "api_key_id", "model", "batch", "service_tier"),
            measures=("input_tokens", "cached_tokens", "output_tokens", "requests"),
        )
    return count


def replace_openrouter_activity(
    session: Session, key_hash: str, start: date, end: date, rows: Iterable[OpenRouterActivity]
) -> WriteCount:
    table = table_of(OpenRouterActivityDaily)
    payload = (
        {
            "day": row.day,
            "key_hash": key_hash,
            "model": row.model,
            "provider_name": row.provider_name,
            "usage_nanos": to_nanos(row.usage),
            "byok_usage_nanos": to_nanos(row.byok_usage),
            "requests": row.requests,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
            "reasoning_tokens": row.reasoning_tokens,
        }
        for row in rows
        if start <= row.day < end
    )
    count = replace_window(
        session,
        OpenRouterActivityDaily,
        and_(_days(OpenRouterActivityDaily, start, end), table.c.key_hash == key_hash),
        payload,
        keys=("day", "key_hash", "model", "provider_name"),
        measures=(
            "usage_nanos",
            "byok_usage_nanos",
            "requests",
            "prompt_tokens",
            "completion_tokens",
            "reasoning_tokens",
        ),
    )
    if count.inserted or count.updated or count.deleted:
        refresh_openrouter_rollups(session, key_hash, start, end)
    return count


# ------------------------------------------------------------------------------------ rollups


def _months(start: date, end: date) -> list[date]:
    """First days of the UTC months that ``[start, end)`` touches."""
    months: list[date] = []
    month = month_start(start)
    while month < end:
        months.append(month)
        month = next_month(month)
    return months


def refresh_openai_rollups(session: Session, start: date, end: date) -> None:
    """Recompute ``spend_day`` for ``[start, end)`` and ``spend_month`` for the months it touches.

    Done in SQL (``INSERT … SELECT … GROUP BY``), inside the caller's transaction, so the rollups
    can never disagree with the daily rows they sum.
    """
    raw = table_of(OpenAICostDaily).c
    day_table = table_of(SpendDay)
    session.execute(
        delete(day_table).where(
            day_table.c.provider == "openai", day_table.c.day >= start, day_table.c.day < end
        )
    )
    session.execute(
        insert(day_table).from_select(
            ["provider", "day", "project_ref", "key_ref", "amount_nanos"],
            select(literal("openai"), raw.day, raw.project_id, raw.api_key_id, func.sum(raw.amount_nanos))
            .where(raw.day >= start, raw.day < end)
            .group_by(raw.day, raw.project_id, raw.api_key_id),
        )
    )
    month_table = table_of(SpendMonth)
    for month in _months(start, end):
        session.execute(
            delete(month_table).where(month_table.c.provider == "openai", month_table.c.month == month)
        )
        session.execute(
            insert(month_table).from_select(
                ["provider", "month", "project_ref", "key_ref", "model", "detail", "amount_nanos"],
                select(
                    literal("openai"),
                    literal(month),
                    raw.project_id,
                    raw.api_key_id,
                    raw.model,
                    raw.line_item,
                    func.sum(raw.amount_nanos),
                )
                .where(raw.day >= month, raw.day < next_month(month))
                .group_by(raw.project_id, raw.api_key_id, raw.model, raw.line_item),
            )
        )


def refresh_openrouter_rollups(session: Session, key_hash: str | None, start: date, end: date) -> None:
    """The same for one OpenRouter key (``/activity`` is fetched and written per key), or for
    every key with ``key_hash=None``."""
    raw = table_of(OpenRouterActivityDaily).c
    day_table = table_of(SpendDay)
    month_table = table_of(SpendMonth)
    raw_key = raw.key_hash == key_hash if key_hash is not None else true()
    day_key = day_table.c.key_ref == key_hash if key_hash is not None else true()
    month_key = month_table.c.key_ref == key_hash if key_hash is not None else true()
    session.execute(
        delete(day_table).where(
            day_table.c.provider == "openrouter", day_key, day_table.c.day >= start, day_table.c.day < end
        )
    )
    session.execute(
        insert(day_table).from_select(
            ["provider", "day", "project_ref", "key_ref", "amount_nanos"],
            select(literal("openrouter"), raw.day, literal(""), raw.key_hash, func.sum(raw.usage_nanos))
            .where(raw_key, raw.day >= start, raw.day < end)
            .group_by(raw.day, raw.key_hash),
        )
    )
    for month in _months(start, end):
        session.execute(
            delete(month_table).where(
                month_table.c.provider == "openrouter", month_table.c.month == month, month_key
            )
        )
        session.execute(
            insert(month_table).from_select(
                [
                    "provider",
                    "month",
                    "project_ref",
                    "key_ref",
                    "model",
                    "detail",
                    "amount_nanos",
                    "requests",
                    "input_tokens",
                    "output_tokens",
                ],
                select(
                    literal("openrouter"),
                    literal(month),
                    literal(""),
                    raw.key_hash,
                    raw.model,
                    raw.provider_name,
                    func.sum(raw.usage_nanos),
                    func.sum(raw.requests),
                    func.sum(raw.prompt_tokens),
                    func.sum(raw.completion_tokens),
                )
                .where(raw_key, raw.day >= month, raw.day < next_month(month))
                .group_by(raw.key_hash, raw.model, raw.provider_name),
            )
        )


def rebuild_rollups(session: Session) -> None:
    """Recompute every rollup from the daily rows (after a bulk load, or to repair)."""
    for model in (OpenAICostDaily, OpenRouterActivityDaily):
        table = table_of(model)
        low, high = session.execute(select(func.min(table.c.day), func.max(table.c.day))).one()
        if low is None or high is None:
            continue
        if model is OpenAICostDaily:
            refresh_openai_rollups(session, low, high + timedelta(days=1))
        else:
            refresh_openrouter_rollups(session, None, low, high + timedelta(days=1))


def _upsert_by_pk(session: Session, model: Any, pk: str, rows: Sequence[dict[str, Any]]) -> WriteCount:
    """Insert or update rows by primary key (names, current key state): nothing is deleted."""
    table = table_of(model)
    if not rows:
        return WriteCount()
    ids = [row[pk] for row in rows]
    columns = [name for name in rows[0] if name not in (pk, "updated_at")]
    existing: dict[Any, tuple[Any, ...]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for found in session.execute(
            select(table.c[pk], *(table.c[name] for name in columns)).where(table.c[pk].in_(chunk))
        ):
            existing[found[0]] = tuple(found[1:])
    inserts = [row for row in rows if row[pk] not in existing]
    updates = [
        {"_pk": row[pk], **{f"_{name}": row[name] for name in (*columns, "updated_at")}}
        for row in rows
        if row[pk] in existing and existing[row[pk]] != tuple(row[name] for name in columns)
    ]
    if inserts:
        session.execute(insert(table), inserts)
    if updates:
        stmt = (
            update(table)
            .where(table.c[pk] == bindparam("_pk"))
            .values({name: bindparam(f"_{name}") for name in (*columns, "updated_at")})
        )
        session.connection().execute(stmt, updates)
    return WriteCount(len(inserts), len(updates), 0, len(rows) - len(inserts) - len(updates))


def upsert_openai_projects(session: Session, projects: Sequence[OpenAIProject], now: datetime) -> WriteCount:
    rows = [{"id": p.id, "name": p.name, "status": p.status, "updated_at": now} for p in projects]
    return _upsert_by_pk(session, OpenAIProjectName, "id", rows)


def upsert_openai_keys(session: Session, keys: Sequence[OpenAIApiKey], now: datetime) -> WriteCount:
    rows = [{"id": k.id, "project_id": k.project_id, "name": k.name, "updated_at": now} for k in keys]
    return _upsert_by_pk(session, OpenAIKeyName, "id", rows)


def _opt_nanos(value: Any) -> int | None:
    return None if value is None else to_nanos(value)


def upsert_openrouter_workspaces(
    session: Session, workspaces: Sequence[OpenRouterWorkspace], now: datetime
) -> WriteCount:
    rows = [{"id": w.id, "name": w.name, "slug": w.slug, "updated_at": now} for w in workspaces]
    return _upsert_by_pk(session, OpenRouterWorkspaceName, "id", rows)


def record_openrouter_keys(session: Session, keys: Sequence[OpenRouterKey], now: datetime) -> WriteCount:
    """Current state (upsert), one history snapshot per key, and the per-day rollup."""
    state = [
        {
            "hash": k.hash,
            "name": k.name,
            "label": k.label,
            "disabled": k.disabled,
            "limit_nanos": _opt_nanos(k.limit),
            "limit_remaining_nanos": _opt_nanos(k.limit_remaining),
            "limit_reset": k.limit_reset,
            "usage_nanos": to_nanos(k.usage),
            "usage_daily_nanos": to_nanos(k.usage_daily),
            "usage_weekly_nanos": to_nanos(k.usage_weekly),
            "usage_monthly_nanos": to_nanos(k.usage_monthly),
            "byok_usage_nanos": to_nanos(k.byok_usage),
            "workspace_id": k.workspace_id,
            "updated_at": now,
        }
        for k in keys
    ]
    count = _upsert_by_pk(session, OpenRouterKeyState, "hash", state)
    if not keys:
        return count
    snap_table = table_of(OpenRouterKeySnapshot)
    session.execute(
        delete(snap_table).where(snap_table.c.taken_at == now)
    )  # a retried poll at the same instant replaces its own snapshot
    session.execute(
        insert(snap_table),
        [
            {
                "taken_at": now,
                "key_hash": row["hash"],
                "limit_nanos": row["limit_nanos"],
                "limit_remaining_nanos": row["limit_remaining_nanos"],
                "usage_nanos": row["usage_nanos"],
                "usage_daily_nanos": row["usage_daily_nanos"],
                "usage_weekly_nanos": row["usage_weekly_nanos"],
                "usage_monthly_nanos": row["usage_monthly_nanos"],
            }
            for row in state
        ],
    )
    day_table = table_of(OpenRouterKeyDay)
    today = now.date()
    hashes = [k.hash for k in keys]
    replace_window(
        session,
        OpenRouterKeyDay,
        and_(day_table.c.day == today, day_table.c.key_hash.in_(hashes)),
        (
            {
                "day": today,
                "key_hash": row["hash"],
                "usage_daily_nanos": row["usage_daily_nanos"],
                "taken_at": now,
            }
            for row in state
        ),
        keys=("day", "key_hash"),
        measures=("usage_daily_nanos", "taken_at"),
    )
    return count


def record_openrouter_credits(session: Session, credits: OpenRouterCredits, now: datetime) -> WriteCount:
    table = table_of(OpenRouterCreditSnapshot)
    deleted = session.execute(delete(table).where(table.c.taken_at == now)).rowcount  # type: ignore[attr-defined]
    session.execute(
        insert(table),
        [
            {
                "taken_at": now,
                "total_credits_nanos": to_nanos(credits.total_credits),
                "total_usage_nanos": to_nanos(credits.total_usage),
            }
        ],
    )
    return WriteCount(inserted=0 if deleted else 1, updated=1 if deleted else 0)


def get_mark(session: Session, name: str) -> str | None:
    found = session.get(IngestMark, name)
    return None if found is None else found.value


def set_mark(session: Session, name: str, value: str, now: datetime) -> None:
    found = session.get(IngestMark, name)
    if found is None:
        session.add(IngestMark(name=name, value=value, updated_at=now))
    else:
        found.value = value
        found.updated_at = now
