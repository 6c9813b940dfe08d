"""The alert job: evaluate the rules over the stored data, move the state, deliver what is owed.

A plain function taking a clock, so tests and ``aispend alerts`` call it directly; the scheduler
runs it right after every poll, on the leader replica only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from aispend.alerts.model import DeliveryReport, Notifier
from aispend.alerts.rules import AlertInputs, Evaluation, evaluate
from aispend.alerts.state import Applied, apply_evaluation, deliver, plan
from aispend.clock import ensure_utc
from aispend.config import Config

__all__ = ["AlertRun", "AlertSource", "run_alerts"]


class AlertSource(Protocol):
    """What the rules read (``SpendService`` implements it)."""

    def alert_inputs(self, now: datetime) -> AlertInputs: ...


@dataclass(frozen=True, slots=True)
class AlertRun:
    evaluation: Evaluation
    applied: Applied
    delivery: DeliveryReport | None  # None on a dry run or without a notifier
    dry_run: bool = False


def run_alerts(
    *,
    engine: Engine,
    source: AlertSource,
    config: Config,
    notifier: Notifier | None,
    clock: Callable[[], datetime],
    dry_run: bool = False,
) -> AlertRun:
    """One evaluation. ``dry_run``: report what would change and be posted, change nothing.

    Without a notifier (no Slack token) the state still moves and the notices stay owed, so they
    are delivered once a notifier is configured, never lost.
    """
    now = ensure_utc(clock())
    evaluation = evaluate(source.alert_inputs(now), config.team_projects(), config.alert_settings())
    if dry_run:
        return AlertRun(evaluation, plan(engine, evaluation, now), None, dry_run=True)
    applied = apply_evaluation(engine, evaluation, now)
    delivery = deliver(engine, notifier, now) if notifier is not None else None
    return AlertRun(evaluation, applied, delivery)
