"""The door of ``POST /slack/events``: size cap, signature, then shape, before Bolt sees a byte.

Bolt parses the body first and verifies the signature afterwards, so unsigned junk could make it
raise (a 500 with a traceback) or reach the error handler (a 200 that counts as an error). Here
the order is: refuse a body larger than :data:`MAX_BODY_BYTES` without reading it all (413),
verify the signature on the raw bytes with ``slack_sdk``'s ``SignatureVerifier`` (401, including
a malformed or stale timestamp), and only then parse. A signed body that does not parse into
what Slack sends is answered 400. Every refusal is one :class:`Rejected` with a short reason,
counted by the web app and logged as a rate-limited one-line summary, never as a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from slack_bolt import BoltContext, BoltRequest
from slack_bolt.request.internals import build_context
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

# Slack's requests are small: a slash command is a few hundred bytes, an App Home event or a
# button click carries the published view (our Home is far below Slack's 100-block view limit).
# 256 KiB leaves room for any view Slack accepts from us and bounds what a stranger can make us
# hold per request (documented in README "Slack app").
MAX_BODY_BYTES = 256 * 1024


class Rejected(Exception):
    """A request refused before Bolt: HTTP ``status`` and a short ``reason`` for the metric."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


async def read_capped(headers: Mapping[str, str], stream: AsyncIterator[bytes], limit: int) -> bytes:
    """The whole body, or :class:`Rejected` (413) as soon as it is known to exceed ``limit``.

    A declared ``Content-Length`` over the limit is refused without reading anything; a chunked
    (or lying) body is read only until it passes the limit.
    """
    declared = headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise Rejected(400, "bad_content_length")
        if int(declared) > limit:
            raise Rejected(413, "too_large")
    body = bytearray()
    async for chunk in stream:
        body += chunk
        if len(body) > limit:
            raise Rejected(413, "too_large")
    return bytes(body)


def verify(verifier: SignatureVerifier, body: bytes, headers: Mapping[str, str]) -> None:
    """:class:`Rejected` (401) unless ``body`` carries a valid, fresh Slack signature.

    ``SignatureVerifier`` raises on some junk (a timestamp that is not an integer, a signature
    with non-ASCII characters, a body that is not UTF-8); all of it is simply "not signed".
    """
    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    try:
        valid = verifier.is_valid(body=body, timestamp=timestamp, signature=signature)
    except (ValueError, TypeError, OverflowError):
        valid = False
    if not valid:
        raise Rejected(401, "signature")


def parse(body: bytes, *, query: Mapping[str, str], headers: Mapping[str, str]) -> BoltRequest:
    """The Bolt request for a *signed* body; :class:`Rejected` (400) when it is not Slack-shaped.

    Bolt decodes form bodies, ``payload=`` JSON and JSON events while building the request, and
    reads team/user/channel ids out of them; its matchers then index into ``actions``, ``view``
    and ``event``. Any failure there (broken JSON, a list where an object belongs, a field of the
    wrong type) means the body is not something Slack sends: checked here, declaratively
    (pydantic), instead of surfacing as an exception inside Bolt.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Rejected(400, "encoding") from None
    try:
        request = BoltRequest(body=text, query=dict(query), headers=dict(headers))
    except Exception:  # whatever Bolt's parser trips over in a malformed body
        raise Rejected(400, "malformed") from None
    if not request.body and not text.lstrip().startswith("{"):
        _reparse_form(request, text)
    if not isinstance(request.body, dict) or not request.body:
        raise Rejected(400, "malformed")
    try:
        _Body.model_validate(request.body)
    except ValidationError:
        raise Rejected(400, "malformed") from None
    return request


class _Loose(BaseModel):
    """Only the fields Bolt's matchers and our listeners index into, with their JSON types;
    everything else passes through untouched (Slack adds fields over time)."""

    model_config = ConfigDict(extra="allow")


class _Id(_Loose):
    id: str


class _Action(_Loose):
    action_id: str
    block_id: str | None = None


class _View(_Loose):
    callback_id: str | None = None


class _Event(_Loose):
    type: str
    subtype: str | None = None
    user: str | None = None
    bot_id: str | None = None
    tab: str | None = None
    channel: str | None = None


class _Body(_Loose):
    """A slash command (form fields), an interaction payload or an Events API envelope."""

    type: str | None = None
    command: str | None = None
    callback_id: str | None = None
    challenge: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    channel_id: str | None = None
    user: _Id | None = None
    team: _Id | None = None
    channel: _Id | None = None
    actions: list[_Action] | None = None
    view: _View | None = None
    event: _Event | None = None
    authorizations: list[dict[str, Any]] | None = None

    @model_validator(mode="before")
    @classmethod
    def _present_means_not_null(cls, data: Any) -> Any:
        # Bolt tests these with ``"view" in body`` and then indexes into them: null is not absent.
        if isinstance(data, dict):
            for key in ("actions", "view", "event", "authorizations"):
                if key in data and data[key] is None:
                    raise ValueError(f"{key} is null")
        return data


def _reparse_form(request: BoltRequest, text: str) -> None:
    """Bolt takes any form body that merely *contains* the word "payload" for an interaction
    payload, and then finds none: ``/aispend project payload-api`` arrived as an empty body. A
    form without a ``payload`` field is a slash command; parse it as one."""
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if fields and "payload" not in fields:
        request.body = fields
        request.context = build_context(BoltContext({}), fields)


class RejectionLog:
    """Refusals summed into at most one log line per ``interval`` seconds.

    An unsigned flood must not fill the log; one line now and then still tells the operator
    that requests are being refused (a wrong ``SLACK_SIGNING_SECRET`` looks just like that).
    """

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._last: float | None = None

    def record(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + 1
            now = self._clock()
            if self._last is not None and now - self._last < self._interval:
                return
            counts, self._counts, self._last = self._counts, {}, now
        detail = ", ".join(f"{why}: {n}" for why, n in sorted(counts.items()))
        log.warning(
            "refused %d request(s) to /slack/events (%s); if Slack's own requests are refused, "
            "check SLACK_SIGNING_SECRET",
            sum(counts.values()),
            detail,
        )
