"""Escaping for Slack mrkdwn.

Slack treats ``&``, ``<`` and ``>`` as control characters: ``<@U123>`` is a mention, ``<!here>``
pings a channel, ``<https://x|label>`` is a link. Anything that did not come from our own code
(user text, provider model names, key names, error strings) goes through :func:`escape` before
it is put into mrkdwn. Our own tokens (owner mentions) are built with :func:`mention`.

Escaping also neutralises invisible and bidi-override characters (:func:`aispend.text.neutralise`)
and turns backticks into a look-alike (ˋ, U+02CB): a name with a backtick would otherwise close
the code span it sits in, or open one that swallows the rest of the line.
"""

from __future__ import annotations

import re

from aispend.text import neutralise

_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
_WORD_JOINER = "\u2060"
_ID = re.compile(r"^[UWS][A-Z0-9]{2,}$")


_BACKTICK_LOOKALIKE = "ˋ"


def escape(text: str) -> str:
    """Make ``text`` from outside render literally in mrkdwn, inside or outside a code span:
    invisible characters neutralised, ``&`` escaped first, then ``<`` and ``>``, backticks
    replaced by a look-alike."""
    escaped = neutralise(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.replace("`", _BACKTICK_LOOKALIKE)


def user_text(text: str, *, limit: int = 80) -> str:
    """Echo something a user typed: clipped, escaped, and with ``@channel``-style words defused.

    Escaping already turns ``<!channel>``, ``<!here>`` and ``<@U…>`` into inert text and backticks
    into a look-alike, so the echo is safe inside a code span; the word joiner after ``@`` (added
    after escaping, which would replace it) keeps a bare ``@here`` from reading like a broadcast.
    """
    clipped = text if len(text) <= limit else text[: limit - 1] + "…"
    return _BROADCAST.sub("@" + _WORD_JOINER, escape(clipped))


def mention(owner: str) -> str:
    """A mention for a configured owner: ``<@U…>`` for a user, ``<!subteam^S…>`` for a group."""
    if not _ID.match(owner):  # config validates this; never emit a token built from bad data
        return escape(owner)
    if owner.startswith("S"):
        return f"<!subteam^{owner}>"
    return f"<@{owner}>"


def code(text: str) -> str:
    """An inline code span; :func:`escape` replaces backticks, so the span cannot be broken out of."""
    return "`" + escape(text) + "`"
