"""The Bolt app factory: ``/aispend``, the App Home and button clicks, with no globals.

Answers come from the store through ``SpendReader`` and are returned *in* the acknowledgement
(``ack(response_type="ephemeral", …)``), so they use none of the response_url's five uses and
arrive inside Slack's 3 seconds. ``… share`` acks a short confirmation and posts the answer
``in_channel`` through ``respond``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse, Respond
from slack_sdk import WebClient

from aispend.clock import utcnow
from aispend.metrics import Metrics
from aispend.reader import BoundedReads, SpendReader, StoreUnavailable
from aispend.slack import messages as msg
from aispend.slack.access import audience_for, can_view
from aispend.slack.alert_blocks import alerts_list_message
from aispend.slack.blocks import (
    Message,
    credits_message,
    health_message,
    help_message,
    limit_blocks,
    models_message,
    project_message,
    projects_message,
    refusal_message,
    routes_message,
    section,
    text_message,
    unattributed_message,
    unknown_project_message,
)
from aispend.slack.commands import Command, parse_command, suggest
from aispend.slack.home import REFRESH_ACTION, AlertLister, HomeAudience, MemoryHomeAudience, publish_home
from aispend.slack.mrkdwn import escape, user_text
from aispend.slack.replay import MemoryLedger, ReplayLedger, fingerprint
from aispend.spend.visibility import Audience

COMMAND = "/aispend"
ANY_ACTION = re.compile(r"^aispend_")

# Store time one Slack answer may use: Slack wants the HTTP answer within 3 s, and a hung
# database must cost the user a polite "try again" rather than Slack's "operation_timeout".
ANSWER_BUDGET_SECONDS = 2.0
# Listener threads: each answer holds one for at most ANSWER_BUDGET_SECONDS (Bolt's default is 5).
LISTENER_THREADS = 16

log = logging.getLogger(__name__)


def _budget(reader: SpendReader) -> AbstractContextManager[None]:
    return reader.budget(ANSWER_BUDGET_SECONDS) if isinstance(reader, BoundedReads) else nullcontext()


@dataclass(frozen=True, slots=True)
class Answer:
    message: Message
    shareable: bool = False  # help, refusals and private projects never go to the channel
    share_refusal: str | None = None  # said instead when ``share`` was asked for but not allowed
    leaves_out: bool = False  # spend the audience may not see was left out (the answer says so)


def answer(
    reader: SpendReader,
    command: Command,
    user_id: str,
    now: datetime,
    alerts: AlertLister | None = None,
    channel_id: str | None = None,
) -> Answer:
    """The reply to one parsed command (pure apart from reading the store); ``alerts`` lists the
    open alerts (``/aispend alerts``).

    Team-wide answers are computed for their audience (``slack.access.audience_for``): the user
    who asked, or, with ``share``, every member of the channel, so a shared answer holds only
    what anyone there may see, whoever asked for it.
    """
    config = reader.config
    audience = audience_for(user_id, share=command.share, channel_id=channel_id)
    shared = audience.shared
    kind = command.kind
    if kind == "help" and command.not_understood and config.project(command.not_understood):
        kind, command = "project", replace(command, argument=command.not_understood)  # `/aispend search`
    match kind:
        case "help":
            note = None
            if command.missing_argument:
                note = msg.help_missing_project()
            elif command.not_understood:
                note = msg.help_unknown(user_text(command.not_understood))
            return Answer(help_message(note))
        case "project" | "models" if command.argument is not None:
            project = config.project(command.argument)
            if project is None:
                known = [p.name for p in config.projects]
                return Answer(
                    unknown_project_message(
                        user_text(command.argument), suggest(command.argument, known), known
                    )
                )
            if not can_view(config, project, user_id):
                return Answer(refusal_message(project.name))
            refusal = (
                msg.not_shareable_private(escape(project.name)) if project.visibility == "owner" else None
            )
            if kind == "models":
                # One project the asker may see: posted only when it is public, so the asker's
                # own view is what anyone would see (a private one is answered to them alone).
                mix = reader.mix(now, project.name, audience=Audience.user(user_id))
                found = reader.project_report(project.name, now)
                units = found.units if found is not None else ()
                return Answer(models_message(mix, units), refusal is None, refusal)
            report = reader.project_report(project.name, now)
            if report is None:  # the config changed under us
                return Answer(unknown_project_message(user_text(command.argument), [], []))
            last_poll = reader.last_poll_at()
            return Answer(
                project_message(report, tz=config.tz, last_poll_at=last_poll), refusal is None, refusal
            )
        case "models":
            mix = reader.mix(now, audience=audience)
            units = reader.team_report(now, audience=audience).units
            return Answer(models_message(mix, units, shared=shared), True, leaves_out=mix.hidden_spend)
        case "projects":
            month = reader.team_report(now, audience=audience)
            last_poll = reader.last_poll_at()
            reply = projects_message(month, tz=config.tz, last_poll_at=last_poll, shared=shared)
            return Answer(reply, True, leaves_out=bool(month.hidden))
        case "credits":
            runway = reader.runway(now, audience=audience)
            reply = credits_message(runway, tz=config.tz, shared=shared)
            return Answer(reply, True, leaves_out=runway.keys_hidden)
        case "routes":
            routes = reader.routes(now, audience=audience)
            return Answer(routes_message(routes, shared=shared), True, leaves_out=routes.hidden_spend)
        case "unattributed":
            # Unattributed spend belongs to no project, so every audience sees all of it.
            month = reader.team_report(now, audience=audience)
            reply = unattributed_message(month.unattributed, month=month.month, data=month.data, tz=config.tz)
            return Answer(reply, True)
        case "health":
            return Answer(health_message(reader.health(now), tz=config.tz), True)
        case "alerts":
            open_now = alerts() if alerts is not None else ()
            return Answer(alerts_list_message(open_now, config, user_id, config.tz))  # never shared
    return Answer(help_message())


def _with_note(message: Message, note: str) -> Message:
    return Message(text=message.text, blocks=limit_blocks([section(note), *message.blocks]))


def build_app(
    *,
    reader: SpendReader,
    client: WebClient,
    signing_secret: str,
    clock: Callable[[], datetime] | None = None,
    token_verification: bool = False,
    metrics: Metrics | None = None,
    audience: HomeAudience | None = None,
    ledger: ReplayLedger | None = None,
    extensions: Sequence[Callable[[App], None]] = (),
    alerts: AlertLister | None = None,
) -> App:
    """Build the Bolt app with every listener registered; nothing global, everything injected.

    ``client`` should come from :func:`aispend.slack.client.make_web_client` (retry handlers are
    copied into each listener's client). ``metrics`` and ``audience`` are shared with the web app
    and the post-poll Home refresh. ``extensions`` register more specific listeners (e.g. alert
    buttons) *before* the catch-all ``aispend_*`` action handler, which only acknowledges.
    ``ledger`` remembers which ``share`` requests were posted, so a replayed or retried request
    never posts twice (default: in this process only; production passes the database's).
    """
    now = clock or utcnow
    counters = metrics if metrics is not None else Metrics()
    homes = audience if audience is not None else MemoryHomeAudience()
    seen = ledger if ledger is not None else MemoryLedger()
    app = App(
        client=client,
        signing_secret=signing_secret,
        token_verification_enabled=token_verification,
        process_before_response=False,
        listener_executor=ThreadPoolExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="aispend-bolt"),
    )

    def on_command(
        ack: Ack, command: dict[str, Any], respond: Respond, request: BoltRequest, logger: logging.Logger
    ) -> None:
        parsed = parse_command(str(command.get("text") or ""))
        started = time.perf_counter()
        try:
            _on_command(ack, command, respond, request, logger, parsed)
        finally:
            counters.observe(
                "aispend_slash_latency_seconds", time.perf_counter() - started, command=parsed.kind
            )

    def _on_command(
        ack: Ack,
        command: dict[str, Any],
        respond: Respond,
        request: BoltRequest,
        logger: logging.Logger,
        parsed: Command,
    ) -> None:
        user_id = str(command.get("user_id") or "")
        channel_id = str(command.get("channel_id") or "") or None
        counters.inc("aispend_slack_commands_total", command=parsed.kind)
        try:
            with _budget(reader):
                result = answer(reader, parsed, user_id, now(), alerts, channel_id)
                # Only a post in the channel is a side effect; claim it before doing it.
                posts = parsed.share and result.shareable
                first = not posts or seen.claim(fingerprint(request.raw_body), now())
        except StoreUnavailable as exc:
            logger.warning("answering /aispend %s: store unavailable (%s)", parsed.kind, exc)
            counters.inc("aispend_slack_errors_total", where="store")
            ack(response_type="ephemeral", text=msg.STORE_UNAVAILABLE)
            return
        except Exception:
            logger.exception("answering /aispend %s failed", parsed.kind)
            counters.inc("aispend_slack_errors_total", where="command")
            ack(response_type="ephemeral", text=msg.ERROR, blocks=text_message(msg.ERROR).blocks)
            return
        reply = result.message
        if not parsed.share or not result.shareable:
            if parsed.share and result.share_refusal:
                reply = _with_note(reply, result.share_refusal)
            ack(response_type="ephemeral", text=reply.text, blocks=reply.blocks)
            return
        if not first:
            logger.warning(
                "/aispend %s share: a repeat of a request already posted; not posted again", parsed.kind
            )
            counters.inc("aispend_slack_repeats_total", kind="share")
            ack(response_type="ephemeral", text=msg.ALREADY_SHARED)
            return
        ack(response_type="ephemeral", text=msg.SHARED_WITHOUT_PRIVATE if result.leaves_out else msg.SHARED)
        try:
            sent = respond(response_type="in_channel", text=reply.text, blocks=reply.blocks)
            if sent.status_code != 200:
                raise RuntimeError(f"response_url answered {sent.status_code}: {sent.body[:200]}")
        except Exception:
            logger.exception("sharing /aispend %s in the channel failed", parsed.kind)
            counters.inc("aispend_slack_errors_total", where="share")

    def on_home_opened(event: dict[str, Any], client: WebClient) -> None:
        if event.get("tab") != "home":
            return
        user_id = str(event["user"])
        homes.add(user_id)
        publish_home(client, reader, user_id, now(), alerts)

    def on_refresh(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
        ack()
        user_id = str(body["user"]["id"])
        homes.add(user_id)
        publish_home(client, reader, user_id, now(), alerts)

    def on_any_action(ack: Ack) -> None:
        ack()

    def on_error(error: Exception, body: dict[str, Any], logger: logging.Logger) -> BoltResponse:
        if isinstance(error, StoreUnavailable):  # e.g. the Home tab: say so, no traceback
            logger.warning("Slack request (type=%s): store unavailable (%s)", body.get("type"), error)
            counters.inc("aispend_slack_errors_total", where="store")
            return BoltResponse(
                status=200, body={"response_type": "ephemeral", "text": msg.STORE_UNAVAILABLE}
            )
        logger.error("Slack request failed: %r (type=%s)", error, body.get("type"), exc_info=error)
        counters.inc("aispend_slack_errors_total", where="listener")
        return BoltResponse(status=200, body={"response_type": "ephemeral", "text": msg.ERROR})

    def skip_late_retries(
        req: BoltRequest, resp: BoltResponse, next: Callable[[], BoltResponse]
    ) -> BoltResponse:
        # Slack re-sends what we answered too late: the first delivery did reach us and did its
        # work, so the retry is acknowledged without doing it again (HTTP and Socket Mode alike:
        # Bolt mirrors the envelope's retry fields into these headers). Other retry reasons (the
        # first delivery failed on the way) are handled normally; ``share`` is guarded by its
        # fingerprint either way (``aispend.slack.replay``).
        if req.headers.get("x-slack-retry-reason", [""])[0] == "http_timeout":
            counters.inc("aispend_slack_repeats_total", kind="retry")
            return BoltResponse(status=200, body="", headers={"x-slack-no-retry": "1"})
        return next()

    app.middleware(skip_late_retries)
    app.command(COMMAND)(on_command)
    app.event("app_home_opened")(on_home_opened)
    app.action(REFRESH_ACTION)(on_refresh)
    for extend in extensions:
        extend(app)
    app.action(ANY_ACTION)(on_any_action)
    app.error(on_error)
    return app
