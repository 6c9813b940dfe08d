"""Hostile names from providers and hostile text from users, in every Slack answer.

A model, key or project name (or an echoed command) may carry backticks that would close or open a
code span, mention tokens, and invisible characters: zero-width spaces that make two names look
alike, bidi overrides that reverse what follows. Every answer is built with such names, checked
with slack_sdk's own Block Kit validation, and searched for anything that got through.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rich.console import Console
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from aispend.console import print_project, print_runway, print_team_report
from aispend.reader import EndpointHealth
from aispend.records import PollStatus
from aispend.slack.app import answer
from aispend.slack.blocks import (
    Message,
    credits_message,
    health_message,
    models_message,
    project_message,
    projects_message,
    routes_message,
    unattributed_message,
)
from aispend.slack.commands import parse_command
from aispend.slack.home import REFRESH_ACTION, home_view
from aispend.spend.model import KeyCap, ModelShare, ModelSpend, RouteCost, Unattributed, UnattributedRef
from aispend.spend.visibility import OPERATOR, Audience
from tests.slack.conftest import ADMIN, NOW, OWNER, InMemoryReader, all_texts

D = Decimal
BERLIN = ZoneInfo("Europe/Berlin")
RLO, ZWSP, ZWJ, LRI, BOM, ESC = "\u202e", "\u200b", "\u200d", "\u2066", "\ufeff", "\x1b"
INVISIBLE = (RLO, ZWSP, ZWJ, LRI, BOM, ESC, "\u2060\u2061")


def hostile(label: str) -> str:
    """A name that tries every trick at once (each part is checked for separately below)."""
    return f"{label}`x`{RLO}exe.{ZWSP}{ZWJ}{LRI}{BOM}{ESC}[31m <!channel> <@U1> &\nforged line"


def hostile_reader() -> InMemoryReader:
    data = InMemoryReader()
    search = data.reports[0]
    reports = (
        replace(search, by_model=(ModelSpend("openai", hostile("model"), search.total),)),
        *data.reports[1:],
    )
    refs = (
        UnattributedRef("openai", "openai_project", hostile("ref"), hostile("projname"), D(30)),
        UnattributedRef("openrouter", "openrouter_key", "a1b2c3", hostile("keyname"), D(12)),
    )
    return replace(
        data,
        reports=reports,
        unattributed=Unattributed(by_provider={"openai": D(30), "openrouter": D(12)}, refs=refs),
    )


def messages(data: InMemoryReader) -> dict[str, Message]:
    runway = replace(
        data.runway(NOW, audience=OPERATOR),
        low_keys=(KeyCap("a1b2c3", hostile("capkey"), D(50), D(1), D(2)),),
    )
    mix = replace(
        data.mix(NOW, audience=OPERATOR),
        models=(ModelShare("openrouter", hostile("mixmodel"), D(1), D(1), D(50), D(50), D(0), False),),
    )
    routes = replace(
        data.routes(NOW, audience=OPERATOR),
        routes=(RouteCost(hostile("routemodel"), hostile("upstream"), D(1), 1, 1000, D(1000), D(100)),),
    )
    health = replace(
        data.health(NOW),
        endpoints=(
            EndpointHealth("openai", hostile("endpoint"), PollStatus.ERROR, NOW, None, hostile("error")),
        ),
    )
    month = data.team_report(NOW, audience=OPERATOR)
    report = data.project_report("search", NOW)
    assert report is not None
    return {
        "project": project_message(report, tz=BERLIN, last_poll_at=NOW),
        "projects": projects_message(month, tz=BERLIN, last_poll_at=NOW),
        "credits": credits_message(runway, tz=BERLIN),
        "models": models_message(mix),
        "routes": routes_message(routes),
        "unattributed": unattributed_message(month.unattributed, month=month.month),
        "health": health_message(health, tz=BERLIN),
        "unknown command": answer(data, parse_command(hostile("cmd")), OWNER, NOW).message,
        "unknown project": answer(data, parse_command("project " + hostile("proj")), OWNER, NOW).message,
        "user text a`b*c": answer(data, parse_command("project a`b*c"), OWNER, NOW).message,
    }


def assert_inert(texts: list[str]) -> None:
    body = "\n".join(texts)
    for char in INVISIBLE:
        assert char not in body, f"{char!r} reached Slack"
    assert "<!channel>" not in body and "<@U1>" not in body
    for text in texts:
        for line in text.split("\n"):
            assert line.count("`") % 2 == 0, f"unbalanced code span in {line!r}"


@pytest.mark.parametrize("name", list(messages(hostile_reader())))
def test_every_answer_with_hostile_names_is_valid_block_kit_and_inert(name: str) -> None:
    message = messages(hostile_reader())[name]
    for block in message.blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    assert_inert([message.text, *all_texts(message.blocks)])


def test_names_keep_their_visible_characters_and_show_where_invisible_ones_were() -> None:
    text = "\n".join(all_texts(messages(hostile_reader())["project"].blocks))
    assert (
        "modelˋxˋ\ufffdexe.\ufffd\ufffd\ufffd\ufffd\ufffd[31m &lt;!channel&gt; &lt;@U1&gt; &amp; forged line"
        in text
    )


def test_a_name_never_forges_a_line_of_its_own() -> None:
    for message in messages(hostile_reader()).values():
        for text in [message.text, *all_texts(message.blocks)]:
            for line in text.split("\n"):
                assert not line.startswith("forged line"), line


def test_echoed_user_text_with_a_backtick_stays_in_its_code_span() -> None:
    text = "\n".join(all_texts(messages(hostile_reader())["user text a`b*c"].blocks))
    assert "`aˋb*c`" in text


def _view(user: str) -> dict[str, Any]:
    data = hostile_reader()
    runway = replace(
        data.runway(NOW, audience=OPERATOR),
        low_keys=(KeyCap("a1b2c3", hostile("capkey"), D(50), D(1), D(2)),),
    )
    return home_view(
        config=data.config,
        month=data.team_report(NOW, audience=Audience.user(user)),
        runway=runway,
        user_id=user,
        last_poll_at=NOW,
    )


@pytest.mark.parametrize("user", [OWNER, ADMIN])
def test_app_home_is_valid_and_its_refresh_button_sends_no_empty_value(user: str) -> None:
    view = _view(user)
    View(**view).validate_json()
    for block in view["blocks"]:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    buttons = [e for b in view["blocks"] if b["type"] == "actions" for e in b["elements"]]
    (refresh,) = [e for e in buttons if e["action_id"] == REFRESH_ACTION]
    assert "value" not in refresh
    assert_inert(all_texts(view["blocks"]))


# ------------------------------------------------------------------------------------ terminal


def _terminal(render: Callable[[Console], None]) -> str:
    out = io.StringIO()
    render(Console(file=out, width=300, highlight=False, color_system=None, soft_wrap=True))
    return out.getvalue()


def test_the_terminal_shows_hostile_names_inert_and_never_crashes_on_markup() -> None:
    data = hostile_reader()
    markup = "[/] [/bold] [red]"
    report = data.project_report("search", NOW)
    assert report is not None
    report = replace(report, by_model=(ModelSpend("openai", markup + hostile("model"), report.total),))
    runway = replace(
        data.runway(NOW, audience=OPERATOR),
        low_keys=(KeyCap("a1b2c3", markup + hostile("capkey"), D(50), D(1), D(2)),),
    )
    team = data.team_report(NOW, audience=OPERATOR)
    team = replace(team, projects=(replace(team.projects[0], owner=markup + "U0X"), *team.projects[1:]))
    texts = [
        _terminal(lambda console: print_project(report, console)),
        _terminal(lambda console: print_runway(runway, console)),
        _terminal(lambda console: print_team_report(team, console)),
    ]
    body = "\n".join(texts)
    for char in INVISIBLE:
        assert char not in body, f"{char!r} reached the terminal"
    assert markup + "model" in texts[0] and markup + "capkey" in texts[1] and markup + "U0X" in texts[2]
    assert not any(line.startswith("forged line") for line in body.splitlines())
