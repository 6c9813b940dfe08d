"""Tables. Money columns are integer nano-dollars (``*_nanos``), exact on SQLite and PostgreSQL.

Grouping fields that a provider may leave null (OpenAI ``project_id``, ``api_key_id``,
``line_item``) are stored as ``''``: SQL unique constraints treat NULLs as distinct, so a null
in a natural key would let a re-poll insert a duplicate instead of replacing the row.
Every natural key has a unique constraint, so every write is an upsert.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Column, Index, Integer, String, Table, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from aispend.records import PollStatus
from aispend.store.types import PollStatusText, UTCDateTime


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, typed: SQLModel declares ``__table__`` only at runtime,
    and bulk reads and writes go through Core for speed."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


def _utc(nullable: bool = False, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


class OpenAICostDaily(SQLModel, table=True):
    __tablename__ = "openai_cost_daily"
    __table_args__ = (
        UniqueConstraint("day", "project_id", "api_key_id", "line_item", name="uq_openai_cost_daily"),
        Index("ix_openai_cost_project_day", "project_id", "day"),
        Index("ix_openai_cost_key_day", "api_key_id", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(nullable=False)
    project_id: str = Field(default="", sa_type=String(64), nullable=False)
    api_key_id: str = Field(default="", sa_type=String(64), nullable=False)
    line_item: str = Field(default="", sa_type=String(255), nullable=False)
    model: str = Field(default="", sa_type=String(255), nullable=False)
    amount_nanos: int = Field(sa_type=BigInteger, nullable=False)


class OpenAIUsageDaily(SQLModel, table=True):
    __tablename__ = "openai_usage_daily"
    __table_args__ = (
        UniqueConstraint(
            "day",
            "endpoint",
            "project_id",
            "api_key_id",
            "model",
            "batch",
            "service_tier",
            name="uq_openai_usage_daily",
        ),
        Index("ix_openai_usage_project_day", "project_id", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(nullable=False)
    endpoint: str = Field(sa_type=String(40), nullable=False)
    project_id: str = Field(default="", sa_type=String(64), nullable=False)
    api_key_id: str = Field(default="", sa_type=String(64), nullable=False)
    model: str = Field(default="", sa_type=String(255), nullable=False)
    batch: str = Field(default="", sa_type=String(5), nullable=False)  # "true" | "false" | "" (not grouped)
    service_tier: str = Field(default="", sa_type=String(40), nullable=False)
    input_tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)
    cached_tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)
    output_tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)
    requests: int = Field(default=0, sa_type=BigInteger, nullable=False)


class OpenAIProjectName(SQLModel, table=True):
    __tablename__ = "openai_project"

    id: str = Field(primary_key=True, sa_type=String(64))
    name: str | None = Field(default=None, sa_type=String(255))
    status: str = Field(default="active", sa_type=String(20), nullable=False)
    updated_at: datetime = Field(sa_column=_utc())


class OpenAIKeyName(SQLModel, table=True):
    __tablename__ = "openai_api_key"

    id: str = Field(primary_key=True, sa_type=String(64))
    project_id: str = Field(sa_type=String(64), nullable=False, index=True)
    name: str | None = Field(default=None, sa_type=String(255))
    updated_at: datetime = Field(sa_column=_utc())


class OpenRouterCreditSnapshot(SQLModel, table=True):
    __tablename__ = "openrouter_credit_snapshot"

    id: int | None = Field(default=None, primary_key=True)
    taken_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, unique=True))
    total_credits_nanos: int = Field(sa_type=BigInteger, nullable=False)
    total_usage_nanos: int = Field(sa_type=BigInteger, nullable=False)


class OpenRouterKeyState(SQLModel, table=True):
    """The latest ``/keys`` reading per key (names for attribution, caps for alerts)."""

    __tablename__ = "openrouter_key"

    hash: str = Field(primary_key=True, sa_type=String(128))
    name: str | None = Field(default=None, sa_type=String(255))
    label: str | None = Field(default=None, sa_type=String(255))
    disabled: bool = Field(default=False, nullable=False)
    limit_nanos: int | None = Field(default=None, sa_type=BigInteger)
    limit_remaining_nanos: int | None = Field(default=None, sa_type=BigInteger)
    limit_reset: str | None = Field(default=None, sa_type=String(20))
    usage_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    usage_daily_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    usage_weekly_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    usage_monthly_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    byok_usage_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    workspace_id: str | None = Field(default=None, sa_type=String(64))
    updated_at: datetime = Field(sa_column=_utc())


class OpenRouterWorkspaceName(SQLModel, table=True):
    """``/workspaces``: names for the workspace each key belongs to."""

    __tablename__ = "openrouter_workspace"

    id: str = Field(primary_key=True, sa_type=String(64))
    name: str = Field(sa_type=String(255), nullable=False)
    slug: str | None = Field(default=None, sa_type=String(100))
    updated_at: datetime = Field(sa_column=_utc())


class OpenRouterKeySnapshot(SQLModel, table=True):
    """History of ``/keys`` readings: one row per key per poll."""

    __tablename__ = "openrouter_key_snapshot"
    __table_args__ = (
        UniqueConstraint("key_hash", "taken_at", name="uq_openrouter_key_snapshot"),
        # Time first: each poll replaces its own instant and retention deletes by age.
        Index("ix_openrouter_key_snapshot_taken_at", "taken_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    taken_at: datetime = Field(sa_column=_utc())
    key_hash: str = Field(sa_type=String(128), nullable=False)
    limit_nanos: int | None = Field(default=None, sa_type=BigInteger)
    limit_remaining_nanos: int | None = Field(default=None, sa_type=BigInteger)
    usage_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    usage_daily_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    usage_weekly_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    usage_monthly_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)


class OpenRouterKeyDay(SQLModel, table=True):
    """Daily rollup of key readings: the last ``usage_daily`` seen for each key and UTC day.

    It fills the days ``/activity`` does not cover yet (today, and yesterday until the next
    daily fetch) without scanning the snapshot history.
    """

    __tablename__ = "openrouter_key_day"
    __table_args__ = (
        UniqueConstraint("day", "key_hash", name="uq_openrouter_key_day"),
        Index("ix_openrouter_key_day_key", "key_hash", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(nullable=False)
    key_hash: str = Field(sa_type=String(128), nullable=False)
    usage_daily_nanos: int = Field(sa_type=BigInteger, nullable=False)
    taken_at: datetime = Field(sa_column=_utc())


class OpenRouterActivityDaily(SQLModel, table=True):
    __tablename__ = "openrouter_activity_daily"
    __table_args__ = (
        UniqueConstraint("day", "key_hash", "model", "provider_name", name="uq_openrouter_activity_daily"),
        Index("ix_openrouter_activity_key_day", "key_hash", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    day: date = Field(nullable=False)
    key_hash: str = Field(sa_type=String(128), nullable=False)
    model: str = Field(sa_type=String(255), nullable=False)
    provider_name: str = Field(sa_type=String(255), nullable=False)
    usage_nanos: int = Field(sa_type=BigInteger, nullable=False)
    byok_usage_nanos: int = Field(default=0, sa_type=BigInteger, nullable=False)
    requests: int = Field(default=0, sa_type=BigInteger, nullable=False)
    prompt_tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)
    completion_tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)
    reasoning_tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)


class PollRun(SQLModel, table=True):
    """One endpoint of one poll: what was asked, how it ended, what it wrote."""

    __tablename__ = "poll_run"
    __table_args__ = (
        Index("ix_poll_run_endpoint_started", "provider", "endpoint", "started_at"),
        Index("ix_poll_run_started_at", "started_at"),  # retention deletes by age
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(sa_type=String(20), nullable=False)
    endpoint: str = Field(sa_type=String(60), nullable=False)
    started_at: datetime = Field(sa_column=_utc())
    finished_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    status: PollStatus = Field(sa_column=Column(PollStatusText(), nullable=False))
    error: str | None = Field(default=None, sa_type=Text)
    detail: str | None = Field(default=None, sa_type=Text)
    # OpenAI costs only: whether OpenAI grouped the costs by API key (False: it refused, so money
    # is attributed by project and line item only); None for every other endpoint.
    key_level_costs: bool | None = Field(default=None, nullable=True)
    rows_inserted: int = Field(default=0, sa_type=Integer, nullable=False)
    rows_updated: int = Field(default=0, sa_type=Integer, nullable=False)
    rows_deleted: int = Field(default=0, sa_type=Integer, nullable=False)


class IngestMark(SQLModel, table=True):
    """Small key/value marks, e.g. the UTC day a key's ``/activity`` was last fetched."""

    __tablename__ = "ingest_mark"

    name: str = Field(primary_key=True, sa_type=String(200))
    value: str = Field(sa_type=String(200), nullable=False)
    updated_at: datetime = Field(sa_column=_utc())


class SpendMonth(SQLModel, table=True):
    """Rollup: money per UTC month and provider grouping (OpenAI line item / OpenRouter route).

    Maintained by ``store.writes`` in the same transaction as the daily rows it sums, so a month
    report reads a few thousand rows instead of scanning every day of every project.
    """

    __tablename__ = "spend_month"
    __table_args__ = (
        UniqueConstraint(
            "provider", "month", "project_ref", "key_ref", "model", "detail", name="uq_spend_month"
        ),
        Index("ix_spend_month_project", "month", "project_ref"),
        Index("ix_spend_month_key", "month", "key_ref"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(sa_type=String(20), nullable=False)
    month: date = Field(nullable=False)
    project_ref: str = Field(default="", sa_type=String(64), nullable=False)
    key_ref: str = Field(default="", sa_type=String(128), nullable=False)
    model: str = Field(default="", sa_type=String(255), nullable=False)
    detail: str = Field(default="", sa_type=String(255), nullable=False)
    amount_nanos: int = Field(sa_type=BigInteger, nullable=False)
    requests: int = Field(default=0, sa_type=BigInteger, nullable=False)
    input_tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)
    output_tokens: int = Field(default=0, sa_type=BigInteger, nullable=False)


class SpendDay(SQLModel, table=True):
    """Rollup: money per UTC day and attribution reference (project id, key id or key hash)."""

    __tablename__ = "spend_day"
    __table_args__ = (
        # Reference first: a report looks up each attributed reference's days of one month.
        UniqueConstraint("provider", "project_ref", "key_ref", "day", name="uq_spend_day"),
        Index("ix_spend_day_day", "day"),
        Index("ix_spend_day_key", "key_ref", "day"),
    )

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(sa_type=String(20), nullable=False)
    day: date = Field(nullable=False)
    project_ref: str = Field(default="", sa_type=String(64), nullable=False)
    key_ref: str = Field(default="", sa_type=String(128), nullable=False)
    amount_nanos: int = Field(sa_type=BigInteger, nullable=False)


class SlackRequestSeen(SQLModel, table=True):
    """A Slack request whose side effect was done: its fingerprint (SHA-256 of the signed body)
    until it can no longer arrive again (a replay within Slack's 5-minute signature window, or
    one of Slack's retries). In the database so that every replica refuses the same repeat."""

    __tablename__ = "slack_request_seen"

    fingerprint: str = Field(sa_type=String(64), primary_key=True)
    seen_at: datetime = Field(sa_column=_utc())
    expires_at: datetime = Field(sa_column=_utc(index=True))


class AlertState(SQLModel, table=True):
    """One row per alert identity (rule, entity, level, period): its state and what Slack was told.

    ``pending`` is what Slack is owed (``aispend.alerts.state.due``); ``claim_token`` and
    ``claimed_until`` are the delivery lease that makes posting exactly-once across evaluators.
    """

    __tablename__ = "alert_state"
    __table_args__ = (
        UniqueConstraint("rule", "entity", "level", "period", name="uq_alert_state"),
        Index("ix_alert_state_status", "status"),
        Index("ix_alert_state_pending", "pending"),
    )

    id: int | None = Field(default=None, primary_key=True)
    rule: str = Field(sa_type=String(40), nullable=False)
    entity: str = Field(sa_type=String(255), nullable=False)
    level: str = Field(default="", sa_type=String(40), nullable=False)
    period: str = Field(default="", sa_type=String(20), nullable=False)
    project: str | None = Field(default=None, sa_type=String(80))
    status: str = Field(sa_type=String(20), nullable=False)  # firing|acknowledged|snoozed|resolved
    severity: str = Field(sa_type=String(10), nullable=False)  # warning|critical
    finding: str = Field(sa_type=Text, nullable=False)  # JSON: the latest firing finding
    episode: int = Field(default=1, sa_type=Integer, nullable=False)
    opened_at: datetime = Field(sa_column=_utc())
    last_seen_at: datetime = Field(sa_column=_utc())
    updated_at: datetime = Field(sa_column=_utc())
    acknowledged_by: str | None = Field(default=None, sa_type=String(40))
    acknowledged_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    snoozed_by: str | None = Field(default=None, sa_type=String(40))
    snoozed_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    resolved_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    resolved_by: str | None = Field(default=None, sa_type=String(40))
    channel: str | None = Field(default=None, sa_type=String(40))
    ts: str | None = Field(default=None, sa_type=String(40))
    notified_severity: str | None = Field(default=None, sa_type=String(10))
    resolve_notified: bool = Field(default=False, nullable=False)
    needs_update: bool = Field(default=False, nullable=False)
    pending: str | None = Field(default=None, sa_type=String(20))
    claim_token: str | None = Field(default=None, sa_type=String(40))
    claimed_until: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    attempts: int = Field(default=0, sa_type=Integer, nullable=False)
    last_error: str | None = Field(default=None, sa_type=Text)


class AlertEvent(SQLModel, table=True):
    """Every alert transition (fired, escalated, acknowledged, snoozed, reminded, resolved)."""

    __tablename__ = "alert_event"
    __table_args__ = (Index("ix_alert_event_at", "at"), Index("ix_alert_event_alert", "alert_id"))

    id: int | None = Field(default=None, primary_key=True)
    alert_id: int = Field(foreign_key="alert_state.id", nullable=False)
    kind: str = Field(sa_type=String(20), nullable=False)
    at: datetime = Field(sa_column=_utc())
    actor: str | None = Field(default=None, sa_type=String(40))  # Slack user id; None: the data
    severity: str = Field(sa_type=String(10), nullable=False)


class DigestPost(SQLModel, table=True):
    """One weekly digest per reported ISO week: the claim to post it, then the proof it was posted.

    ``week`` is unique, so two schedulers (or ``aispend digest`` run by hand beside ``aispend
    serve``) can never both claim a week. A claim carries a lease: if the process dies between
    claiming and posting, the week becomes claimable again once ``lease_until`` has passed.
    ``message_ts`` is recorded as soon as the message is posted, so a retry after a failed chart
    upload does not post the message twice.
    """

    __tablename__ = "digest_post"
    __table_args__ = (UniqueConstraint("week", name="uq_digest_post_week"),)

    id: int | None = Field(default=None, primary_key=True)
    week: str = Field(sa_type=String(10), nullable=False)  # ISO week reported, e.g. 2026-W47
    channel: str = Field(sa_type=String(32), nullable=False)
    status: str = Field(sa_type=String(12), nullable=False)  # claimed | posted
    claimed_by: str = Field(sa_type=String(80), nullable=False)
    claimed_at: datetime = Field(sa_column=_utc())
    lease_until: datetime = Field(sa_column=_utc())
    attempts: int = Field(default=1, sa_type=Integer, nullable=False)
    message_ts: str | None = Field(default=None, sa_type=String(32))
    file_id: str | None = Field(default=None, sa_type=String(32))
    posted_at: datetime | None = Field(default=None, sa_column=_utc(nullable=True))
    error: str | None = Field(default=None, sa_type=Text)


class SlackHomeAudience(SQLModel, table=True):
    """A user who opened the App Home tab, and when last: the post-poll job republishes their
    Home. In the database so that whichever replica leads can republish every Home."""

    __tablename__ = "slack_home_audience"

    user_id: str = Field(sa_type=String(32), primary_key=True)
    seen_at: datetime = Field(sa_column=_utc(index=True))
