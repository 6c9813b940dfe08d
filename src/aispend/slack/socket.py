"""Socket Mode: the same Bolt app over a WebSocket instead of public HTTP.

Uses Bolt's built-in adapter, which runs on slack_sdk's own WebSocket client and needs no extra
dependency. Request signing does not apply (the connection is authenticated by the app token).
"""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler

_LOG = logging.getLogger("aispend.slack.socket_mode")


def start_socket_mode(app: App, app_token: str) -> SocketModeHandler:
    """Connect without blocking (so the scheduler can run beside it); call ``.close()`` to stop."""
    handler = SocketModeHandler(app, app_token=app_token, logger=_LOG)
    level = _LOG.level
    _LOG.setLevel(logging.CRITICAL)  # a refused first connect is reported by the caller, in one line
    try:
        handler.client.connect()  # what SocketModeHandler.connect() does; that wrapper is untyped
    except BaseException:
        handler.client.close()  # stop the client's worker threads, then let the caller report
        raise
    finally:
        _LOG.setLevel(level)  # later reconnects are logged as usual
    return handler
