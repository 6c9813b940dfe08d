"""Text from outside (provider names, error strings, what a user typed) made safe to *show*.

Shared by the Slack builders and the terminal, so both neutralise the same characters. Names can
carry characters that are invisible yet change what a reader sees: zero-width spaces and joiners
make two different names look alike, and bidi overrides/isolates reorder the text around them
(the "Trojan Source" trick: after U+202E the rest of a name is shown right to left).
Control characters can forge extra lines or, in a terminal, send escape sequences.

Hand-written because no maintained library does exactly this: a fixed list of code points rather
than a scan of Unicode categories, so importing it costs nothing and the set is reviewable.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
"""Shown in place of an invisible character, so the reader sees that something was there."""

_WHITESPACE_CONTROLS = re.compile(r"[\t\n\v\f\r\x85\u2028\u2029]")
_INVISIBLE = re.compile(
    "["
    "\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f"  # C0/C1 controls and DEL (terminal escapes start here)
    "\u00ad"  # soft hyphen
    "\u034f"  # combining grapheme joiner
    "\u061c"  # Arabic letter mark (bidi)
    "\u115f\u1160\u3164\uffa0"  # Hangul fillers (render as blanks)
    "\u180b-\u180f"  # Mongolian variation selectors and vowel separator
    "\u200b-\u200f"  # zero-width space/non-joiner/joiner, LRM, RLM
    "\u202a-\u202e"  # bidi embeddings and overrides
    "\u2060-\u206f"  # word joiner, invisible operators, bidi isolates, deprecated format chars
    "\ufe00-\ufe0f"  # variation selectors
    "\ufeff"  # zero-width no-break space / byte-order mark
    "\ufff9-\ufffb"  # interlinear annotation
    "\ud800-\udfff"  # lone surrogates (undecodable bytes smuggled through)
    "\U0001d173-\U0001d17a"  # musical format characters
    "\U000e0000-\U000e0fff"  # tags and supplementary variation selectors
    "]"
)


def neutralise(text: str) -> str:
    """``text`` with line-breaking controls turned into spaces and every invisible or
    direction-changing character replaced by U+FFFD, so what is shown is what is there."""
    return _INVISIBLE.sub(REPLACEMENT, _WHITESPACE_CONTROLS.sub(" ", text))
