"""Block Kit of the weekly digest: valid blocks, the lead first, an empty week in one line."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from aispend.digest.content import Change, ProjectWeek
from aispend.slack.digest import change_text, digest_message
from aispend.terminal import render_blocks
from tests.digest.test_content import BEFORE, _build, _lines
from tests.spend.factories import D, oa

TZ = ZoneInfo("Europe/Berlin")


def _validate(blocks: list[dict[str, object]]) -> None:
    assert 0 < len(blocks) <= 50
    for block in blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()


def test_the_digest_is_valid_block_kit_and_leads_with_the_number_that_moved() -> None:
    message = digest_message(_build(_lines()), tz=TZ)
    _validate(message.blocks)
    assert message.blocks[0]["type"] == "header"
    lead = message.blocks[1]["text"]["text"]
    assert lead.startswith("*search* +$50.00 (+166.7%) week over week, mostly gpt-4.1 on OpenAI")
    text = render_blocks(message.blocks)
    for heading in (
        "By provider",
        "Top movers",
        "Budget pace",
        "Model mix",
        "OpenRouter routes",
        "Unattributed",
    ):
        assert heading in text
    assert "secret" not in text and "$900" not in text
    assert "owner-only project is left out" in text
    assert "provisional" in text
    assert "search" in message.text  # the notification says what moved


def test_an_empty_week_is_one_line() -> None:
    message = digest_message(_build([oa(BEFORE.start, "20", project="proj_s")]), tz=TZ)
    assert len(message.blocks) == 1
    _validate(message.blocks)
    line = message.blocks[0]["text"]["text"]
    assert "\n" not in line and line.startswith("No AI spend recorded in week 47")
    assert message.text == line


def test_names_from_providers_are_escaped() -> None:
    digest = _build(_lines())
    assert digest.lead is not None and digest.lead.why is not None
    evil = replace(digest.lead, project="<!channel>", why=replace(digest.lead.why, model="a<b>&c"))
    message = digest_message(replace(digest, lead=evil, movers=(evil,)), tz=TZ)
    _validate(message.blocks)
    body = str(message.blocks)
    assert "<!channel>" not in body and "&lt;!channel&gt;" in body and "a&lt;b&gt;&amp;c" in body


def test_change_text() -> None:
    assert change_text(Change(D(110), D(100))) == "▲ 10.0% (+$10.00)"
    assert change_text(Change(D(90), D(100))) == "▼ 10.0% (-$10.00)"
    assert change_text(Change(D(5), D(0))) == "new (+$5.00)"
    assert change_text(Change(D(5), D(5))) == "unchanged"
    assert ProjectWeek("p", None, Change(D(1), D(1)), None).spend.percent == D("0.0")
