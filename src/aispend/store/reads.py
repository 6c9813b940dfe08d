"""Reads for reports. Each is one indexed range query on a UTC half-open day range
``[start, end)``: no casts on indexed columns and no inclusive-midnight end dates (the two
mistakes that made peers' spend queries slow or wrong)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    ColumnElement,
    MetaData,
    String,
    Table,
    and_,
    case,
    false,
    func,
    literal,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from aispend.clock import ensure_utc
from aispend.money import from_nanos
from aispend.records import CreditSnapshot, OpenRouterActivity, OpenRouterKey, PollStatus, Provider
from aispend.spend.model import Directory, KeyDay, SpendLine, UsageLine
from aispend.store.models import (
    IngestMark,
    OpenAICostDaily,
    OpenAIKeyName,
    OpenAIProjectName,
    OpenAIUsageDaily,
    OpenRouterActivityDaily,
    OpenRouterCreditSnapshot,
    OpenRouterKeyDay,
    OpenRouterKeyState,
    OpenRouterWorkspaceName,
    PollRun,
    SpendDay,
    SpendMonth,
    table_of,
)


@dataclass(frozen=True, slots=True)
class Scope:
    """Which provider refs to read. ``None`` for every matcher of a provider means all its rows;
    an empty collection means none of them."""

    openai_projects: Collection[str] | None = None
    openai_keys: Collection[str] | None = None
    openrouter_keys: Collection[str] | None = None


ALL = Scope()


def key_days(session: Session, start: date, end: date, scope: Scope = ALL) -> list[KeyDay]:
    table = table_of(OpenRouterKeyDay).c
    query = select(table.day, table.key_hash, table.usage_daily_nanos, table.taken_at).where(
        table.day >= start, table.day < end
    )
    if scope.openrouter_keys is not None:
        hashes = list(scope.openrouter_keys)
        if not hashes:
            return []
        query = query.where(table.key_hash.in_(hashes))
    return [
        KeyDay(
            day=row.day,
            key_hash=row.key_hash,
            usage_daily=from_nanos(row.usage_daily_nanos),
            taken_at=row.taken_at,
        )
        for row in session.execute(query).all()
    ]


def credit_snapshots(session: Session, since: datetime) -> list[CreditSnapshot]:
    """Snapshots taken at or after ``since`` plus the newest one before it (for the 24 h rate)."""
    table = table_of(OpenRouterCreditSnapshot).c
    recent = session.execute(
        select(table.taken_at, table.total_credits_nanos, table.total_usage_nanos)
        .where(table.taken_at >= since)
        .order_by(table.taken_at)
    ).all()
    before = session.execute(
        select(table.taken_at, table.total_credits_nanos, table.total_usage_nanos)
        .where(table.taken_at < since)
        .order_by(table.taken_at.desc())
        .limit(1)
    ).all()
    return [
        CreditSnapshot(taken_at=row[0], total_credits=from_nanos(row[1]), total_usage=from_nanos(row[2]))
        for row in [*before, *recent]
    ]


def openrouter_keys(session: Session) -> list[OpenRouterKey]:
    rows = session.execute(select(OpenRouterKeyState)).scalars().all()

    def opt(value: int | None) -> Decimal | None:
        return None if value is None else from_nanos(value)

    return [
        OpenRouterKey(
            hash=row.hash,
            name=row.name,
            label=row.label,
            disabled=row.disabled,
            limit=opt(row.limit_nanos),
            limit_remaining=opt(row.limit_remaining_nanos),
            limit_reset=row.limit_reset,
            usage=from_nanos(row.usage_nanos),
            usage_daily=from_nanos(row.usage_daily_nanos),
            usage_weekly=from_nanos(row.usage_weekly_nanos),
            usage_monthly=from_nanos(row.usage_monthly_nanos),
            byok_usage=from_nanos(row.byok_usage_nanos),
            workspace_id=row.workspace_id,
        )
        for row in rows
    ]


def openrouter_workspaces(session: Session) -> dict[str, str]:
    """Workspace id -> name, as last listed."""
    return {row.id: row.name for row in session.execute(select(OpenRouterWorkspaceName)).scalars()}


def directory(session: Session) -> Directory:
    projects = {row.id: row.name for row in session.execute(select(OpenAIProjectName)).scalars() if row.name}
    keys = {row.id: row.name for row in session.execute(select(OpenAIKeyName)).scalars() if row.name}
    router = table_of(OpenRouterKeyState).c
    rows = session.execute(select(router.hash, router.name, router.workspace_id)).all()
    hashes = {row[0]: row[1] for row in rows if row[1]}
    names = openrouter_workspaces(session)
    spaces = {row[0]: names[row[2]] for row in rows if row[2] in names}
    return Directory(
        openai_projects=projects, openai_keys=keys, openrouter_keys=hashes, openrouter_workspaces=spaces
    )


def latest_runs(session: Session) -> list[PollRun]:
    """The newest run per (provider, endpoint), plus each endpoint's newest successful run."""
    table = table_of(PollRun).c
    newest = select(func.max(table.id)).group_by(table.provider, table.endpoint)
    newest_ok = (
        select(func.max(table.id))
        .where(table.status == PollStatus.OK)
        .group_by(table.provider, table.endpoint)
    )
    ids = [row[0] for row in session.execute(newest)] + [row[0] for row in session.execute(newest_ok)]
    if not ids:
        return []
    runs = session.execute(select(PollRun).where(table.id.in_(ids)).order_by(table.id)).scalars()
    return list(runs)


def unnamed_openai_ids(
    session: Session, project_ids: Collection[str], key_ids: Collection[str]
) -> tuple[set[str], set[str]]:
    """Of these OpenAI project and key ids, the ones with no stored row (primary-key lookups)."""

    def missing(model: Any, ids: Collection[str]) -> set[str]:
        table = table_of(model).c
        wanted = sorted(ids)
        known: set[str] = set()
        for at in range(0, len(wanted), 1000):
            chunk = wanted[at : at + 1000]
            known.update(session.execute(select(table.id).where(table.id.in_(chunk))).scalars())
        return set(wanted) - known

    return missing(OpenAIProjectName, project_ids), missing(OpenAIKeyName, key_ids)


def has_successful_run(session: Session, provider: str, endpoint: str) -> bool:
    table = table_of(PollRun).c
    query = select(table.id).where(
        and_(table.provider == provider, table.endpoint == endpoint, table.status == PollStatus.OK)
    )
    return session.execute(query.limit(1)).first() is not None


# ------------------------------------------------------------------------------------ rollups


def _openai_filter(project_col: Any, key_col: Any, scope: Scope) -> ColumnElement[bool] | None:
    """``None`` for every OpenAI row, else rows whose project or key id is in scope."""
    if scope.openai_projects is None and scope.openai_keys is None:
        return None
    conditions = []
    if scope.openai_projects:
        conditions.append(project_col.in_(list(scope.openai_projects)))
    if scope.openai_keys:
        conditions.append(key_col.in_(list(scope.openai_keys)))
    return or_(*conditions) if conditions else false()


def _openrouter_filter(key_col: Any, scope: Scope) -> ColumnElement[bool] | None:
    """``None`` for every OpenRouter row, else rows whose key hash is in scope."""
    if scope.openrouter_keys is None:
        return None
    return key_col.in_(list(scope.openrouter_keys)) if scope.openrouter_keys else false()


def _rollup_filter(table: Any, scope: Scope) -> ColumnElement[bool] | None:
    """Scope over a rollup holding both providers (``provider`` column).

    When both providers are narrowed to lists (one project's references), the condition is a
    plain ``project_ref IN … OR key_ref IN …``: reference spaces never overlap (OpenAI ``proj_…``
    and ``key_…`` ids, OpenRouter hashes; OpenRouter rows carry no project), and that form lets
    SQLite and PostgreSQL use the ``(project_ref, day)`` and ``(key_ref, day)`` indexes.
    """
    openai_all = scope.openai_projects is None and scope.openai_keys is None
    openrouter_all = scope.openrouter_keys is None
    if openai_all and openrouter_all:
        return None
    if not openai_all and not openrouter_all:
        projects = list(scope.openai_projects or ())
        keys = [*(scope.openai_keys or ()), *(scope.openrouter_keys or ())]
        conditions = []
        if projects:
            conditions.append(table.project_ref.in_(projects))
        if keys:
            conditions.append(table.key_ref.in_(keys))
        return or_(*conditions) if conditions else false()
    openai = _openai_filter(table.project_ref, table.key_ref, scope)
    openrouter = _openrouter_filter(table.key_ref, scope)
    return or_(
        and_(table.provider == "openai", openai if openai is not None else true()),
        and_(table.provider == "openrouter", openrouter if openrouter is not None else true()),
    )


def month_lines(session: Session, month: date, scope: Scope = ALL) -> list[SpendLine]:
    """One line per ``spend_month`` row: money per month and grouping (dated the 1st)."""
    table = table_of(SpendMonth).c
    query = select(
        table.provider,
        table.project_ref,
        table.key_ref,
        table.model,
        table.detail,
        table.amount_nanos,
        table.requests,
        table.input_tokens,
        table.output_tokens,
    ).where(table.month == month)
    condition = _rollup_filter(table, scope)
    if condition is not None:
        query = query.where(condition)
    return [
        SpendLine(
            provider=row[0],
            day=month,
            amount=from_nanos(row[5]),
            project_ref=row[1] or None,
            key_ref=row[2] or None,
            model=row[3] or None,
            billed_item=row[4] or None,
            requests=row[6],
            input_tokens=row[7],
            output_tokens=row[8],
        )
        for row in session.execute(query)
    ]


def day_rows(
    session: Session, start: date, end: date, scope: Scope = ALL
) -> list[tuple[Provider, date, str | None, str | None, int]]:
    """``spend_day`` rows in ``[start, end)`` as plain tuples, amounts in nano-dollars."""
    table = table_of(SpendDay).c
    query = select(table.provider, table.day, table.project_ref, table.key_ref, table.amount_nanos).where(
        table.day >= start, table.day < end
    )
    condition = _rollup_filter(table, scope)
    if condition is not None:
        query = query.where(condition)
    return [(row[0], row[1], row[2] or None, row[3] or None, row[4]) for row in session.execute(query).all()]


RefLabel = tuple[str, str | None, str | None, str]
"""(provider, project ref, key ref, label): which label a rollup reference is summed under."""

# A connection-local scratch table for the reference → label map of one report. A temporary table
# keeps the statements fixed (compiled once and cached, unlike a VALUES list of thousands of
# bound parameters) and gives the join a primary key to probe on SQLite and PostgreSQL alike.
_scratch = MetaData()
REF_LABEL = Table(
    "aispend_ref_label",
    _scratch,
    Column("provider", String(20), primary_key=True),
    Column("project_ref", String(64), primary_key=True),
    Column("key_ref", String(128), primary_key=True),
    Column("label", String(255), nullable=False),
    prefixes=["TEMPORARY"],
)


def labelled_day_totals(
    session: Session, start: date, end: date, labels: Sequence[RefLabel]
) -> dict[str, dict[date, int]]:
    """``spend_day`` summed per label and UTC day in ``[start, end)``, in nano-dollars.

    The caller decides which label (project) each reference belongs to; the database only sums.
    A month of a 300-project team is ~40k day rows but ~8k (label, day) sums, so the reduction
    happens where it is cheap.
    """
    if not labels:
        return {}
    connection = session.connection()
    REF_LABEL.create(connection, checkfirst=True)
    connection.execute(REF_LABEL.delete())
    connection.execute(
        REF_LABEL.insert(),
        [
            {"provider": p, "project_ref": pr or "", "key_ref": k or "", "label": label}
            for p, pr, k, label in labels
        ],
    )
    table = table_of(SpendDay).c
    refs = REF_LABEL.c
    query = (
        select(refs.label, table.day, func.sum(table.amount_nanos))
        .select_from(
            REF_LABEL.join(
                table_of(SpendDay),
                and_(
                    table.provider == refs.provider,
                    table.project_ref == refs.project_ref,
                    table.key_ref == refs.key_ref,
                ),
            )
        )
        .where(table.day >= start, table.day < end)
        .group_by(refs.label, table.day)
    )
    sums: dict[str, dict[date, int]] = {}
    for label, day, nanos in connection.execute(query).all():
        sums.setdefault(label, {})[day] = int(nanos)
    connection.execute(REF_LABEL.delete())
    return sums


def usage_lines(session: Session, start: date, end: date, scope: Scope = ALL) -> list[UsageLine]:
    """Tokens and requests in ``[start, end)`` summed per grouping and model: OpenAI usage rows
    per (project, API key, model), OpenRouter activity per (key, model). Never money."""
    usage = OpenAIUsageDaily.__table__.c  # type: ignore[attr-defined]
    query = (
        select(
            usage.project_id,
            usage.api_key_id,
            usage.model,
            func.sum(usage.requests),
            func.sum(usage.input_tokens),
            func.sum(usage.cached_tokens),
            func.sum(usage.output_tokens),
        )
        .where(usage.day >= start, usage.day < end)
        .group_by(usage.project_id, usage.api_key_id, usage.model)
    )
    condition = _openai_filter(usage.project_id, usage.api_key_id, scope)
    if condition is not None:
        query = query.where(condition)
    lines = [
        UsageLine(
            provider="openai",
            model=row[2] or None,
            requests=int(row[3]),
            input_tokens=int(row[4]),
            cached_input_tokens=int(row[5]),
            output_tokens=int(row[6]),
            project_ref=row[0] or None,
            key_ref=row[1] or None,
        )
        for row in session.execute(query)
    ]
    activity = OpenRouterActivityDaily.__table__.c  # type: ignore[attr-defined]
    or_query = (
        select(
            activity.key_hash,
            activity.model,
            func.sum(activity.requests),
            func.sum(activity.prompt_tokens),
            func.sum(activity.completion_tokens),
            func.sum(activity.reasoning_tokens),
        )
        .where(activity.day >= start, activity.day < end)
        .group_by(activity.key_hash, activity.model)
    )
    or_condition = _openrouter_filter(activity.key_hash, scope)
    if or_condition is not None:
        or_query = or_query.where(or_condition)
    lines.extend(
        UsageLine(
            provider="openrouter",
            model=row[1],
            requests=int(row[2]),
            input_tokens=int(row[3]),
            output_tokens=int(row[4]),
            reasoning_tokens=int(row[5]),
            key_ref=row[0],
        )
        for row in session.execute(or_query)
    )
    return lines


def batch_tokens(session: Session, start: date, end: date, scope: Scope = ALL) -> tuple[int, int]:
    """(tokens through the Batch API, all tokens) of OpenAI completions in ``[start, end)``, over
    the rows fetched with the batch grouping only (older rows do not say)."""
    usage = OpenAIUsageDaily.__table__.c  # type: ignore[attr-defined]
    tokens = usage.input_tokens + usage.output_tokens
    query = select(
        func.coalesce(func.sum(case((usage.batch == "true", tokens), else_=0)), 0),
        func.coalesce(func.sum(tokens), 0),
    ).where(usage.day >= start, usage.day < end, usage.endpoint == "completions", usage.batch != "")
    condition = _openai_filter(usage.project_id, usage.api_key_id, scope)
    if condition is not None:
        query = query.where(condition)
    row = session.execute(query).one()
    return int(row[0]), int(row[1])


def batch_tokens_by_ref(
    session: Session, start: date, end: date
) -> list[tuple[str | None, str | None, int, int]]:
    """:func:`batch_tokens` per (project id, API key id), so the tokens of projects an audience may
    not see can be left out before summing (``spend.visibility``)."""
    usage = OpenAIUsageDaily.__table__.c  # type: ignore[attr-defined]
    tokens = usage.input_tokens + usage.output_tokens
    query = (
        select(
            usage.project_id,
            usage.api_key_id,
            func.coalesce(func.sum(case((usage.batch == "true", tokens), else_=0)), 0),
            func.coalesce(func.sum(tokens), 0),
        )
        .where(usage.day >= start, usage.day < end, usage.endpoint == "completions", usage.batch != "")
        .group_by(usage.project_id, usage.api_key_id)
    )
    return [(row[0] or None, row[1] or None, int(row[2]), int(row[3])) for row in session.execute(query)]


def week_lines(
    session: Session, last_start: date, this_start: date, end: date, scope: Scope = ALL
) -> list[SpendLine]:
    """Money per grouping summed into two weeks, ``[last_start, this_start)`` and
    ``[this_start, end)``; each line is dated its week's first day (what mix and movers need)."""
    lines: list[SpendLine] = []
    costs = table_of(OpenAICostDaily).c
    bucket = case((costs.day >= this_start, 1), else_=0)
    query = (
        select(
            costs.project_id,
            costs.api_key_id,
            costs.model,
            costs.line_item,
            bucket,
            func.sum(costs.amount_nanos),
        )
        .where(costs.day >= last_start, costs.day < end)
        .group_by(costs.project_id, costs.api_key_id, costs.model, costs.line_item, bucket)
    )
    condition = _openai_filter(costs.project_id, costs.api_key_id, scope)
    if condition is not None:
        query = query.where(condition)
    for row in session.execute(query):
        lines.append(
            SpendLine(
                provider="openai",
                day=this_start if row[4] else last_start,
                amount=from_nanos(row[5]),
                project_ref=row[0] or None,
                key_ref=row[1] or None,
                model=row[2] or None,
                billed_item=row[3] or None,
            )
        )
    activity_table = table_of(OpenRouterActivityDaily).c
    or_bucket = case((activity_table.day >= this_start, 1), else_=0)
    or_query = (
        select(
            activity_table.key_hash,
            activity_table.model,
            activity_table.provider_name,
            or_bucket,
            func.sum(activity_table.usage_nanos),
        )
        .where(activity_table.day >= last_start, activity_table.day < end)
        .group_by(activity_table.key_hash, activity_table.model, activity_table.provider_name, or_bucket)
    )
    condition = _openrouter_filter(activity_table.key_hash, scope)
    if condition is not None:
        or_query = or_query.where(condition)
    for or_row in session.execute(or_query):
        lines.append(
            SpendLine(
                provider="openrouter",
                day=this_start if or_row[3] else last_start,
                amount=from_nanos(or_row[4]),
                key_ref=or_row[0],
                model=or_row[1],
                billed_item=or_row[2],
            )
        )
    return lines


def route_totals(session: Session, start: date, end: date) -> list[OpenRouterActivity]:
    """``/activity`` summed per (key, model, provider) over ``[start, end)``, dated ``start``.

    Per key, so that routes can leave out the keys of projects an audience may not see before
    summing across keys (``spend.visibility``).
    """
    table = table_of(OpenRouterActivityDaily).c
    query = (
        select(
            table.key_hash,
            table.model,
            table.provider_name,
            func.sum(table.usage_nanos),
            func.sum(table.byok_usage_nanos),
            func.sum(table.requests),
            func.sum(table.prompt_tokens),
            func.sum(table.completion_tokens),
            func.sum(table.reasoning_tokens),
        )
        .where(table.day >= start, table.day < end)
        .group_by(table.key_hash, table.model, table.provider_name)
    )
    return [
        OpenRouterActivity(
            day=start,
            key_hash=row[0],
            model=row[1],
            provider_name=row[2],
            usage=from_nanos(row[3]),
            byok_usage=from_nanos(row[4]),
            requests=int(row[5]),
            prompt_tokens=int(row[6]),
            completion_tokens=int(row[7]),
            reasoning_tokens=int(row[8]),
        )
        for row in session.execute(query)
    ]


ACTIVITY_MARK = "openrouter.activity."


def activity_through(session: Session, hashes: Collection[str] | None = None) -> dict[str, date]:
    """Per key, the last UTC day ``/activity`` covers: the day before it was last fetched."""
    table = table_of(IngestMark).c
    query = select(table.name, table.value)
    if hashes is None:
        query = query.where(table.name.startswith(ACTIVITY_MARK))
    else:
        if not hashes:
            return {}
        query = query.where(table.name.in_([ACTIVITY_MARK + h for h in hashes]))
    return {
        row[0][len(ACTIVITY_MARK) :]: date.fromisoformat(row[1]) - timedelta(days=1)
        for row in session.execute(query)
    }


def unmarked_keys(session: Session, hashes: Collection[str] | None = None) -> list[str]:
    """Known OpenRouter keys whose ``/activity`` coverage is unknown (never fetched)."""
    key_table = table_of(OpenRouterKeyState)
    mark_table = table_of(IngestMark)
    keys, marks = key_table.c, mark_table.c
    query = (
        select(keys.hash)
        .select_from(key_table.outerjoin(mark_table, marks.name == literal(ACTIVITY_MARK) + keys.hash))
        .where(marks.name.is_(None))
    )
    if hashes is not None:
        if not hashes:
            return []
        query = query.where(keys.hash.in_(list(hashes)))
    return [row[0] for row in session.execute(query).all()]


def generation(session: Session) -> int:
    """Grows with every poll run: a cheap (primary key) test for "has the store changed"."""
    table = table_of(PollRun).c
    return int(session.execute(select(func.coalesce(func.max(table.id), 0))).scalar_one())


def last_poll_at(session: Session) -> datetime | None:
    table = table_of(PollRun).c
    newest = select(func.max(table.id)).scalar_subquery()  # a primary-key lookup on both databases
    row = session.execute(select(table.started_at).where(table.id == newest)).first()
    return None if row is None else ensure_utc(row[0])
