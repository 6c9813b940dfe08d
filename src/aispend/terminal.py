"""Block Kit → terminal text: `aispend demo` and `aispend digest --dry-run` show what Slack would.

Pure and lossy on purpose: it renders the block types our builders emit (header, section with
text and fields, context, divider, actions) and turns Slack's mrkdwn tokens back into plain
text; anything else is shown by type so nothing disappears silently.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

_USER = re.compile(r"<@([A-Z0-9]+)>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
# The emoji codes our messages use, so a terminal shows the same signal colours Slack does.
_EMOJI = {
    ":large_green_circle:": "🟢",
    ":large_orange_circle:": "🟠",
    ":large_yellow_circle:": "🟡",
    ":red_circle:": "🔴",
    ":warning:": "⚠",
    ":white_check_mark:": "✅",
    ":lock:": "🔒",
}
_EMOJI_CODE = re.compile(r":[a-z0-9_+-]+:")


def plain(mrkdwn: str) -> str:
    """Slack mrkdwn to readable text: mentions, links and entities resolved; emphasis kept."""
    text = _USER.sub(r"@\1", mrkdwn)
    text = _GROUP.sub(r"@\1", text)
    text = _LINK.sub(r"\2 (\1)", text)
    text = _EMOJI_CODE.sub(lambda m: _EMOJI.get(m.group(0), m.group(0)), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _text(obj: Mapping[str, Any] | None) -> str:
    if not obj:
        return ""
    return plain(str(obj.get("text", "")))


def render_blocks(blocks: Iterable[Mapping[str, Any]], width: int = 78) -> str:
    lines: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = _text(block.get("text"))
            lines += [title, "=" * min(width, max(len(title), 3))]
        elif kind == "section":
            if block.get("text"):
                lines.append(_text(block["text"]))
            for item in block.get("fields") or ():
                lines.append("  " + _text(item))
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                lines.append(f"  [ {_text(accessory.get('text'))} ]")
        elif kind == "context":
            lines.append("  " + "  ·  ".join(_text(e) for e in block.get("elements") or ()))
        elif kind == "divider":
            lines.append("-" * width)
        elif kind == "actions":
            lines.append("  " + "  ".join(f"[ {_text(e.get('text'))} ]" for e in block.get("elements") or ()))
        else:
            lines.append(f"<{kind} block>")
    return "\n".join(lines)
