"""Reports from the store's rollups instead of every stored row.

The store keeps money twice more, summed at ingest: per UTC month and grouping (model, line item
or route) and per UTC day and attribution reference. A month report then needs the month rows for
``by_model``/``by_detail``/totals and the day rows for the daily series and pace. Attribution stays
here: the same :class:`~aispend.spend.attribution.Matcher` decides every row, so month totals and
daily totals of a project always cover the same rows.

Daily totals arrive already summed per project: the service attributes each reference once with
the same matcher and lets the database sum the day rows per project, so a 300-project month is a
few thousand sums instead of tens of thousands of row objects (what made peers' reports slow).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from aispend.clock import ensure_utc, month_start
from aispend.spend.attribution import Matcher, attribute
from aispend.spend.model import MonthReport, ProjectReport, SpendLine
from aispend.spend.reports import build_project_report

__all__ = ["month_report_from_rollups", "project_report_from_rollups"]


def _provisional_by_project(fills: Iterable[SpendLine], matcher: Matcher) -> dict[str, set[date]]:
    marked: dict[str, set[date]] = {}
    for line in fills:
        project = matcher.project_for(line)
        if project is not None:
            marked.setdefault(project, set()).add(line.day)
    return marked


def month_report_from_rollups(
    matcher: Matcher,
    month_lines: Sequence[SpendLine],
    daily: Mapping[str, Mapping[date, Decimal]],
    fills: Sequence[SpendLine],
    month: date,
    now: datetime,
) -> MonthReport:
    """Every project's report for one UTC month from the rollups.

    ``month_lines``: one line per month rollup row (any day inside the month); ``daily``: per
    project (as the matcher attributes each reference) and UTC day, *including* ``fills``;
    ``fills``: provisional
    OpenRouter lines from :func:`~aispend.spend.reports.fill_openrouter_gaps` for days
    ``/activity`` does not cover yet (added to the month totals here).
    """
    now = ensure_utc(now)
    split = attribute([*month_lines, *fills], matcher)
    provisional = _provisional_by_project(fills, matcher)
    projects = tuple(
        build_project_report(
            project,
            split.lines_for(project.name),
            month,
            now,
            daily=daily.get(project.name, {}),
            provisional_days=provisional.get(project.name, set()),
        )
        for project in matcher.projects
    )
    return MonthReport(
        month=month_start(month),
        as_of=now,
        projects=projects,
        unattributed=split.unattributed,
        provider_totals=split.provider_totals,
    )


def project_report_from_rollups(
    matcher: Matcher,
    project: str,
    month_lines: Sequence[SpendLine],
    daily: Mapping[str, Mapping[date, Decimal]],
    fills: Sequence[SpendLine],
    month: date,
    now: datetime,
) -> ProjectReport:
    """One project's report from the rollups; ``KeyError`` for an unknown project."""
    config = matcher.project(project)
    if config is None:
        raise KeyError(project)
    mine = [line for line in (*month_lines, *fills) if matcher.project_for(line) == config.name]
    provisional = _provisional_by_project(fills, matcher)
    return build_project_report(
        config,
        mine,
        month,
        ensure_utc(now),
        daily=daily.get(config.name, {}),
        provisional_days=provisional.get(config.name, set()),
    )
