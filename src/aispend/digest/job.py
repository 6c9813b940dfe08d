"""Posting the weekly digest: exactly once per reported ISO week, with catch-up and retries.

:func:`weekly_digest` is the scheduled job (a plain function taking a clock). It is also called
once at start-up and after every poll, because each call only posts when a digest is *due*: the
newest scheduled moment (``digest.weekday``/``digest.time`` in the team's time zone) at or
before now names the week to report (see ``digest.weeks.due_week``), and the ``digest_post``
ledger says whether that week is already out. So a bot that was down at the scheduled time posts
when it comes back within the week, and a failed post is retried on the next poll, never twice.

The one window this cannot close: Slack accepted the message but the process died before the
ledger recorded its ``ts``; the retry then posts the message again (Slack has no idempotency key).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Engine

from aispend.clock import ensure_utc
from aispend.config import Config
from aispend.digest.chart import chart_alt_text, render_chart
from aispend.digest.content import AlertHistory, Digest, build_digest
from aispend.digest.weeks import IsoWeek, due_week
from aispend.service import SpendService
from aispend.slack import messages as msg
from aispend.slack.blocks import Message
from aispend.slack.digest import digest_message
from aispend.slack.gateway import SlackGateway
from aispend.store import digests

__all__ = ["DigestOutcome", "DigestPoster", "Rendered", "weekly_digest"]

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)
MAX_ATTEMPTS = 12  # a channel the bot cannot post to fails every time: stop retrying after a day or so

Status = Literal["posted", "already_posted", "busy", "gave_up", "failed", "not_configured"]


class DigestNotConfigured(Exception):
    """``aispend.yaml`` has no ``digest:`` section (or no channel to post to)."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A digest with its Slack message and chart (None for an empty week: one line, no chart)."""

    digest: Digest
    message: Message
    chart: bytes | None
    chart_filename: str


@dataclass(frozen=True, slots=True)
class DigestOutcome:
    week: IsoWeek | None
    status: Status
    message_ts: str | None = None
    file_id: str | None = None
    error: str | None = None
    rendered: Rendered | None = None  # what was (or would have been) posted, when it was built


def _owner() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class DigestPoster:
    """Builds, renders and posts digests; holds what the job needs so the job stays a function."""

    def __init__(
        self,
        engine: Engine,
        service: SpendService,
        gateway: SlackGateway | None,
        config: Config,
        *,
        alerts: AlertHistory | None = None,
        lease: timedelta = LEASE,
    ) -> None:
        self._engine = engine
        self._service = service
        self._gateway = gateway
        self._config = config
        self._alerts = alerts
        self._lease = lease
        self._owner = _owner()

    def due(self, now: datetime) -> IsoWeek:
        digest = self._config.digest
        if digest is None:
            raise DigestNotConfigured("add a `digest:` section with a `channel` to aispend.yaml")
        return due_week(now, digest.weekday, digest.at, self._config.tz)

    def render(self, week: IsoWeek, now: datetime) -> Rendered:
        """Build the digest of ``week`` as of ``now`` (no Slack call, nothing recorded)."""
        digest = build_digest(self._service.digest_inputs(week, now, self._alerts))
        message = digest_message(digest, tz=self._config.tz)
        chart = None if digest.empty or not digest.known else render_chart(digest)  # no bars of unknown
        return Rendered(digest, message, chart, f"aispend-{week.label}.png")

    def post_due(self, now: datetime) -> DigestOutcome:
        """Post the digest that is due at ``now`` unless it is already out (cheap when it is)."""
        if self._config.digest is None:
            return DigestOutcome(None, "not_configured")
        return self.post_week(self.due(now), now)

    def post_week(self, week: IsoWeek, now: datetime) -> DigestOutcome:
        config = self._config.digest
        if config is None or self._gateway is None:
            return DigestOutcome(week, "not_configured")
        now = ensure_utc(now)
        record = digests.find_week(self._engine, week.label)
        if record is not None and record.status == "posted":
            return DigestOutcome(week, "already_posted", record.message_ts, record.file_id)
        if record is not None and record.attempts >= MAX_ATTEMPTS:
            return DigestOutcome(week, "gave_up", error=record.error)
        if record is not None and record.lease_until > now:
            return DigestOutcome(week, "busy")
        rendered = self.render(week, now)
        claim = digests.claim_week(self._engine, week.label, config.channel, self._owner, now, self._lease)
        if claim is None:
            return DigestOutcome(week, "busy", rendered=rendered)
        ts = claim.message_ts
        try:
            if ts is None:
                ts = self._gateway.post(config.channel, rendered.message.text, rendered.message.blocks)
                digests.record_message(self._engine, claim, ts)
            file_id = None
            if rendered.chart is not None:
                file_id = self._gateway.upload_png(
                    config.channel,
                    rendered.chart,
                    rendered.chart_filename,
                    msg.digest_chart_title(week.week),
                    alt_text=chart_alt_text(rendered.digest),
                )
        except Exception as exc:  # Slack down, rate limited past the retries, channel not found
            error = f"{type(exc).__name__}: {exc}"
            log.warning("weekly digest %s not posted (attempt %d): %s", week, claim.attempt, error)
            digests.release(self._engine, claim, now, error)
            return DigestOutcome(week, "failed", ts, error=error, rendered=rendered)
        digests.mark_posted(self._engine, claim, now, file_id)
        log.info("weekly digest %s posted to %s", week, config.channel)
        return DigestOutcome(week, "posted", ts, file_id, rendered=rendered)


def weekly_digest(poster: DigestPoster, clock: Callable[[], datetime]) -> DigestOutcome:
    """The scheduled job: post the digest due now, if it is not out yet."""
    return poster.post_due(clock())
