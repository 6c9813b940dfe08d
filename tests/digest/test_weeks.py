"""ISO weeks of UTC days and which week's digest is due."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from aispend.digest.weeks import IsoWeek, due_week, latest_occurrence, report_week

BERLIN = ZoneInfo("Europe/Berlin")


def test_iso_week_runs_monday_to_sunday_across_a_year_boundary() -> None:
    week = IsoWeek.containing(date(2026, 12, 31))
    assert week == IsoWeek(2026, 53)
    assert (week.start, week.end) == (date(2026, 12, 28), date(2027, 1, 3))
    assert week.next() == IsoWeek(2027, 1)
    assert IsoWeek(2027, 1).previous() == week
    assert IsoWeek.parse("2026-w47") == IsoWeek(2026, 47)
    assert week.label == "2026-W53"


@pytest.mark.parametrize("text", ["2026-47", "W47", "2026-W54", "2025-W53"])
def test_bad_week_labels_are_refused_with_the_expected_shape(text: str) -> None:
    with pytest.raises(ValueError, match="2026-W47"):
        IsoWeek.parse(text)


def test_report_week_is_the_last_complete_week_in_utc_days() -> None:
    # Monday 00:30 in Berlin is still Sunday in UTC: that week is not complete yet.
    assert report_week(datetime(2026, 11, 22, 23, 30, tzinfo=UTC)) == IsoWeek(2026, 46)
    assert report_week(datetime(2026, 11, 23, 0, 0, tzinfo=UTC)) == IsoWeek(2026, 47)


def test_latest_occurrence_is_in_the_team_zone_and_at_or_before_now() -> None:
    at = time(9, 0)
    # Monday Nov 23 2026, 09:00 Berlin = 08:00 UTC.
    assert latest_occurrence(datetime(2026, 11, 23, 8, 0, tzinfo=UTC), "mon", at, BERLIN) == datetime(
        2026, 11, 23, 8, 0, tzinfo=UTC
    )
    assert latest_occurrence(datetime(2026, 11, 23, 7, 59, tzinfo=UTC), "mon", at, BERLIN) == datetime(
        2026, 11, 16, 8, 0, tzinfo=UTC
    )
    # Summer time: 09:00 Berlin = 07:00 UTC.
    assert latest_occurrence(datetime(2026, 7, 1, 12, 0, tzinfo=UTC), "wed", at, BERLIN) == datetime(
        2026, 7, 1, 7, 0, tzinfo=UTC
    )


def test_the_due_week_does_not_change_between_two_occurrences() -> None:
    at = time(9, 0)
    due = {
        due_week(datetime(2026, 11, day, hour, tzinfo=UTC), "mon", at, BERLIN)
        for day in range(23, 30)
        for hour in (0, 8, 12, 23)
        if (day, hour) != (23, 0)
    }
    assert due == {IsoWeek(2026, 47)}
    assert due_week(datetime(2026, 11, 23, 7, 0, tzinfo=UTC), "mon", at, BERLIN) == IsoWeek(2026, 46)
    assert due_week(datetime(2026, 11, 30, 8, 0, tzinfo=UTC), "mon", at, BERLIN) == IsoWeek(2026, 48)
