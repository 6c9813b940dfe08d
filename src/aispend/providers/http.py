"""One retrying, exact-decimal JSON GET shared by both provider clients.

Both providers speak "bearer key, JSON body, 429/5xx mean later", so the retry policy lives here
once: tenacity drives the attempts (bounded, exponential backoff with jitter, ``Retry-After``
honoured up to a cap) and the sleep is injectable so tests run instantly and can assert each wait.
Bodies are decoded with :func:`aispend.money.loads_exact` so dollars never pass through ``float``,
and the wire models parsed here coerce money with :func:`aispend.money.to_decimal`, which refuses
floats outright. Large pages can instead be decoded while they stream in
(:meth:`JsonApi.get_streamed`), with the same decoder, the same retries and the same errors.
Logs name the provider, path and status only; headers (and so the key) never.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Annotated, Any, ClassVar, Self, TypedDict, TypeVar, Unpack

import httpx
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, PlainValidator, ValidationError
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

from aispend import __version__, money
from aispend.providers.errors import (
    BadRequest,
    DeadlineExceeded,
    LimitExceeded,
    MalformedResponse,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    redact,
)
from aispend.providers.jsonstream import StreamedObject, read_object
from aispend.providers.limits import Limits, PollBudget, size, too_large

log = logging.getLogger("aispend.providers")

ParamValue = str | int | bool | Sequence[str]
Params = Mapping[str, ParamValue]
Sleep = Callable[[float], None]

# Transport failures worth another attempt. Protocol errors cover a body cut off mid-read.
_RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (
    httpx.TimeoutException,
    httpx.NetworkError,
    httpx.RemoteProtocolError,
)
_DETAIL_LIMIT = 300


# The largest token or request count one provider value may carry (a quadrillion): counts are
# stored in signed 64-bit columns and summed in rollups, and no real day comes near this.
MAX_COUNT = 10**15


def _nullable_count(value: object) -> object:
    return 0 if value is None else value


def _bounded_count(value: int) -> int:
    if abs(value) > MAX_COUNT:
        raise ValueError(f"{value} is outside the accepted range (at most {MAX_COUNT:.0e} in one count)")
    return value


def _money(value: object) -> Decimal:
    # Bodies are decoded with parse_float=Decimal, so a finite Decimal is by far the common case;
    # everything else (ints, numeric strings, and the floats, bools and NaN to refuse) is
    # to_decimal's to judge. An absurd amount (money.MAX_PROVIDER_USD) is refused like a bad one,
    # so the endpoint fails with a message naming the field instead of overflowing the store.
    if type(value) is Decimal and value.is_finite():
        return money.plausible(value)
    return money.plausible(money.to_decimal(value))


def _nullable_money(value: object) -> Decimal | None:
    return None if value is None else _money(value)


def _money_or_zero(value: object) -> Decimal:
    return money.ZERO if value is None else _money(value)


# Wire field types. Optional metrics are ``null`` or absent on older API versions: both mean 0.
# Money validators are plain (they replace pydantic's own Decimal coercion, which would accept
# floats): what they return is already the exact, finite Decimal.
Money = Annotated[Decimal, PlainValidator(_money)]
MoneyOrZero = Annotated[Decimal, PlainValidator(_money_or_zero)]
NullableMoney = Annotated[Decimal | None, PlainValidator(_nullable_money)]
Count = Annotated[int, BeforeValidator(_nullable_count), AfterValidator(_bounded_count)]


class Wire(BaseModel):
    """Base of every provider body model: unknown fields are ignored because both APIs grow."""

    model_config = ConfigDict(extra="ignore", frozen=True)


M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def parse_body(model: type[M], body: Any, *, provider: str, endpoint: str, at: str = "") -> M:
    """Validate a decoded body, turning a shape error into MalformedResponse naming the field.

    ``at`` is where ``body`` sits in the response (``data.3`` for one element of a streamed
    array), so the message names the same path as validating the whole body would.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join([*([at] if at else []), *(str(part) for part in first["loc"])]) or "<body>"
        extra = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise MalformedResponse(
            f"{provider} GET {endpoint}: unexpected response shape at {where}: {first['msg']}{extra}",
            provider=provider,
            endpoint=endpoint,
            status=200,
        ) from None


def retry_after_seconds(headers: httpx.Headers, now: Callable[[], datetime] | None = None) -> float | None:
    """The wait a 429/503 asked for: ``retry-after-ms`` first (OpenAI), then ``Retry-After``.

    ``Retry-After`` may be seconds or an HTTP date; anything unparseable counts as absent so
    the exponential backoff applies instead.
    """
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        seconds = _finite(raw_ms)
        if seconds is not None:
            return max(seconds, 0.0) / 1000
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _finite(raw)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now() if now else datetime.now(UTC)
    return max((when - current).total_seconds(), 0.0)


def _finite(text: str) -> float | None:
    """A header number of seconds (a duration, never money), or None when it is not one."""
    try:
        value = float(text.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


class _RetryableStatus(Exception):
    """Internal: a 408/429/5xx answer, carried through tenacity until we retry or give up."""

    def __init__(self, status: int, retry_after: float | None, detail: str) -> None:
        super().__init__(status)
        self.status = status
        self.retry_after = retry_after
        self.detail = detail


def _is_retryable_status(status: int) -> bool:
    return status in (408, 429) or status >= 500


class Closable:
    """``with`` closes: ``__enter__``/``__exit__`` written once for every client that holds a
    connection pool (as httpx's ``BaseTransport`` does); subclasses write ``close``."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class ClientOptions(TypedDict, total=False):
    """Connection and retry options every provider client passes through to :class:`JsonApi`."""

    transport: httpx.BaseTransport | None
    timeout: float
    max_attempts: int
    sleep: Sleep | None
    limits: Limits | None


class JsonApi(Closable):
    """A bearer-authenticated JSON API with the shared retry policy.

    ``requests_made`` counts every HTTP request sent, retries included, because "a poll makes the
    fewest requests the APIs allow" is a measured quality bar.
    """

    def __init__(
        self,
        *,
        provider: str,
        base_url: str,
        api_key: str,
        transport: httpx.BaseTransport | None = None,
        timeout: float = 30.0,
        max_attempts: int = 4,
        max_wait: float = 60.0,
        sleep: Sleep | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 8.0,
        limits: Limits | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.provider = provider
        self.requests_made = 0
        self.limits = limits or Limits()
        # Set by the poller for the duration of one poll (see PollBudget); None outside a poll.
        self.budget: PollBudget | None = None
        self._timeout = timeout
        self._secret = api_key
        self._max_attempts = max_attempts
        self._max_wait = max_wait
        self._sleep: Sleep = sleep if sleep is not None else time.sleep
        # Composed rather than wait_exponential_jitter, whose parameters changed across the
        # tenacity versions pyproject allows (>=8.2): initial * 2**n capped, plus 0..initial jitter.
        self._backoff = wait_exponential(multiplier=backoff_initial, max=backoff_max) + wait_random(
            0, backoff_initial
        )
        self._client = httpx.Client(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {api_key}",
                "Accept": "application/json",
                "User-Agent": f"aispend/{__version__}",
            },
            transport=transport,
            timeout=timeout,
        )

    def close(self) -> None:
        self._client.close()

    def get_json(self, path: str, params: Params | None = None) -> Any:
        """GET ``path`` and return the decoded body, retrying what is worth retrying.

        The body is read whole (at most ``limits.max_body_bytes``) before it is decoded.
        """
        status, body = self._fetch(
            path, params, self.limits.max_body_bytes, "AISPEND_MAX_BODY_BYTES", _read_whole
        )
        return self._decode(path, status, body)

    def count_rows(self, path: str, endpoint_rows: int, new: int) -> None:
        """Charge ``new`` records to the poll; ``endpoint_rows`` is the endpoint's total so far.

        Called by the clients as records are made (while a page streams, too), so an endless
        answer is stopped at the cap, not after it has filled the memory.
        """
        if endpoint_rows > self.limits.max_rows:
            raise too_large(
                self.provider, path, f"more than {self.limits.max_rows} records", "AISPEND_MAX_ROWS"
            )
        if self.budget is not None:
            self.budget.charge_rows(new, self.provider, path)

    def too_many_pages(self, path: str) -> LimitExceeded:
        return too_large(
            self.provider,
            path,
            f"more pages than the cap of {self.limits.max_pages}",
            "AISPEND_MAX_PAGES",
        )

    def get_streamed(
        self,
        path: str,
        params: Params | None,
        member: str,
        convert: Callable[[Any, int], Iterable[T]],
    ) -> StreamedObject[T]:
        """GET ``path`` and decode the body as it arrives; see :func:`jsonstream.read_object`.

        Each element of the top-level ``member`` array goes through ``convert`` as soon as it is
        decoded, so neither the whole body nor its whole tree is ever held. The request is retried
        exactly like :meth:`get_json`, and a retry starts the body over: ``convert``'s items from a
        failed attempt are dropped with it, never returned. A body that is not complete, valid
        JSON raises MalformedResponse and returns nothing.
        """
        return self._fetch(
            path,
            params,
            self.limits.max_page_bytes,
            "AISPEND_MAX_PAGE_BYTES",
            lambda response, chunks: self._stream(path, response, chunks, member, convert),
        )

    def _fetch(
        self,
        path: str,
        params: Params | None,
        cap: int,
        cap_variable: str,
        consume: Callable[[httpx.Response, Iterator[bytes]], T],
    ) -> T:
        """One request under the retry policy; ``consume`` reads a 2xx body inside the attempt.

        Reading inside the attempt is what makes a body cut off by the transport (a protocol
        error or timeout mid-read) retryable, whether it is read whole or streamed. ``consume``
        gets the body as chunks that stop it at ``cap`` bytes and at the request's deadline.
        """
        out_of_attempts = stop_after_attempt(self._max_attempts)
        retrying = Retrying(
            stop=lambda state: out_of_attempts(state) or self._budget_spent(state),
            wait=self._wait,
            retry=retry_if_exception(self._should_retry),
            sleep=self._sleep,
            before_sleep=lambda state: self._log_retry(path, state),
            reraise=True,
        )
        try:
            result: T = retrying(self._attempt, path, params, _Body(cap, cap_variable), consume)
        except _RetryableStatus as exc:
            raise self._gave_up(path, exc, retrying.statistics.get("attempt_number", 1)) from None
        except _RETRY_EXCEPTIONS as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            raise ProviderUnavailable(
                self._clean(f"{self.provider} GET {path}: {type(exc).__name__} after {attempts} attempt(s)"),
                provider=self.provider,
                endpoint=path,
            ) from None
        return result

    # -- one attempt ---------------------------------------------------------------------------

    def _attempt(
        self,
        path: str,
        params: Params | None,
        body: _Body,
        consume: Callable[[httpx.Response, Iterator[bytes]], T],
    ) -> T:
        budget = self.budget
        if budget is not None:
            budget.charge_request(self.provider, path)
        started = time.monotonic()
        deadline = started + self.limits.request_seconds
        if budget is not None:
            # Both deadlines on one clock: the budget's may be a test's fake monotonic clock.
            deadline = min(deadline, started + budget.remaining())
        self.requests_made += 1
        # Every timeout (connect, read, write, pool) is also cut to the time left, so one stalled
        # read cannot outlast the deadline by more than what was left when the request began.
        timeout = httpx.Timeout(max(min(self._timeout, deadline - started), 0.001))
        try:
            with self._client.stream("GET", path, params=params, timeout=timeout) as response:
                status = response.status_code
                log.debug("%s GET %s -> %d", self.provider, path, status)
                if status < 300:
                    declared = response.headers.get("content-length", "")
                    if declared.isdigit() and int(declared) > body.cap:
                        raise self._body_too_large(path, body)
                    return consume(response, self._chunks(path, response, body, deadline))
                error_body = b"".join(self._chunks(path, response, _Body(_ERROR_BODY_CAP, ""), deadline))
                raise self._status_error(path, response, error_body)
        except _BodyCapReached:
            raise self._body_too_large(path, body) from None
        except httpx.TimeoutException:
            if time.monotonic() < deadline - 0.05:
                raise  # an ordinary timeout, well within the deadline: retried
            raise self._overdue(path, budget) from None

    def _chunks(self, path: str, response: httpx.Response, body: _Body, deadline: float) -> Iterator[bytes]:
        """The decoded body, stopped at ``body.cap`` bytes and at ``deadline``.

        An error body is only needed for its message, so it is cut at its cap (_BodyCapReached
        is raised only for success bodies, whose truncation would lose data).
        """
        received = 0
        for chunk in response.iter_bytes():
            received += len(chunk)
            if self.budget is not None:
                self.budget.charge_bytes(len(chunk), self.provider, path)
            if received > body.cap:
                if not body.variable:
                    yield chunk[: max(body.cap - (received - len(chunk)), 0)]
                    return
                raise _BodyCapReached
            if time.monotonic() > deadline:
                raise self._overdue(path, self.budget)
            yield chunk

    def _body_too_large(self, path: str, body: _Body) -> LimitExceeded:
        return too_large(self.provider, path, f"more than {size(body.cap)} of body", body.variable)

    def _overdue(self, path: str, budget: PollBudget | None) -> ProviderUnavailable:
        if budget is not None and budget.remaining() <= 0:
            return budget.out_of_time(self.provider, path, during="the request")
        return DeadlineExceeded(
            f"{self.provider} GET {path}: no complete answer within the "
            f"{self.limits.request_seconds:g} s request deadline (AISPEND_REQUEST_SECONDS)",
            provider=self.provider,
            endpoint=path,
        )

    def _status_error(self, path: str, response: httpx.Response, body: bytes) -> Exception:
        status = response.status_code
        detail = self._error_detail(response, body)
        if _is_retryable_status(status):
            return _RetryableStatus(status, retry_after_seconds(response.headers), detail)
        message = self._clean(f"{self.provider} GET {path} -> {status}: {detail}")
        if status in (401, 403):
            return PermissionDenied(message, provider=self.provider, endpoint=path, status=status)
        if status == 400:
            return BadRequest(message, provider=self.provider, endpoint=path, provider_message=detail)
        return ProviderError(message, provider=self.provider, endpoint=path, status=status)

    def _stream(
        self,
        path: str,
        response: httpx.Response,
        body: Iterator[bytes],
        member: str,
        convert: Callable[[Any, int], Iterable[T]],
    ) -> StreamedObject[T]:
        received = 0

        def chunks() -> Iterator[bytes]:
            nonlocal received
            for chunk in body:
                received += len(chunk)
                yield chunk

        try:
            return read_object(chunks(), member, convert)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise self._not_json(path, response.status_code, exc, received) from None

    def _decode(self, path: str, status: int, body: bytes) -> Any:
        try:
            return money.loads_exact(body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError both
            raise self._not_json(path, status, exc, len(body)) from None

    def _not_json(self, path: str, status: int, exc: ValueError, size: int) -> MalformedResponse:
        reason = getattr(exc, "msg", type(exc).__name__)
        return MalformedResponse(
            self._clean(
                f"{self.provider} GET {path} -> {status}: body is not valid JSON ({reason}; {size} bytes)"
            ),
            provider=self.provider,
            endpoint=path,
            status=status,
        )

    def _error_detail(self, response: httpx.Response, content: bytes) -> str:
        """The provider's own error message (both providers use ``{"error": {"message": …}}``)."""
        detail: object = None
        try:
            body = money.loads_exact(content)
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = body.get("error")
            detail = error.get("message") if isinstance(error, dict) else error
        if not isinstance(detail, str) or not detail.strip():
            detail = response.reason_phrase or "no error message"
        return self._clean(detail.strip()[:_DETAIL_LIMIT])

    # -- tenacity policy -----------------------------------------------------------------------

    def _wait_cap(self) -> float:
        """The longest wait allowed now: ``max_wait``, and never past the poll's budget."""
        if self.budget is None:
            return self._max_wait
        return min(self._max_wait, self.budget.remaining())

    def _should_retry(self, exc: BaseException) -> bool:
        if isinstance(exc, _RetryableStatus):
            return exc.retry_after is None or exc.retry_after <= self._wait_cap()
        return isinstance(exc, _RETRY_EXCEPTIONS)

    def _budget_spent(self, state: RetryCallState) -> bool:
        """tenacity stop condition: no retry once the poll's budget is gone."""
        return self.budget is not None and self.budget.remaining() <= 0

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _RetryableStatus) and exc.retry_after is not None:
            return min(exc.retry_after, self._wait_cap())  # already known to be within the cap
        return min(self._backoff(state), self._wait_cap())

    def _log_retry(self, path: str, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        reason = f"HTTP {exc.status}" if isinstance(exc, _RetryableStatus) else type(exc).__name__
        wait = state.next_action.sleep if state.next_action else 0.0
        log.warning(
            "%s GET %s: %s; retry %d/%d in %.2fs",
            self.provider,
            path,
            reason,
            state.attempt_number,
            self._max_attempts - 1,
            wait,
        )

    def _gave_up(self, path: str, exc: _RetryableStatus, attempts: int) -> ProviderUnavailable:
        head = f"{self.provider} GET {path} -> {exc.status}"
        if exc.retry_after is not None and exc.retry_after > self._max_wait:
            why = f"Retry-After {exc.retry_after:g}s exceeds the {self._max_wait:g}s cap"
        elif self.budget is not None and exc.retry_after is not None and exc.retry_after > self._wait_cap():
            why = (
                f"Retry-After {exc.retry_after:g}s exceeds what is left of the poll's "
                f"{self.budget.limits.poll_seconds:g} s budget"
            )
        else:
            why = f"gave up after {attempts} attempt(s)"
        message = self._clean(f"{head}: {exc.detail} ({why})")
        if exc.status == 429:
            return RateLimited(message, provider=self.provider, endpoint=path, retry_after=exc.retry_after)
        return ProviderUnavailable(message, provider=self.provider, endpoint=path, status=exc.status)

    def _clean(self, text: str) -> str:
        return redact(text, self._secret)


_ERROR_BODY_CAP = 64 << 10  # an error answer is only read for its message


class _Body:
    """How much of a success body to accept, and the setting that says so."""

    __slots__ = ("cap", "variable")

    def __init__(self, cap: int, variable: str) -> None:
        self.cap = cap
        self.variable = variable


class _BodyCapReached(Exception):
    """Internal: a success body grew past its cap."""


def _read_whole(response: httpx.Response, chunks: Iterator[bytes]) -> tuple[int, bytes]:
    return response.status_code, b"".join(chunks)


class ProviderClient(Closable):
    """What both provider clients share: one retrying JSON API, closable, a context manager.

    Subclasses set ``provider`` and ``default_base_url`` and add the endpoints; requests are
    counted for benchmarks.
    """

    provider: ClassVar[str]
    default_base_url: ClassVar[str]

    def __init__(self, api_key: str, base_url: str | None = None, **options: Unpack[ClientOptions]) -> None:
        self._api = JsonApi(
            provider=self.provider,
            base_url=base_url or self.default_base_url,
            api_key=api_key,
            **options,
        )

    @property
    def requests_made(self) -> int:
        return self._api.requests_made

    @property
    def limits(self) -> Limits:
        return self._api.limits

    @contextmanager
    def metered(self, budget: PollBudget) -> Iterator[None]:
        """Charge every request made inside the block to ``budget`` (one poll's)."""
        previous, self._api.budget = self._api.budget, budget
        try:
            yield
        finally:
            self._api.budget = previous

    def close(self) -> None:
        self._api.close()
