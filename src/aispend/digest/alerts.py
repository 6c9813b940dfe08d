"""The alert history the digest reads, over the alert state tables (``aispend.alerts.state``).

The digest's content asks a narrow question (``digest.content.AlertHistory``): which alerts
fired, were acknowledged or resolved in a window, and which were still open. This adapter
answers it from the stored alert events plus the alerts open now, so an alert that fired before
the week and is still firing is listed too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Engine

from aispend.alerts.model import AlertView
from aispend.alerts.state import alerts_between, open_alerts
from aispend.digest.content import AlertEvent

__all__ = ["StoredAlertHistory"]


def _event(view: AlertView) -> AlertEvent:
    return AlertEvent(
        title=view.finding.title,
        severity=view.severity,
        project=view.project,
        fired_at=view.opened_at,
        acknowledged_at=view.acknowledged_at,
        acknowledged_by=view.acknowledged_by,
        resolved_at=view.resolved_at,
    )


class StoredAlertHistory:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def alerts_between(self, start: datetime, end: datetime) -> Sequence[AlertEvent]:
        seen: dict[int, AlertView] = {
            week.alert.id: week.alert for week in alerts_between(self._engine, start, end)
        }
        for view in open_alerts(self._engine):
            seen.setdefault(view.id, view)
        return [_event(view) for view in seen.values()]
