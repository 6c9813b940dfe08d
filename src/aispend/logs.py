"""One log stream for aispend, Bolt, slack_sdk and uvicorn: readable text, or JSON lines.

``LOG_FORMAT=json`` gives one JSON object per line (python-json-logger) for log shippers; the
default is plain text. Everything goes through one handler on the root logger (uvicorn is started
with ``log_config=None`` so it does not install its own), and that handler's
:class:`RedactSecrets` filter replaces every configured secret in every record — message,
arguments and traceback — so a provider that echoes a key, or an exception that carries a URL
with a password, never writes it to the log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Literal, TextIO

from pythonjsonlogger.json import JsonFormatter

LogFormat = Literal["text", "json"]
REDACTED = "[redacted]"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Bolt reads SLACK_BOT_TOKEN from the environment even when it is handed a configured client
# (ours carries the base URL and retry policy) and warns on every start that the token "will be
# unused"; it is used, through that client. The warning only misleads operators.
_MISLEADING = ("As you gave `client` as well, `token` will be unused",)


class RedactSecrets(logging.Filter):
    """Replaces each secret (at least 6 characters, to never blank out ordinary words)."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if any(phrase in str(record.msg) for phrase in _MISLEADING):
            return False
        if not self._secrets:
            return True
        record.msg = self._clean(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
            record.exc_info = None  # the formatter must not render the unredacted original again
        if record.stack_info:
            record.stack_info = self._clean(record.stack_info)
        return True


def configure_logging(
    *,
    level: int = logging.WARNING,
    fmt: LogFormat = "text",
    secrets: Iterable[str | None] = (),
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install the one handler on the root logger (replacing any earlier one) and return it."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries chat at DEBUG/INFO about every HTTP call; keep them at WARNING unless verbose.
    quiet = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in ("httpx", "httpcore", "slack_sdk", "slack_bolt", "apscheduler", "alembic", "uvicorn.access"):
        logging.getLogger(name).setLevel(quiet)
    for name in ("uvicorn", "uvicorn.error"):  # startup and shutdown lines: the root level decides
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).setLevel(logging.NOTSET)
        logging.getLogger(name).propagate = True
    return handler
