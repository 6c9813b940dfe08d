"""The Bolt app through ``app.dispatch``: answers, share, errors, Socket Mode, and a fuzz."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl, quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk import WebClient

from aispend.metrics import Metrics
from aispend.money import fmt_usd
from aispend.reader import SpendReader
from aispend.slack.app import build_app
from aispend.slack.home import MemoryHomeAudience
from aispend.spend.visibility import Audience
from tests.fakes.fake_slack import FakeSlack
from tests.slack.conftest import (
    ADMIN,
    NOW,
    OWNER,
    SECRET,
    STRANGER,
    CountingReader,
    all_texts,
    command_body,
    home_opened_body,
    joined,
    signed_request,
)


def action_request(action_id: str, user: str = OWNER) -> BoltRequest:
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "team": {"id": "T0FAKE"},
        "actions": [{"action_id": action_id, "block_id": "b", "type": "button", "action_ts": "1"}],
    }
    return signed_request("payload=" + quote(json.dumps(payload)))


def dispatch(
    app: App, text: str, *, user: str = OWNER, response_url: str = "http://127.0.0.1:9/x"
) -> dict[str, Any]:
    response = app.dispatch(signed_request(command_body(text, user=user, response_url=response_url)))
    assert response.status == 200, response.body
    body: dict[str, Any] = json.loads(response.body)
    return body


def test_project_answer_is_in_the_ack(bolt_app: App, reader: SpendReader) -> None:
    body = dispatch(bolt_app, "project search")
    report = reader.project_report("search", NOW)
    assert report is not None
    assert body["response_type"] == "ephemeral"
    assert fmt_usd(report.total) in body["text"]
    assert fmt_usd(report.total) in joined(body["blocks"])


def test_unknown_project_suggests(bolt_app: App) -> None:
    body = dispatch(bolt_app, "project serch")
    assert "Did you mean *search*?" in body["text"]


def test_bare_project_name_is_a_project_command(bolt_app: App) -> None:
    assert "search · November 2026" in joined(dispatch(bolt_app, "search")["blocks"])


def test_private_project_refused_without_figures(bolt_app: App, counting: CountingReader) -> None:
    body = dispatch(bolt_app, "project atlas", user=STRANGER)
    assert ":lock:" in joined(body) and "$" not in joined(body)
    assert "project_report" not in counting.calls
    assert "$480.00" in joined(dispatch(bolt_app, "project atlas", user=ADMIN))


def test_models_for_a_private_project_is_refused(bolt_app: App) -> None:
    assert ":lock:" in joined(dispatch(bolt_app, "models atlas", user=STRANGER))
    assert "Model mix · search" in joined(dispatch(bolt_app, "models search", user=STRANGER))


def test_share_posts_in_channel(bolt_app: App, fake: FakeSlack, reader: SpendReader) -> None:
    body = dispatch(bolt_app, "credits share", response_url=fake.response_url("share"))
    assert body["response_type"] == "ephemeral" and "Posted" in body["text"]
    (posted,) = fake.wait_for("/response/share")
    assert posted.data["response_type"] == "in_channel"
    balance = reader.runway(NOW, audience=Audience.channel()).balance
    assert balance is not None and fmt_usd(balance) in joined(posted.data)


def test_shared_project_list_hides_private_figures_even_for_admins(bolt_app: App, fake: FakeSlack) -> None:
    assert "$480.00" in joined(dispatch(bolt_app, "projects", user=ADMIN))
    dispatch(bolt_app, "projects share", user=ADMIN, response_url=fake.response_url("list"))
    (shared,) = fake.wait_for("/response/list")
    text = joined(shared.data)
    assert ":lock: *atlas*" in text and "$480.00" not in text and "*Total*" not in text
    assert "Shared in the channel, so the spend of private projects is left out" in text


def test_failed_share_is_counted(bolt_app: App, fake: FakeSlack, metrics: Metrics) -> None:
    body = dispatch(bolt_app, "credits share", response_url=fake.base_url + "/expired")
    assert "Posted" in body["text"]
    fake.wait_for("/expired")
    deadline = time.monotonic() + 5
    while metrics.value("aispend_slack_errors_total", where="share") == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert metrics.value("aispend_slack_errors_total", where="share") == 1


def test_share_of_a_private_project_stays_ephemeral(bolt_app: App, fake: FakeSlack) -> None:
    body = dispatch(bolt_app, "project atlas share", user=ADMIN, response_url=fake.response_url("no"))
    assert "won't post it in the channel" in joined(body) and "$480.00" in joined(body)
    assert fake.calls("/response/no") == []


def test_reader_failure_gives_a_friendly_ephemeral(web_client: WebClient, reader: SpendReader) -> None:
    metrics = Metrics()

    class Broken(CountingReader):
        def runway(self, now: Any, *, audience: Any) -> Any:
            raise RuntimeError("database is on fire")

    app = build_app(
        reader=Broken(reader), client=web_client, signing_secret=SECRET, clock=lambda: NOW, metrics=metrics
    )
    body = dispatch(app, "credits")
    assert body["response_type"] == "ephemeral" and "Something went wrong" in body["text"]
    assert "fire" not in json.dumps(body)
    assert metrics.value("aispend_slack_errors_total", where="command") == 1


def test_error_handler_turns_a_listener_crash_into_200(web_client: WebClient, reader: SpendReader) -> None:
    def crash(app: App) -> None:
        def explode(ack: Any) -> None:
            raise RuntimeError("boom")

        app.action("aispend_explode")(explode)

    app = build_app(reader=reader, client=web_client, signing_secret=SECRET, extensions=[crash])
    response = app.dispatch(action_request("aispend_explode"))
    assert response.status == 200
    assert "Something went wrong" in response.body


def test_any_aispend_action_is_acknowledged(bolt_app: App) -> None:
    assert bolt_app.dispatch(action_request("aispend_alert_snooze")).status == 200


def test_home_refresh_button_publishes(bolt_app: App, fake: FakeSlack, audience: MemoryHomeAudience) -> None:
    assert bolt_app.dispatch(action_request("aispend_home_refresh")).status == 200
    (published,) = fake.wait_for("/api/views.publish")
    assert published.data["user_id"] == OWNER
    assert OWNER in audience.users()


def test_home_opened_messages_tab_is_ignored(
    bolt_app: App, fake: FakeSlack, audience: MemoryHomeAudience
) -> None:
    request = signed_request(home_opened_body(OWNER, tab="messages"), json_body=True)
    assert bolt_app.dispatch(request).status == 200
    fake.wait_for("/api/auth.test")
    assert fake.calls("/api/views.publish") == [] and len(audience) == 0


def test_socket_mode_gives_the_same_answer(bolt_app: App) -> None:
    form = dict(parse_qsl(command_body("project search"), keep_blank_values=True))
    via_socket: BoltResponse = bolt_app.dispatch(BoltRequest(mode="socket_mode", body=form))
    via_http = bolt_app.dispatch(signed_request(command_body("project search")))
    assert via_socket.status == 200
    assert json.loads(via_socket.body) == json.loads(via_http.body)


def test_metrics_count_commands(bolt_app: App, metrics: Metrics) -> None:
    dispatch(bolt_app, "health")
    dispatch(bolt_app, "nonsense")
    assert metrics.value("aispend_slack_commands_total", command="health") == 1
    assert metrics.value("aispend_slack_commands_total", command="help") == 1


# ---------------------------------------------------------------------------------------------- fuzz

_TRICKY = st.sampled_from(
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<@U0STRANGER>",
        "<#C123|general>",
        "<https://evil.example|click>",
        "&lt;!here&gt;",
        "&",
        "<",
        ">",
        "`",
        "*",
        "project",
        "models",
        "search",
        "atlas",
        "share",
        "help",
        "@here",
        "\u202e",
    ]
)
_TEXT = st.lists(st.one_of(_TRICKY, st.text(max_size=12)), max_size=6).map(" ".join)
# Our own tokens: owner mentions of the configured projects. Everything else must be inert.
_OWN_TOKENS = re.compile(r"<@U0123OWNER>|<@U0ATLAS>|<@U0LABS>|<!subteam\^S0GROUP>")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_TEXT, user=st.sampled_from([OWNER, STRANGER, ADMIN]))
def test_fuzz_command_text_never_500_and_never_injects(
    bolt_app: App, fake: FakeSlack, text: str, user: str
) -> None:
    response = bolt_app.dispatch(
        signed_request(command_body(text, user=user, response_url=fake.response_url("fz")))
    )
    assert response.status == 200, response.body
    body = json.loads(response.body)
    for value in all_texts(body):
        stripped = _OWN_TOKENS.sub("", value)
        assert "<" not in stripped and ">" not in stripped, (text, value)
