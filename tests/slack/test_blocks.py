"""Pure Block Kit builders: the right figures, Slack's limits, and escaping."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from aispend.slack import blocks as b
from aispend.slack.blocks import (
    MAX_HOME_BLOCKS,
    MAX_MESSAGE_BLOCKS,
    MAX_SECTION_CHARS,
    Message,
    budget_bar,
    credits_message,
    health_message,
    help_message,
    models_message,
    project_message,
    projects_message,
    routes_message,
    sparkline,
    unattributed_message,
)
from aispend.slack.home import home_view
from aispend.spend.model import ModelSpend, Unattributed, UnattributedRef
from aispend.spend.visibility import OPERATOR, Audience
from tests.slack.conftest import ADMIN, NOW, OWNER, STRANGER, InMemoryReader, joined

BERLIN = ZoneInfo("Europe/Berlin")
D = Decimal


@pytest.fixture
def data() -> InMemoryReader:
    return InMemoryReader()


def assert_within_limits(message: Message, limit: int = MAX_MESSAGE_BLOCKS) -> None:
    assert message.text
    assert len(message.blocks) <= limit
    for block in message.blocks:
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10


def project(data: InMemoryReader, name: str) -> Message:
    report = data.project_report(name, NOW)
    assert report is not None
    return project_message(report, tz=BERLIN, last_poll_at=data.health(NOW).last_poll_at)


def test_project_answer_has_the_figures(data: InMemoryReader) -> None:
    message = project(data, "search")
    text = joined(message.blocks)
    assert "search · November 2026" in text
    assert "*$1,234.57* spent this month" in text
    assert "▰▰▰▰▰▰▱▱▱▱ 62%" in text and "$2,000.00 budget" in text
    assert "On track" in text and "$1,371.74" in text
    assert "`$1,000.00`  OpenAI" in text and "`  $234.57`  OpenRouter" in text
    assert "gpt-4o · OpenAI" in text and "google/gemini-flash" in text
    assert "mistral/mistral-large" not in text and "+1 more" in text  # top 5 only
    assert "<@U0123OWNER>" in text
    assert "today's figures are provisional" in text
    assert "last poll Nov 27 12:55 (Europe/Berlin)" in text  # 11:55 UTC shown in config.tz
    spark = text.split("*Last 14 days*  `")[1].split("`")[0]
    assert len(spark) == 14 and set(spark) <= set("▁▂▃▄▅▆▇█")
    assert "provisional since Fri Nov 27" in text
    assert "$1,234.57" in message.text and "62%" in message.text  # fallback carries the gist
    assert_within_limits(message)


def test_pace_wording_per_status(data: InMemoryReader) -> None:
    assert "forecast after 3 days of data" in joined(project(data, "labs").blocks)
    atlas = joined(project(data, "atlas").blocks)
    assert "At risk" in atlas and "$533.33" in atlas and "Sun Nov 29" in atlas and "96%" in atlas
    billing = joined(project(data, "billing").blocks)
    assert "No budget set" in billing and "<!subteam^S0GROUP>" in billing and "▰" not in billing
    report = data.project_report("atlas", NOW)
    assert report is not None
    over = replace(report, pace=replace(report.pace, status="over", used_percent=D(130)))
    text = joined(project_message(over, tz=BERLIN, last_poll_at=None).blocks)
    assert "Over budget since Sun Nov 29" in text and "▰▰▰▰▰▰▰▰▰▰ 130%" in text and "no poll yet" in text


def test_budget_bar_and_sparkline() -> None:
    assert budget_bar(D(42)) == "▰▰▰▰▱▱▱▱▱▱ 42%"
    assert budget_bar(D(0)) == "▱" * 10 + " 0%"
    assert budget_bar(D("250.4")) == "▰" * 10 + " 250%"
    assert sparkline([D(0), D(1), D(2), D(4), D(8)]) == "▁▂▃▅█"
    assert sparkline([D(0)] * 3) == "▁▁▁"
    assert sparkline([]) == ""


def test_projects_hide_restricted_figures(data: InMemoryReader) -> None:
    month = data.team_report(NOW, audience=Audience.user(STRANGER))
    text = joined(projects_message(month, tz=BERLIN, last_poll_at=None).blocks)
    assert "*search*  62% of $2,000.00" in text and "$1,234.57" in text
    assert ":lock: *atlas*" in text and "$480.00" not in text and "96%" not in text
    assert "$75.25" not in text
    assert "$50.00" in text and "unattributed" in text
    assert "*Total*" not in text and "$1,851.82" not in text  # the team total gives them away
    # What is shown adds up (search + labs + unattributed), and says that something is left out.
    assert "*Total shown* `$1,296.57`  OpenAI $1,054.10 · OpenRouter $242.47" in text
    assert "Spend of private projects you can't see is left out" in text
    # Locked lines come after every figure, so their rank cannot hint at their size.
    assert text.index("*labs*") < text.index(":lock: *atlas*") < text.index(":lock: *billing*")
    shared = joined(
        projects_message(
            data.team_report(NOW, audience=Audience.channel("C1")), tz=BERLIN, last_poll_at=None, shared=True
        ).blocks
    )
    assert "Shared in the channel" in shared and "$480.00" not in shared
    admin = joined(
        projects_message(
            data.team_report(NOW, audience=Audience.user(ADMIN)), tz=BERLIN, last_poll_at=None
        ).blocks
    )
    assert "$480.00" in admin and "*Total* `$1,851.82`" in admin and "OpenAI $1,534.10" in admin
    assert ":lock:" not in admin


def test_credits(data: InMemoryReader) -> None:
    text = joined(credits_message(data.runway(NOW, audience=OPERATOR), tz=BERLIN).blocks)
    for expected in ("$123.45", "$29.40/day", "7-day average", "4.2 days", "Tue Dec 1", "medium", "low"):
        assert expected in text
    assert "$4.50 of $50.00 left (9%)" in text and "search-prod" in text
    stale = replace(data.runway(NOW, audience=OPERATOR), stale=True, status="stale")
    assert "stale" in joined(credits_message(stale, tz=BERLIN).blocks)
    unknown = replace(data.runway(NOW, audience=OPERATOR), balance=None, status="unknown", low_keys=())
    assert "No OpenRouter credit reading yet" in joined(credits_message(unknown, tz=BERLIN).blocks)


def test_models_mix(data: InMemoryReader) -> None:
    text = joined(models_message(data.mix(NOW, audience=OPERATOR)).blocks)
    assert "`$300.00`" in text and "`$250.00`" in text
    assert "`50.0%` `$150.00`  gpt-4o · OpenAI  ↓ -10.0 pp" in text
    assert "deepseek/deepseek-r1 · OpenRouter  :new: NEW" in text


def test_routes_side_by_side(data: InMemoryReader) -> None:
    text = joined(routes_message(data.routes(NOW, audience=OPERATOR)).blocks)
    assert "`$150.00` `$15.00/1M`  Anthropic (75%)" in text
    assert "` $50.00` `$16.67/1M`  Amazon Bedrock (25%)" in text
    assert text.index("claude-3.5-sonnet") < text.index("llama-3.1-70b")


def test_unattributed_tells_how_to_fix(data: InMemoryReader) -> None:
    text = joined(unattributed_message(data.unattributed, month=NOW.date().replace(day=1)).blocks)
    assert "`$42.10`  OpenAI" in text and "` $7.90`  OpenRouter" in text
    assert "`proj_zzz`" in text and "Legacy &lt;script&gt; &amp; co" in text
    assert "aispend.yaml" in text and "openai_projects" in text
    empty = unattributed_message(Unattributed({}, ()), month=NOW.date())
    assert "Every dollar" in joined(empty.blocks)


def test_health_says_no_permission_never_zero(data: InMemoryReader) -> None:
    text = joined(health_message(data.health(NOW), tz=BERLIN).blocks)
    assert "OpenRouter `credits`: no permission" in text
    assert "$0" not in text
    assert "HTTP 502 &lt;html&gt;" in text and "<html>" not in text
    assert "OpenAI refused costs grouped by API key" in text
    assert "Last poll Nov 27 12:55 (Europe/Berlin)" in text


def test_fifty_block_limit_with_and_more() -> None:
    refs = tuple(
        UnattributedRef("openai", "openai_project", f"proj_{i:04d}_" + "x" * 80, None, D(i))
        for i in range(3000)
    )
    message = unattributed_message(Unattributed({"openai": D(500500)}, refs), month=NOW.date())
    assert_within_limits(message)
    assert len(message.blocks) == MAX_MESSAGE_BLOCKS
    last = message.blocks[-1]
    assert last["type"] == "context" and "…and" in last["elements"][0]["text"]


def test_section_text_is_clipped_and_headers_too(data: InMemoryReader) -> None:
    report = data.project_report("search", NOW)
    assert report is not None
    huge = replace(report, by_model=(ModelSpend("openai", "m" * 5000, D(1)),))
    message = project_message(huge, tz=BERLIN, last_poll_at=None)
    assert_within_limits(message)
    assert any(s["text"]["text"].endswith("…") for s in message.blocks if s["type"] == "section")
    assert len(b.header("h" * 500)["text"]["text"]) == 150


def test_provider_text_is_escaped(data: InMemoryReader) -> None:
    report = data.project_report("search", NOW)
    assert report is not None
    evil = replace(report, by_model=(ModelSpend("openrouter", "<!channel> & <@U1> <https://x|y>", D(1)),))
    text = joined(project_message(evil, tz=BERLIN, last_poll_at=None).blocks)
    assert "&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;https://x|y&gt;" in text
    assert "<!channel>" not in text and "<@U1>" not in text


def test_help_lists_every_command_and_has_no_raw_brackets() -> None:
    message = help_message()
    text = joined(message.blocks)
    for word in ("project", "projects", "credits", "models", "routes", "unattributed", "health", "share"):
        assert f"{word}" in text
    assert "<" not in text and ">" not in text and "<" not in message.text


def test_home_view_shows_the_viewers_projects(data: InMemoryReader) -> None:
    def view(user: str) -> str:
        return joined(
            home_view(
                config=data.config,
                month=data.team_report(NOW, audience=Audience.user(user)),
                runway=data.runway(NOW, audience=Audience.user(user)),
                user_id=user,
                last_poll_at=NOW,
            )["blocks"]
        )

    owner = view(OWNER)
    assert "*search*" in owner and "*atlas*" not in owner and "$1,234.57" in owner
    # The headline is what the owner may see: public projects and unattributed spend.
    assert "`$1,296.57`" in owner and "$1,851.82" not in owner and "$480.00" not in owner
    assert "Spend of private projects you can't see is left out" in owner
    assert "▰▰▰▰▰▰▱▱▱▱ 62%" in owner and "On track" in owner
    assert "$123.45" in owner and "4.2 days" in owner  # credit runway
    assert "Open alerts" in owner and "No open alerts" in owner  # empty state for now
    admin = view(ADMIN)
    assert all(f"*{name}*" in admin for name in ("search", "atlas", "billing", "labs"))
    assert "$1,851.82" in admin and "left out" not in admin
    assert "You don't own any project" in view(STRANGER)


def test_home_view_stays_within_100_blocks(data: InMemoryReader) -> None:
    base = data.team_report(NOW, audience=OPERATOR)
    many = replace(base, projects=tuple(replace(base.projects[0], project=f"p{i}") for i in range(300)))
    view = home_view(
        config=data.config,
        month=many,
        runway=data.runway(NOW, audience=OPERATOR),
        user_id=ADMIN,
        last_poll_at=NOW,
    )
    assert len(view["blocks"]) == MAX_HOME_BLOCKS
    text = joined(view["blocks"])
    assert "…and" in text and "OpenRouter credit runway" in text and "Open alerts" in text


def test_a_button_without_a_value_leaves_the_key_out() -> None:
    assert "value" not in b.button("Refresh", "act")
    assert b.button("Open", "act", "p1")["value"] == "p1"
