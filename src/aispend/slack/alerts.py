"""Alerts in Slack: the ``Notifier`` over the Web API and the Acknowledge / Snooze 24h buttons.

Posting goes through :func:`aispend.alerts.state.deliver` (claimed, exactly once); a button press
changes the alert's state in the database first and then delivers the in-place update the same
way, so a press and an evaluation never both update the message with different content.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from slack_bolt import Ack, App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine

from aispend.alerts import state
from aispend.alerts.model import AlertView, Delivery, DeliveryError, Notice
from aispend.config import Config
from aispend.slack import messages as msg
from aispend.slack.alert_blocks import (
    ACK_ACTION,
    SNOOZE_ACTION,
    alert_message,
    escalation_reply,
    may_act,
    reminder_reply,
    resolve_reply,
    route,
    who_may_act,
)

log = logging.getLogger(__name__)


class SlackAlertNotifier:
    """Delivers alert notices with ``chat.postMessage`` / ``chat.update``.

    The client's own retry handlers (``slack.client.make_web_client``) already wait out a 429's
    ``Retry-After`` and retry a 500 once; what still fails becomes a :class:`DeliveryError`, and
    the notice stays owed for the next evaluation. An escalation or resolution updates the
    original message *before* replying in its thread, so a retry after a failed reply repeats
    only the harmless update.
    """

    def __init__(self, client: WebClient, config: Config) -> None:
        self._client = client
        self._config = config

    def send(self, notice: Notice) -> Delivery | None:
        try:
            return self._send(notice)
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else None
            raise DeliveryError(
                f"Slack answered {status}: {error or 'error'}", rate_limited=status == 429
            ) from exc
        except OSError as exc:  # connection refused/reset, timeouts (urllib raises OSError subclasses)
            raise DeliveryError(f"Slack unreachable: {type(exc).__name__}") from exc

    def _send(self, notice: Notice) -> Delivery | None:
        alert = notice.alert
        where = route(alert, self._config)
        tz = self._config.tz
        if notice.kind == "post":
            if where.channel is None:
                log.warning("alert %s has no channel to go to (set alert_channel)", alert.key)
                return None
            posted = alert_message(alert, where=where, tz=tz)
            response = self._client.chat_postMessage(
                channel=where.channel, text=posted.text, blocks=posted.blocks, unfurl_links=False
            )
            log.info("alert %s (%s) posted to %s", alert.key, alert.severity, where.channel)
            return Delivery(str(response.get("channel") or where.channel), str(response["ts"]))
        channel, ts = alert.channel, alert.ts
        if not channel or not ts:
            return None
        if notice.kind == "remind":
            alert = replace(alert, status="firing")  # the snooze is over
        self._update(alert)
        reply = None
        if notice.kind == "escalate":
            reply = escalation_reply(alert, where=where)
        elif notice.kind == "resolve":
            reply = resolve_reply(alert, tz=tz)
        elif notice.kind == "remind":
            reply = reminder_reply(alert, where=where)
        if reply is not None:
            self._client.chat_postMessage(
                channel=channel,
                thread_ts=ts,
                text=reply.text,
                blocks=reply.blocks,
                unfurl_links=False,
            )
        log.info("alert %s: %s sent in its thread", alert.key, notice.kind)
        return None

    def _update(self, alert: AlertView) -> None:
        assert alert.channel and alert.ts
        rendered = alert_message(alert, where=route(alert, self._config), tz=self._config.tz)
        self._client.chat_update(
            channel=alert.channel, ts=alert.ts, text=rendered.text, blocks=rendered.blocks
        )


def alert_actions(engine: Engine, config: Config, clock: Callable[[], datetime]) -> Callable[[App], None]:
    """Register the Acknowledge and Snooze 24h handlers (an ``extensions`` entry of ``build_app``)."""

    def press(body: dict[str, Any], client: WebClient, change: str) -> None:
        user = str(body["user"]["id"])
        channel = str(
            (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id") or ""
        )
        try:
            alert_id = int(body["actions"][0]["value"])
        except (KeyError, IndexError, ValueError):
            log.warning("alert button without an alert id")
            return
        now = clock()
        current = state.alert(engine, alert_id)

        def refuse(text: str) -> None:
            if channel:
                client.chat_postEphemeral(channel=channel, user=user, text=text)

        if current is None:
            refuse(msg.ALERT_UNKNOWN)
            return
        if not may_act(current, config, user):
            refuse(msg.alert_refused(who_may_act(current, config)))
            return
        changed = (state.acknowledge if change == "ack" else state.snooze)(engine, alert_id, user, now)
        if changed is None:
            refuse(msg.ALERT_ALREADY_RESOLVED)
            return
        report = state.deliver_one(engine, SlackAlertNotifier(client, config), alert_id, now)
        for _notice, error in report.failed:
            log.warning(
                "updating alert %s after a button press failed (retried next evaluation): %s", alert_id, error
            )

    def register(app: App) -> None:
        @app.action(ACK_ACTION)
        def on_ack(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
            ack()
            press(body, client, "ack")

        @app.action(SNOOZE_ACTION)
        def on_snooze(ack: Ack, body: dict[str, Any], client: WebClient) -> None:
            ack()
            press(body, client, "snooze")

    return register
