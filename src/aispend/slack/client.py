"""The one place a Slack ``WebClient`` is configured."""

from __future__ import annotations

import logging
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler
from slack_sdk.web import SlackResponse

from aispend.metrics import Metrics


class CountingWebClient(WebClient):
    """A ``WebClient`` that counts failed calls by API method for ``/metrics``.

    ``api_call`` is the single funnel every typed method (``chat_postMessage``, ``views_publish``,
    …) goes through, so one override sees them all, after slack_sdk's own retries gave up.
    """

    metrics: Metrics | None = None

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> SlackResponse:
        try:
            return super().api_call(api_method, *args, **kwargs)
        except Exception:  # SlackApiError, or the transport's error once retries are spent
            if self.metrics is not None:
                self.metrics.inc("aispend_slack_api_errors_total", method=api_method)
            raise


def make_web_client(
    token: str,
    base_url: str = "https://slack.com/api/",
    *,
    timeout: int = 10,
    logger: logging.Logger | None = None,
    metrics: Metrics | None = None,
) -> WebClient:
    """A client that survives Slack's everyday failures.

    By default ``WebClient`` retries only connection errors; here 429s are retried twice after the
    ``Retry-After`` delay, and 500/503 once. Bolt copies these handlers into the per-request client
    its listeners receive. ``logger`` replaces slack_sdk's own, for callers that report failures
    themselves (the start-up check would otherwise log each failed attempt before its one line).
    """
    client = CountingWebClient(
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
    client.metrics = metrics
    return client
