"""The digest chart: one PNG, made with matplotlib's Agg backend (no display needed).

Left: daily spend over the last eight weeks, stacked by provider (the reported week shaded).
Right: each budgeted project's share of its monthly budget used, against the share of the month
elapsed (a bar past the line is spending ahead of the calendar). Money is converted to float only
here, for drawing; every figure printed in the digest comes from the exact ``Decimal`` values.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: a server has no display

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from aispend.digest.content import Digest
from aispend.records import PROVIDERS

__all__ = ["PNG_SIGNATURE", "chart_alt_text", "render_chart"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOURS = {"openai": "#10a37f", "openrouter": "#6467f2"}
_NAMES = {"openai": "OpenAI", "openrouter": "OpenRouter"}
_STATUS_COLOURS = {"over": "#d93f3f", "at_risk": "#f0a020"}
_DEFAULT_BAR = "#4a90d9"


def _usd(value: float, _pos: object = None) -> str:
    return f"${value:,.0f}"


def render_chart(digest: Digest, *, dpi: int = 100) -> bytes:
    """The chart as PNG bytes. Uses the object-oriented ``Figure`` API (no pyplot global state),
    so concurrent jobs never draw into each other's figure."""
    chart = digest.chart
    budgets = chart.budgets
    figure = Figure(figsize=(12, 4.8), dpi=dpi, layout="constrained")
    spend_ax, budget_ax = figure.subplots(1, 2, width_ratios=(3, 2))

    days = list(chart.days)
    xs = list(range(len(days)))
    bottoms = [0.0] * len(days)
    for provider in PROVIDERS:
        values = [float(v) for v in chart.by_provider.get(provider, ())]
        if not values:
            continue
        spend_ax.bar(
            xs,
            values,
            bottom=bottoms,
            width=0.85,
            color=_COLOURS[provider],
            label=_NAMES[provider],
        )
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    week = digest.week
    if week.start in days:
        first = days.index(week.start)
        spend_ax.axvspan(first - 0.5, first + 6.5, color="#999999", alpha=0.12)
    spend_ax.set_title(f"Daily spend, last {len(days) // 7} weeks (UTC days)", loc="left")
    spend_ax.yaxis.set_major_formatter(FuncFormatter(_usd))
    mondays = [i for i, day in enumerate(days) if day.weekday() == 0]
    spend_ax.set_xticks(mondays, [f"{days[i]:%b} {days[i].day}" for i in mondays], fontsize=8)
    spend_ax.legend(loc="upper left", frameon=False)
    spend_ax.spines[["top", "right"]].set_visible(False)
    spend_ax.set_xlim(-1, len(days))

    month = f"{chart.budget_month:%B %Y}"
    if budgets:
        names = [b.project for b in reversed(budgets)]
        used = [float(b.used_percent) for b in reversed(budgets)]
        colours = [_STATUS_COLOURS.get(b.status, _DEFAULT_BAR) for b in reversed(budgets)]
        budget_ax.barh(names, used, color=colours)
        budget_ax.axvline(float(chart.month_elapsed_percent), color="#333333", linestyle="--", linewidth=1)
        budget_ax.axvline(100.0, color="#d93f3f", linestyle=":", linewidth=1)
        budget_ax.text(
            float(chart.month_elapsed_percent),
            len(names) - 0.4,
            f" {chart.month_elapsed_percent}% of month elapsed",
            fontsize=8,
            va="bottom",
        )
        budget_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _p: f"{v:.0f}%"))
        budget_ax.set_xlim(0, max(110.0, *used, float(chart.month_elapsed_percent)) * 1.05)
        more = f" (top {len(budgets)}; {chart.budgets_left_out} more)" if chart.budgets_left_out else ""
        budget_ax.set_title(f"Budget used, {month}{more}", loc="left")
    else:
        budget_ax.text(0.5, 0.5, "no project has a monthly budget", ha="center", va="center")
        budget_ax.set_axis_off()
        budget_ax.set_title(f"Budget used, {month}", loc="left")
    budget_ax.spines[["top", "right"]].set_visible(False)
    figure.suptitle(f"AI spend · week {week.week} ({week.start:%b %d} – {week.end:%b %d})", x=0.01, ha="left")

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def chart_alt_text(digest: Digest) -> str:
    """What the chart shows, for screen readers (Slack's ``alt_txt``)."""
    week = digest.week
    return (
        f"Daily AI spend by provider over the {len(digest.chart.days) // 7} weeks to {week.end:%b %d}, "
        f"and budget used per project against {digest.chart.month_elapsed_percent}% of "
        f"{digest.chart.budget_month:%B} elapsed."
    )
