"""Alert records shared by the state machine, the Slack layer and the digest (no SQL, no Slack)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

from aispend.alerts.rules import AlertKey, Finding, Severity

__all__ = [
    "OPEN",
    "AlertEventView",
    "AlertView",
    "Delivery",
    "DeliveryError",
    "DeliveryReport",
    "Notice",
    "NoticeKind",
    "Notifier",
    "Status",
    "WeekAlert",
]

Status = Literal["firing", "acknowledged", "snoozed", "resolved"]
NoticeKind = Literal["post", "escalate", "resolve", "remind", "update"]
OPEN: tuple[Status, ...] = ("firing", "acknowledged", "snoozed")


@dataclass(frozen=True, slots=True)
class AlertView:
    """An alert as the Slack layer renders it (built from its row)."""

    id: int
    key: AlertKey
    project: str | None
    status: Status
    severity: Severity
    finding: Finding
    episode: int
    opened_at: datetime
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    snoozed_by: str | None = None
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    channel: str | None = None
    ts: str | None = None

    @property
    def is_open(self) -> bool:
        return self.status != "resolved"


@dataclass(frozen=True, slots=True)
class Notice:
    kind: NoticeKind
    alert: AlertView


@dataclass(frozen=True, slots=True)
class Delivery:
    """Where a first post went (``ts`` is the thread every later notice replies in)."""

    channel: str
    ts: str


class DeliveryError(Exception):
    """Slack refused or failed a notice after the client's own retries; retried next evaluation."""

    def __init__(self, message: str, *, rate_limited: bool = False) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited


class Notifier(Protocol):
    def send(self, notice: Notice) -> Delivery | None:
        """Deliver one notice. ``post`` returns where it went (None: no destination, listed only);
        the others return None. Raises :class:`DeliveryError`."""
        ...


@dataclass
class DeliveryReport:
    sent: list[Notice] = field(default_factory=list)
    failed: list[tuple[Notice, str]] = field(default_factory=list)
    stopped_by_rate_limit: bool = False


@dataclass(frozen=True, slots=True)
class AlertEventView:
    kind: str  # fired | escalated | acknowledged | snoozed | reminded | resolved
    at: datetime
    actor: str | None
    severity: Severity


@dataclass(frozen=True, slots=True)
class WeekAlert:
    """An alert with its events inside a window (what the weekly digest lists)."""

    alert: AlertView
    events: tuple[AlertEventView, ...]

    def did(self, kind: str) -> bool:
        return any(event.kind == kind for event in self.events)
