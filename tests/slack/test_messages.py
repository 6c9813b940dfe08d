"""Wording helpers and mrkdwn escaping."""

from __future__ import annotations

from aispend.records import PollStatus
from aispend.slack import messages as msg
from aispend.slack.mrkdwn import code, escape, mention, user_text


def test_escape_replaces_ampersand_first() -> None:
    assert escape("a & <b> &lt;") == "a &amp; &lt;b&gt; &amp;lt;"


def test_user_text_neutralises_mentions_and_broadcasts() -> None:
    out = user_text("<!channel> <!here> <@U123> @here @channel @everyone")
    assert "<" not in out and ">" not in out
    assert "@here" not in out and "@channel" not in out and "@everyone" not in out
    assert len(user_text("x" * 500)) == 80


def test_user_text_keeps_a_backtick_from_breaking_its_code_span() -> None:
    assert f"`{user_text('a`b*c')}`" == "`aˋb*c`"


def test_escape_neutralises_invisible_characters_and_backticks() -> None:
    assert escape("k\u202eey`\u200b") == "k\ufffdeyˋ\ufffd"
    assert user_text("@here\u200b") == "@\u2060here\ufffd"  # our own word joiner survives


def test_mention_and_code() -> None:
    assert mention("U0123OWNER") == "<@U0123OWNER>"
    assert mention("S0GROUP") == "<!subteam^S0GROUP>"
    assert mention("<!channel>") == "&lt;!channel&gt;"
    assert code("a`b<c>") == "`aˋb&lt;c&gt;`"


def test_unknown_project_wording() -> None:
    assert msg.unknown_project("serch", ["search"], ["search"]).endswith("Did you mean *search*?")
    assert "Projects: *a*, *b*." in msg.unknown_project("zz", [], ["a", "b"])
    assert "No projects are configured" in msg.unknown_project("zz", [], [])


def test_refusal_reveals_no_figures() -> None:
    text = msg.refusal("atlas")
    assert "atlas" in text and "$" not in text


def test_every_status_has_wording() -> None:
    assert set(msg.HEALTH_STATUS) == set(PollStatus)
    assert "no permission" in msg.HEALTH_STATUS[PollStatus.PERMISSION_DENIED][1]
    assert "forecast after 3 days of data" in msg.pace_insufficient(1)
    assert msg.provider("openrouter") == "OpenRouter"
