"""The one place a Slack ``WebClient`` is configured."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler


def make_web_client(
    token: str,
    base_url: str = "https://slack.com/api/",
    *,
    timeout: int = 10,
    logger: logging.Logger | None = None,
) -> WebClient:
    """A client that survives Slack's everyday failures.

    By default ``WebClient`` retries only connection errors; here 429s are retried twice after the
    ``Retry-After`` delay, and 500/503 once. Bolt copies these handlers into the per-request client
    its listeners receive. ``logger`` replaces slack_sdk's own, for callers that report failures
    themselves (the start-up check would otherwise log each failed attempt before its one line).
    """
    return WebClient(
        token=token,
        base_url=base_url,
        timeout=timeout,
        logger=logger,
        retry_handlers=[
            ConnectionErrorRetryHandler(),
            RateLimitErrorRetryHandler(max_retry_count=2),
            ServerErrorRetryHandler(),
        ],
    )
