"""Provider failures, named so callers can tell "no permission" from "try later" from "bad data".

The distinction matters downstream: a 401/403 must surface as "no permission" in ``/aispend
health`` and never as a $0 day, while an outage is retried on the next poll and bad data is
reported without overwriting good stored values. Every message is built from the method, path,
status and the provider's own error text, passed through :func:`redact`, so an API key can never
reach a log line, a Slack message or a traceback through these exceptions.
"""

from __future__ import annotations

REDACTED = "[REDACTED]"


def redact(text: str, *secrets: str | None) -> str:
    """Replace every occurrence of each secret in ``text``.

    Providers sometimes echo credentials back (OpenAI's 401 text quotes the key it received), so
    anything that came over the wire is redacted before it is stored in an exception or logged.
    Empty or very short secrets are ignored: replacing "" or "a" would mangle the text while
    protecting nothing.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    return text


class ProviderError(Exception):
    """A provider call that did not produce usable data."""

    def __init__(self, message: str, *, provider: str, endpoint: str, status: int | None = None) -> None:
        super().__init__(message)
        self.provider = provider
        self.endpoint = endpoint
        self.status = status


class PermissionDenied(ProviderError):
    """401/403: the key is wrong or lacks the scope; report "no permission", never "$0"."""


class ProviderUnavailable(ProviderError):
    """5xx, timeouts or connection errors that outlasted every retry: try again next poll."""


class RateLimited(ProviderUnavailable):
    """429 that outlasted every retry, or asked us to wait longer than the configured cap.

    A subclass of :class:`ProviderUnavailable` because callers treat both as "try later";
    ``retry_after`` carries the provider's last requested wait in seconds, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        endpoint: str,
        status: int | None = 429,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, provider=provider, endpoint=endpoint, status=status)
        self.retry_after = retry_after


class MalformedResponse(ProviderError):
    """A 2xx body we cannot trust: truncated or invalid JSON, or the wrong shape."""


class BadRequest(ProviderError):
    """400: the provider rejected our parameters; ``provider_message`` says why."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        endpoint: str,
        status: int | None = 400,
        provider_message: str = "",
    ) -> None:
        super().__init__(message, provider=provider, endpoint=endpoint, status=status)
        self.provider_message = provider_message


class LimitExceeded(ProviderError):
    """An answer larger than a configured cap (pages, rows or bytes; README "Limits").

    Nothing of it is stored: a partial window would be written as if it were the whole truth.
    Not retried, since the same request gets the same answer.
    """


class DeadlineExceeded(ProviderUnavailable):
    """A request that did not finish within its total deadline (a stalled or slow-drip answer).

    The per-read timeout alone never trips on a server that sends one byte every few seconds.
    """


class PollBudgetExhausted(ProviderUnavailable):
    """The poll's own budget (time, requests, rows or bytes) ran out: the rest of it is abandoned.

    The endpoints not fetched keep their stored data and are fetched by the next poll.
    """
