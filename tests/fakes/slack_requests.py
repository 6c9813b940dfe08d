"""What Slack sends the app: a slash-command form body and the signature headers over it.

Shared by the tests (``tests/slack``, ``tests/hostile``) and the slash-command benchmark, so both
sign requests exactly the way Slack does.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

NOWHERE = "http://127.0.0.1:9/none"  # a response_url nothing listens on


def command_body(text: str, *, user: str, response_url: str = NOWHERE, user_name: str = "someone") -> str:
    """The form body of ``/aispend <text>`` typed by ``user``."""
    return urlencode(
        {
            "token": "legacy",
            "team_id": "T0FAKE",
            "team_domain": "fake",
            "channel_id": "C0CHAN",
            "channel_name": "spend",
            "user_id": user,
            "user_name": user_name,
            "command": "/aispend",
            "text": text,
            "api_app_id": "A0APP",
            "response_url": response_url,
            "trigger_id": "1.2.3",
        }
    )


def signed_headers(
    body: str, *, secret: str, timestamp: int | None = None, json_body: bool = False
) -> dict[str, str]:
    """Slack's ``v0`` signature headers over ``body`` (now, unless ``timestamp`` is given)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    assert signature is not None
    return {
        "content-type": "application/json" if json_body else "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": ts,
        "x-slack-signature": signature,
    }
