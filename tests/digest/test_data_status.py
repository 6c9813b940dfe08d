"""The digest with providers that have no current data: unknown, never $0.00 or a calm week."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from slack_sdk.models.blocks import Block

from aispend.digest.content import Digest, DigestInputs, build_digest
from aispend.slack.digest import digest_message
from aispend.spend.attribution import build_matcher
from aispend.spend.model import DataStatus, ProviderData, SpendLine
from aispend.spend.reports import team_report
from aispend.terminal import render_blocks
from tests.digest.test_content import CONFIG, NOW, WEEK, _build, _daily, _lines
from tests.spend.factories import D, at, spend_from_lines

TZ = ZoneInfo("Europe/Berlin")
OK = ProviderData("ok", at(2026, 11, 23, 7))


def _build_with(data: DataStatus, lines: list[SpendLine] | None = None) -> Digest:
    lines = _lines() if lines is None else lines
    matcher = build_matcher(CONFIG.team_projects())
    month = date(2026, 11, 1)
    return build_digest(
        DigestInputs(
            week=WEEK,
            now=NOW,
            matcher=matcher,
            lines=lines,
            daily=_daily(lines, matcher),
            month=team_report(matcher, spend_from_lines(matcher, lines, month, NOW), NOW, data),
            runway=None,
            alerts=None,
            last_poll_at=NOW,
            data=data,
        )
    )


def _rendered(digest: Digest) -> tuple[str, str, str]:
    """Block Kit (validated) as one string, the terminal text and the notification text."""
    message = digest_message(digest, tz=TZ)
    assert 0 < len(message.blocks) <= 50
    for block in message.blocks:
        parsed = Block.parse(block)
        assert parsed is not None, block
        parsed.validate_json()
    return str(message.blocks), render_blocks(message.blocks), message.text


def test_a_403_openai_is_unknown_with_its_reason_and_left_out_of_totals_movers_and_pace() -> None:
    data: DataStatus = {"openai": ProviderData("no_permission", None, "Missing scopes"), "openrouter": OK}
    digest = _build_with(data)
    # Only OpenRouter's visible lines count: search 10 -> 10 (routes), unattributed key $3 this week.
    assert set(digest.by_provider) == {"openrouter"}
    assert digest.total.now == D(13) and digest.total.before == D(10)
    assert all(p.why is None or p.why.provider == "openrouter" for p in digest.projects)
    assert all(m.provider == "openrouter" for m in digest.new_models + digest.model_shifts)
    assert "openai" not in digest.chart.by_provider
    assert [r.provider for r in digest.unattributed_refs] == ["openrouter"]
    assert not digest.empty
    blocks, text, fallback = _rendered(digest)
    for rendered in (blocks, text):
        assert "OpenAI figures unknown: no permission" in rendered
        assert "OpenAI unknown · no permission" in rendered
        assert "OpenAI $" not in rendered and "$0.00" not in rendered
        assert "(from OpenRouter only)" in rendered
        assert "OpenAI left out" in rendered  # the budget pace says it lacks OpenAI
        assert "gpt-4" not in rendered  # OpenAI's models are not news when its figures are unknown
    lead = text.split("\n")
    assert any("OpenAI figures unknown" in line for line in lead[:4])  # it leads the post
    assert "OpenAI figures unknown" in fallback


def test_a_never_polled_provider_names_the_reason_and_an_unconfigured_one_is_absent() -> None:
    data: DataStatus = {"openai": OK, "openrouter": ProviderData("never_polled")}
    blocks, text, _ = _rendered(_build_with(data))
    for rendered in (blocks, text):
        assert "OpenRouter figures unknown: not polled yet" in rendered
        assert "OpenRouter $" not in rendered and "$0.00" not in rendered
        assert "OpenRouter routes" not in rendered

    data = {"openai": OK, "openrouter": ProviderData("not_configured")}
    digest = _build_with(data)
    assert not digest.missing and set(digest.by_provider) == {"openai"}
    blocks, text, _ = _rendered(digest)
    assert "OpenRouter" not in blocks and "OpenRouter" not in text
    assert "unknown" not in text


def test_nothing_known_is_not_a_calm_week() -> None:
    data: DataStatus = {"openai": ProviderData("never_polled"), "openrouter": ProviderData("stale", NOW)}
    digest = _build_with(data, [])
    assert not digest.empty and not digest.known
    blocks, text, fallback = _rendered(digest)
    for rendered in (blocks, text, fallback):
        assert "$0.00" not in rendered and "No AI spend" not in rendered
    assert "Team spend unknown" in text
    assert "OpenAI figures unknown: not polled yet" in text
    assert "OpenRouter figures unknown: no successful poll since" in text
    assert "unknown" in fallback


def test_with_every_provider_ok_the_digest_is_unchanged() -> None:
    data: DataStatus = {"openai": OK, "openrouter": OK}
    with_status = _build_with(data)
    without = _build(_lines())
    assert digest_message(with_status, tz=TZ) == digest_message(without, tz=TZ)
