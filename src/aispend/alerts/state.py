"""Alert state in the database and exactly-once notifications.

One ``alert_state`` row per identity (rule, entity, level, period); ``alert_event`` keeps every
transition (what the weekly digest lists). States::

    firing ──▶ acknowledged ─┐
       │  ╲                  ├──▶ resolved ──(fires again)──▶ firing (next episode, new message)
       │   ▶ snoozed until T ┘
       └──(warning → critical)──▶ escalated: firing again, even if acknowledged or snoozed

What is owed to Slack is derived from the row (:func:`due`), never queued as events: a first
post while nothing is posted yet; an escalation while the posted severity is lower than the
current one; one resolve reply once resolved; one reminder when a snooze ends still firing; an
in-place update after a button press. The derived value is kept in ``pending`` so a delivery
pass finds work with one indexed query.

Exactly once, with several evaluators on one database:

* Evaluations are serialized: on PostgreSQL by a transaction-level advisory lock, on SQLite by a
  process lock (SQLite deployments are one process; its deferred transactions cannot upgrade a
  read to a write under contention).
* The **claim** is one conditional ``UPDATE … WHERE pending IS NOT NULL AND (claimed_until IS
  NULL OR claimed_until < now)``: the database's row lock lets exactly one claimer see
  ``rowcount == 1``. The claim is a **lease** (``claimed_until``): a process that dies between
  claim and post leaves a claim that expires, and a later evaluation posts it.
* Completion checks the claim token, records what was posted (``ts``, ``notified_severity``,
  ``resolve_notified``) and re-derives ``pending``; a failed or rate-limited post only releases
  the claim (``attempts``, ``last_error``), so the next evaluation retries it and nothing is lost.
  A process that dies *after* Slack accepted a post but before completion can post twice once the
  lease expires: Slack's ``chat.postMessage`` has no idempotency key, so this window (one HTTP
  response) is the one left.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, or_, text, tuple_, update
from sqlmodel import Session, col, select

from aispend.alerts.model import (
    OPEN,
    AlertEventView,
    AlertView,
    Delivery,
    DeliveryError,
    DeliveryReport,
    Notice,
    NoticeKind,
    Notifier,
    WeekAlert,
)
from aispend.alerts.rules import AlertKey, Evaluation, Finding, severity_rank
from aispend.clock import ensure_utc
from aispend.store.engine import session_scope
from aispend.store.models import AlertEvent, AlertState

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_LEASE",
    "SNOOZE",
    "AlertEventView",
    "AlertView",
    "Applied",
    "Delivery",
    "DeliveryError",
    "DeliveryReport",
    "Notice",
    "NoticeKind",
    "Notifier",
    "WeekAlert",
    "acknowledge",
    "alert",
    "alerts_between",
    "apply_evaluation",
    "claim",
    "deliver",
    "deliver_one",
    "due",
    "open_alerts",
    "plan",
    "snooze",
]

DEFAULT_LEASE = timedelta(minutes=5)
SNOOZE = timedelta(hours=24)
ALERT_LOCK_ID = 0x616C657274  # "alert": serializes alert evaluations on PostgreSQL
NOWHERE = ""  # ``ts``/``channel`` of an alert with no destination: listed, never posted

_sqlite_locks: dict[str, threading.Lock] = {}
_sqlite_locks_guard = threading.Lock()


# ---------------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Applied:
    fired: tuple[AlertKey, ...] = ()
    escalated: tuple[AlertKey, ...] = ()
    resolved: tuple[AlertKey, ...] = ()
    due: tuple[Notice, ...] = ()


# ------------------------------------------------------------------------------ conversions


def _finding_json(finding: Finding) -> str:
    return json.dumps(
        {
            "rule": finding.key.rule,
            "entity": finding.key.entity,
            "level": finding.key.level,
            "period": finding.key.period,
            "firing": finding.firing,
            "severity": finding.severity,
            "title": finding.title,
            "figure": str(finding.figure),
            "threshold": str(finding.threshold),
            "unit": finding.unit,
            "why": finding.why,
            "project": finding.project,
            "context": finding.context,
        },
        sort_keys=True,
    )


def _finding(text_: str) -> Finding:
    data = json.loads(text_)
    return Finding(
        key=AlertKey(data["rule"], data["entity"], data["level"], data["period"]),
        firing=bool(data["firing"]),
        severity=data["severity"],
        title=data["title"],
        figure=Decimal(data["figure"]),
        threshold=Decimal(data["threshold"]),
        unit=data["unit"],
        why=data["why"],
        project=data["project"],
        context=data["context"],
    )


def _key(row: AlertState) -> AlertKey:
    return AlertKey(row.rule, row.entity, row.level, row.period)


def view(row: AlertState) -> AlertView:
    assert row.id is not None
    return AlertView(
        id=row.id,
        key=_key(row),
        project=row.project,
        status=row.status,  # type: ignore[arg-type]
        severity=row.severity,  # type: ignore[arg-type]
        finding=_finding(row.finding),
        episode=row.episode,
        opened_at=row.opened_at,
        acknowledged_by=row.acknowledged_by,
        acknowledged_at=row.acknowledged_at,
        snoozed_by=row.snoozed_by,
        snoozed_until=row.snoozed_until,
        resolved_at=row.resolved_at,
        resolved_by=row.resolved_by,
        channel=row.channel,
        ts=row.ts,
    )


# ------------------------------------------------------------------------------- the machine


def due(row: AlertState, now: datetime) -> NoticeKind | None:
    """What Slack is owed for this row right now (see the module docstring)."""
    if row.status == "resolved":
        return "resolve" if row.ts and not row.resolve_notified else None
    if row.ts is None:
        return "post"
    if row.ts == NOWHERE:
        return None
    if severity_rank(row.severity) > severity_rank(row.notified_severity or "warning"):
        return "escalate"
    if row.status == "snoozed" and row.snoozed_until is not None and ensure_utc(row.snoozed_until) <= now:
        return "remind"
    if row.needs_update:
        return "update"
    return None


def _event(session: Session, row: AlertState, kind: str, now: datetime, actor: str | None = None) -> None:
    assert row.id is not None
    session.add(AlertEvent(alert_id=row.id, kind=kind, at=now, actor=actor, severity=row.severity))


def _sqlite_lock(engine: Engine) -> threading.Lock:
    with _sqlite_locks_guard:
        return _sqlite_locks.setdefault(str(engine.url), threading.Lock())


@contextmanager
def _serialized(engine: Engine) -> Iterator[Session]:
    """One alert-writing transaction at a time (advisory lock on PostgreSQL, process lock on SQLite)."""
    if engine.dialect.name == "postgresql":
        with session_scope(engine) as session:
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ALERT_LOCK_ID})
            yield session
        return
    with _sqlite_lock(engine), session_scope(engine) as session:
        yield session


@contextmanager
def _row_transaction(engine: Engine) -> Iterator[Session]:
    """A transaction touching single rows (row locks on PostgreSQL, the process lock on SQLite)."""
    if engine.dialect.name == "postgresql":
        with session_scope(engine) as session:
            yield session
        return
    with _sqlite_lock(engine), session_scope(engine) as session:
        yield session


def _open_row(session: Session, row: AlertState, finding: Finding, now: datetime) -> None:
    """(Re)start an episode: a new message, nothing acknowledged or snoozed yet."""
    row.status = "firing"
    row.severity = finding.severity
    row.finding = _finding_json(finding)
    row.project = finding.project
    row.opened_at = now
    row.last_seen_at = now
    row.acknowledged_by = row.acknowledged_at = None
    row.snoozed_by = row.snoozed_until = None
    row.resolved_at = row.resolved_by = None
    row.resolve_notified = False
    row.needs_update = False
    row.channel = row.ts = None
    row.notified_severity = None
    row.attempts = 0
    row.last_error = None


def _budget_level(row: AlertState) -> Decimal:
    return Decimal(row.level) if row.rule == "budget_threshold" else Decimal(0)


def _cover_lower_budget_alerts(new_rows: list[AlertState]) -> None:
    """One message when spend jumps past several budget lines at once.

    Among a project's budget alerts that start firing in the same evaluation (e.g. the first poll
    of a month already past 100 %), only the highest ``budget_threshold`` level is posted; lower
    levels, and the pace alert once spend is past the budget, are recorded as *covered*: they are
    listed and resolve silently, but never post. Without this the first poll after a budget is
    set could post three messages saying the same thing.
    """
    groups: dict[tuple[str | None, str], list[AlertState]] = {}
    for row in new_rows:
        if row.rule in ("budget_threshold", "budget_pace"):
            groups.setdefault((row.project, row.period), []).append(row)
    for rows in groups.values():
        levels = [row for row in rows if row.rule == "budget_threshold"]
        if not levels:
            continue
        top = max(levels, key=_budget_level)
        for row in rows:
            covered = row.rule == "budget_threshold" and row is not top
            covered |= row.rule == "budget_pace" and _budget_level(top) >= 100
            if covered:
                row.channel = row.ts = NOWHERE
                row.notified_severity = row.severity


def _rows_for(session: Session, keys: list[AlertKey]) -> dict[AlertKey, AlertState]:
    """Stored rows (any state) for ``keys``, a few hundred identities per query."""
    found: dict[AlertKey, AlertState] = {}
    for start in range(0, len(keys), 400):
        chunk = [(k.rule, k.entity, k.level, k.period) for k in keys[start : start + 400]]
        identity = tuple_(
            col(AlertState.rule), col(AlertState.entity), col(AlertState.level), col(AlertState.period)
        )
        for row in session.exec(select(AlertState).where(identity.in_(chunk))).all():
            found[_key(row)] = row
    return found


def _apply(session: Session, evaluation: Evaluation, now: datetime) -> Applied:
    """Statements do not grow with history, and only with the alerts that changed: open rows are
    read in one query, new identities in one per few hundred, and unchanged rows are not written."""
    fired: list[AlertKey] = []
    escalated: list[AlertKey] = []
    resolved: list[AlertKey] = []
    firing = {f.key: f for f in evaluation.firing}
    judged = {f.key for f in evaluation.findings}
    open_rows = list(session.exec(select(AlertState).where(col(AlertState.status).in_(OPEN))).all())
    open_keys = {_key(row) for row in open_rows}
    touched: list[AlertState] = list(open_rows)

    for row in open_rows:
        key = _key(row)
        finding = firing.get(key)
        if finding is not None:
            latest = _finding_json(finding)
            if latest != row.finding:
                row.finding = latest
                row.last_seen_at = now
            if severity_rank(finding.severity) > severity_rank(row.severity):
                row.severity = finding.severity
                if row.status != "firing":  # critical news re-opens an acknowledged/snoozed alert
                    row.status = "firing"
                    row.snoozed_until = None
                escalated.append(key)
                _event(session, row, "escalated", now)
            elif severity_rank(finding.severity) < severity_rank(row.severity):
                row.severity = finding.severity  # calmer, not resolved: no message
            continue
        if key in judged or evaluation.is_unknown(key):
            continue  # inside the hysteresis band, or not judgeable: stays as it is
        row.status = "resolved"
        row.resolved_at = now
        row.resolved_by = None  # resolved by the data, not by a person
        resolved.append(key)
        _event(session, row, "resolved", now)

    new_keys = sorted(key for key in firing if key not in open_keys)
    stored = _rows_for(session, new_keys) if new_keys else {}
    new_rows: list[AlertState] = []
    for key in new_keys:
        finding = firing[key]
        row_or_none = stored.get(key)
        if row_or_none is None:
            row = AlertState(
                rule=key.rule,
                entity=key.entity,
                level=key.level,
                period=key.period,
                status="firing",
                severity=finding.severity,
                finding=_finding_json(finding),
                opened_at=now,
                last_seen_at=now,
                updated_at=now,
            )
            _open_row(session, row, finding, now)
            # Evaluations are serialized, so no other evaluator can insert it meanwhile; should
            # the unique constraint still refuse it, the whole evaluation rolls back and retries.
            session.add(row)
        else:
            row = row_or_none
            row.episode += 1
            _open_row(session, row, finding, now)
        fired.append(key)
        new_rows.append(row)
    if new_rows:
        session.flush()  # ids for the events, in one batch
        for row in new_rows:
            _event(session, row, "fired", now)
    touched.extend(new_rows)
    _cover_lower_budget_alerts(new_rows)

    for row in touched:
        kind = due(row, now)
        if row.pending != kind:
            row.pending = kind
        if session.is_modified(row):
            row.updated_at = now
    session.flush()
    notices = [Notice(row.pending, view(row)) for row in touched if row.pending is not None]  # type: ignore[arg-type]
    return Applied(tuple(fired), tuple(escalated), tuple(resolved), tuple(notices))


def apply_evaluation(engine: Engine, evaluation: Evaluation, now: datetime) -> Applied:
    """Move every alert's state to match one evaluation (one serialized transaction)."""
    now = ensure_utc(now)
    with _serialized(engine) as session:
        return _apply(session, evaluation, now)


def plan(engine: Engine, evaluation: Evaluation, now: datetime) -> Applied:
    """What :func:`apply_evaluation` would do and post, without changing anything (dry run)."""
    now = ensure_utc(now)
    with Session(engine, expire_on_commit=False) as session:
        try:
            applied = _apply(session, evaluation, now)
            pending = session.exec(
                select(AlertState).where(col(AlertState.pending).is_not(None))
            ).all()  # plus notices owed from earlier runs (failed posts, reminders)
            seen = {n.alert.id for n in applied.due}
            extra = [Notice(r.pending, view(r)) for r in pending if r.id not in seen]  # type: ignore[arg-type]
            return Applied(applied.fired, applied.escalated, applied.resolved, (*applied.due, *extra))
        finally:
            session.rollback()


# ---------------------------------------------------------------------------------- delivery


def claim(engine: Engine, alert_id: int, now: datetime, lease: timedelta = DEFAULT_LEASE) -> str | None:
    """Claim the right to deliver what ``alert_id`` is owed; the token, or None when there is
    nothing owed or another evaluator holds an unexpired claim."""
    token = uuid.uuid4().hex
    with _row_transaction(engine) as session:
        result = session.execute(
            update(AlertState)
            .where(
                col(AlertState.id) == alert_id,
                col(AlertState.pending).is_not(None),
                or_(col(AlertState.claimed_until).is_(None), col(AlertState.claimed_until) < now),
            )
            .values(claim_token=token, claimed_until=now + lease)
        )
    return token if result.rowcount == 1 else None  # type: ignore[attr-defined]


def _claimed(session: Session, alert_id: int, token: str) -> AlertState | None:
    row = session.exec(select(AlertState).where(AlertState.id == alert_id).with_for_update()).first()
    if row is None or row.claim_token != token:
        log.warning("alert %s: claim lost (lease expired?)", alert_id)
        return None
    return row


def _release(engine: Engine, alert_id: int, token: str, error: str | None) -> None:
    with _row_transaction(engine) as session:
        row = _claimed(session, alert_id, token)
        if row is None:
            return
        row.claim_token = None
        row.claimed_until = None
        if error is not None:
            row.attempts += 1
            row.last_error = error[:500]


def _complete(
    engine: Engine, alert_id: int, token: str, notice: Notice, delivery: Delivery | None, now: datetime
) -> None:
    with _row_transaction(engine) as session:
        row = _claimed(session, alert_id, token)
        if row is None:
            return
        kind = notice.kind
        if kind == "post":
            row.channel = delivery.channel if delivery else NOWHERE
            row.ts = delivery.ts if delivery else NOWHERE
            row.notified_severity = notice.alert.severity
            row.needs_update = row.status != notice.alert.status  # pressed while posting
        elif kind == "escalate":
            row.notified_severity = notice.alert.severity
        elif kind == "resolve":
            row.resolve_notified = True
        elif kind == "remind":
            if row.status == "snoozed":
                row.status = "firing"
                _event(session, row, "reminded", now)
        elif kind == "update":
            row.needs_update = False
        row.claim_token = None
        row.claimed_until = None
        row.attempts = 0
        row.last_error = None
        row.pending = due(row, now)
        row.updated_at = now


def _deliver_claimed(
    engine: Engine, notifier: Notifier, alert_id: int, token: str, now: datetime, report: DeliveryReport
) -> bool:
    with session_scope(engine) as session:
        row = session.get(AlertState, alert_id)
        kind = due(row, now) if row is not None else None
        notice = Notice(kind, view(row)) if row is not None and kind is not None else None
    if notice is None:
        _release(engine, alert_id, token, None)
        return True
    try:
        delivery = notifier.send(notice)
    except DeliveryError as exc:
        _release(engine, alert_id, token, str(exc))
        report.failed.append((notice, str(exc)))
        if exc.rate_limited:
            report.stopped_by_rate_limit = True
        return False
    _complete(engine, alert_id, token, notice, delivery, now)
    report.sent.append(notice)
    return True


def deliver(
    engine: Engine, notifier: Notifier, now: datetime, *, lease: timedelta = DEFAULT_LEASE, rounds: int = 3
) -> DeliveryReport:
    """Deliver every owed notice this process can claim. A rate limit stops the pass (the rest
    waits for the next evaluation); other failures skip to the next alert."""
    now = ensure_utc(now)
    report = DeliveryReport()
    for _ in range(rounds):
        with session_scope(engine) as session:
            ids = session.exec(
                select(AlertState.id)
                .where(
                    col(AlertState.pending).is_not(None),
                    or_(col(AlertState.claimed_until).is_(None), col(AlertState.claimed_until) < now),
                )
                .order_by(col(AlertState.id))
            ).all()
        progressed = False
        for alert_id in ids:
            if alert_id is None:
                continue
            token = claim(engine, alert_id, now, lease)
            if token is None:
                continue
            if _deliver_claimed(engine, notifier, alert_id, token, now, report):
                progressed = True
            if report.stopped_by_rate_limit:
                return report
        if not progressed:
            break
    return report


def deliver_one(engine: Engine, notifier: Notifier, alert_id: int, now: datetime) -> DeliveryReport:
    """Deliver what one alert is owed now (after a button press); a later evaluation retries."""
    report = DeliveryReport()
    token = claim(engine, alert_id, ensure_utc(now))
    if token is not None:
        _deliver_claimed(engine, notifier, alert_id, token, ensure_utc(now), report)
    return report


# ----------------------------------------------------------------------------------- people


def _transition(engine: Engine, alert_id: int, now: datetime, change: str, user: str) -> AlertView | None:
    with _row_transaction(engine) as session:
        row = session.exec(select(AlertState).where(AlertState.id == alert_id).with_for_update()).first()
        if row is None or row.status == "resolved":
            return None
        if change == "acknowledged":
            row.status = "acknowledged"
            row.acknowledged_by, row.acknowledged_at = user, now
            row.snoozed_until = None
        else:
            row.status = "snoozed"
            row.snoozed_by, row.snoozed_until = user, now + SNOOZE
        row.needs_update = True
        row.pending = due(row, now)
        row.updated_at = now
        _event(session, row, change, now, user)
        session.flush()
        return view(row)


def acknowledge(engine: Engine, alert_id: int, user: str, now: datetime) -> AlertView | None:
    """``user`` acknowledged; None when the alert is unknown or already resolved."""
    return _transition(engine, alert_id, ensure_utc(now), "acknowledged", user)


def snooze(engine: Engine, alert_id: int, user: str, now: datetime) -> AlertView | None:
    """Quiet for 24 h, then one reminder in the thread if still firing."""
    return _transition(engine, alert_id, ensure_utc(now), "snoozed", user)


# ---------------------------------------------------------------------------------- reading


def alert(engine: Engine, alert_id: int) -> AlertView | None:
    with session_scope(engine) as session:
        row = session.get(AlertState, alert_id)
        return view(row) if row is not None else None


def open_alerts(engine: Engine) -> tuple[AlertView, ...]:
    """Every open alert, critical first, then oldest first."""
    with session_scope(engine) as session:
        rows = session.exec(select(AlertState).where(col(AlertState.status).in_(OPEN))).all()
        views = [view(row) for row in rows]
    views.sort(key=lambda v: (-severity_rank(v.severity), v.opened_at, v.id))
    return tuple(views)


def alerts_between(engine: Engine, start: datetime, end: datetime) -> tuple[WeekAlert, ...]:
    """Alerts with any event in ``[start, end)`` and those events, oldest alert first (the
    digest's "alerts of the week": fired / acknowledged / resolved)."""
    with session_scope(engine) as session:
        events = session.exec(
            select(AlertEvent)
            .where(col(AlertEvent.at) >= ensure_utc(start), col(AlertEvent.at) < ensure_utc(end))
            .order_by(col(AlertEvent.at), col(AlertEvent.id))
        ).all()
        ids = sorted({e.alert_id for e in events})
        rows = {
            r.id: view(r) for r in session.exec(select(AlertState).where(col(AlertState.id).in_(ids))).all()
        }
    grouped: dict[int, list[AlertEventView]] = {}
    for event in events:
        grouped.setdefault(event.alert_id, []).append(
            AlertEventView(event.kind, event.at, event.actor, event.severity)  # type: ignore[arg-type]
        )
    found = [WeekAlert(rows[i], tuple(grouped[i])) for i in ids if i in rows]
    found.sort(key=lambda w: (w.events[0].at, w.alert.id))
    return tuple(found)
