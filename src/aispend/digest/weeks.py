"""ISO weeks of UTC days, and when the weekly digest is due.

The digest reports the last *complete* ISO week (Monday–Sunday in UTC days, as the providers
bill them). It is scheduled at ``digest.weekday``/``digest.time`` in the team's time zone; the
occurrence of that schedule at or before a moment decides which week is due, so a bot that was
down at the scheduled time still posts the same week's digest when it comes back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from aispend.clock import ensure_utc

__all__ = ["WEEKDAYS", "IsoWeek", "due_week", "latest_occurrence", "report_week"]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True, order=True)
class IsoWeek:
    """An ISO 8601 week: Monday to Sunday, numbered within its ISO year."""

    year: int
    week: int

    @classmethod
    def containing(cls, day: date) -> IsoWeek:
        iso = day.isocalendar()
        return cls(iso.year, iso.week)

    @classmethod
    def parse(cls, label: str) -> IsoWeek:
        """``2026-W47`` → IsoWeek; ValueError with a clear message otherwise."""
        try:
            year_text, week_text = label.strip().upper().split("-W")
            week = cls(int(year_text), int(week_text))
            date.fromisocalendar(week.year, week.week, 1)
        except ValueError as exc:
            raise ValueError(f"an ISO week looks like 2026-W47, got {label!r}") from exc
        return week

    @property
    def start(self) -> date:
        """Monday."""
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def end(self) -> date:
        """Sunday (inclusive)."""
        return self.start + 6 * _DAY

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    def previous(self) -> IsoWeek:
        return IsoWeek.containing(self.start - 7 * _DAY)

    def next(self) -> IsoWeek:
        return IsoWeek.containing(self.start + 7 * _DAY)

    def __str__(self) -> str:
        return self.label


def report_week(moment: datetime) -> IsoWeek:
    """The last complete ISO week of UTC days at ``moment``."""
    return IsoWeek.containing(ensure_utc(moment).date()).previous()


def latest_occurrence(now: datetime, weekday: str, at: time, tz: ZoneInfo) -> datetime:
    """The newest scheduled moment (``weekday`` at ``at`` in ``tz``) at or before ``now``, in UTC."""
    index = WEEKDAYS.index(weekday)
    local = ensure_utc(now).astimezone(tz)
    day = local.date() - timedelta(days=(local.weekday() - index) % 7)
    candidate = datetime.combine(day, at, tzinfo=tz)
    if candidate > local:
        candidate = datetime.combine(day - 7 * _DAY, at, tzinfo=tz)
    return ensure_utc(candidate)


def due_week(now: datetime, weekday: str, at: time, tz: ZoneInfo) -> IsoWeek:
    """The week whose digest is due at ``now``: the last complete week at the latest occurrence.

    Between two occurrences the answer does not change, so every run in that span (the scheduled
    one, a start-up catch-up, a retry after a failed post) agrees on one week to post once.
    """
    return report_week(latest_occurrence(now, weekday, at, tz))
