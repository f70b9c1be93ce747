"""The shared HTTP policy of every provider adapter: timeouts, retries, rate limits, redaction.

Every adapter sends its requests through one :class:`HttpClient`, which

- applies the :class:`HttpPolicy` timeout to each request;
- takes a token from a per-provider :class:`RateLimiter` (a token bucket on the injected
  :class:`~quant_core.clock.Clock`) before each request, and honours pauses that the adapter
  derives from the provider's rate-limit headers;
- retries *retryable* failures (HTTP 408/425/429/5xx, timeouts, connection errors, truncated or
  malformed bodies, and any :class:`~quant_data.errors.ProviderError` whose ``retryable`` is
  set) with exponential backoff and jitter; the jitter comes from a generator seeded through
  :func:`quant_core.rng.generator`, and ``Retry-After`` raises the delay to what the provider
  asked for; fatal failures (bad credentials, unknown symbol, bad request) raise at once;
- waits only through an injected ``sleep`` — with a :class:`~quant_core.clock.SimClock`,
  :func:`sim_sleep` advances the clock instead of the process sleeping, so tests run instantly
  and every delay is reproducible;
- never lets a credential out: auth headers are built at the point of sending from a
  :class:`~quant_core.secret.Secret`, log lines show :func:`redact_headers` output, the
  canonical request text recorded in :class:`~quant_data.records.RawPage` holds the path and the
  query only, and any error text a provider echoes is scrubbed of the secret's value.

Examples:
    >>> import httpx
    >>> from quant_core import SimClock
    >>> clock = SimClock(0)
    >>> calls = []
    >>> def handler(request):
    ...     calls.append(request.url.path)
    ...     return httpx.Response(503 if len(calls) < 3 else 200, content=b"ok")
    >>> client = HttpClient("demo", "http://127.0.0.1:9", clock=clock, seed=1,
    ...                     transport=httpx.MockTransport(handler))
    >>> def parse(response):
    ...     return response.expect_ok("demo").raw.payload
    >>> response = client.get("/ping", {"b": "2", "a": "1"}, parse=parse)
    >>> response, len(calls)
    (b'ok', 3)
    >>> client.last_raw.request
    'GET /ping?a=1&b=2'
    >>> clock.now_ns() > 0  # the two backoff waits advanced the simulated clock
    True
"""

from __future__ import annotations

import email.utils
import logging
import math
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final, TypeVar
from urllib.parse import urlencode

import attrs
import httpx

from quant_core import Clock, SimClock
from quant_core.clock import NS_PER_SECOND, iso_to_ns
from quant_core.errors import QuantError
from quant_core.rng import generator
from quant_core.secret import MASK, Secret
from quant_data import reasons
from quant_data._errors import ProviderError
from quant_data._records import RawPage

__all__ = [
    "SENSITIVE_HEADERS",
    "HttpClient",
    "HttpPolicy",
    "RateLimiter",
    "Response",
    "default_sleep",
    "parse_reset_time",
    "parse_retry_after",
    "redact_headers",
    "sim_sleep",
    "status_error",
]

T = TypeVar("T")

_log = logging.getLogger("quant_data.http")

SENSITIVE_HEADERS: Final = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "set-cookie",
        "x-coinapi-key",
        "x-cg-demo-api-key",
        "x-cg-pro-api-key",
        "api-key",
        "api-sign",
        "x-api-key",
    }
)
"""Header names (lower case) whose values are never logged or recorded."""

_RETRYABLE_STATUS: Final = frozenset({408, 425, 429})


def redact_headers(headers: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    """A copy of ``headers`` with every sensitive value replaced by the mask.

    Examples:
        >>> redact_headers({"X-CoinAPI-Key": "k3y", "Accept": "application/json"})
        {'X-CoinAPI-Key': '**********', 'Accept': 'application/json'}
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {k: (MASK if k.lower() in SENSITIVE_HEADERS else v) for k, v in items}


def sim_sleep(clock: SimClock) -> Callable[[float], None]:
    """A ``sleep`` that advances a simulated clock instead of waiting.

    Examples:
        >>> from quant_core import SimClock
        >>> clock = SimClock(0)
        >>> sim_sleep(clock)(1.5)
        >>> clock.now_ns()
        1500000000
    """

    def sleep(seconds: float) -> None:
        clock.advance_by(max(0, math.ceil(seconds * NS_PER_SECOND)))

    return sleep


def default_sleep(clock: Clock) -> Callable[[float], None]:
    """:func:`sim_sleep` for a :class:`SimClock`, the process's real sleep otherwise."""
    if isinstance(clock, SimClock):
        return sim_sleep(clock)
    return time.sleep


@attrs.frozen
class HttpPolicy:
    """How one provider is called: timeout, retry budget, backoff and rate.

    Attributes:
        timeout_s: per-request timeout (connect, read, write and pool), seconds.
        max_attempts: attempts per request, the first included (>= 1).
        backoff_base_s: delay before the second attempt, doubling after each failure.
        backoff_max_s: ceiling of the exponential delay.
        jitter: fraction of the delay that is randomized (0 = none, 1 = "full jitter").
        rate_per_s: sustained request rate of the token bucket.
        burst: bucket size (requests allowed back to back).
        max_wait_s: the longest single wait the client accepts (``Retry-After``, a quota
            reset); a longer one fails the request instead of stalling the process.

    Examples:
        >>> HttpPolicy().max_attempts
        5
        >>> HttpPolicy(max_attempts=0)
        Traceback (most recent call last):
        ...
        ValueError: max_attempts must be >= 1
    """

    timeout_s: float = 30.0
    max_attempts: int = 5
    backoff_base_s: float = 1.0
    backoff_max_s: float = 60.0
    jitter: float = 0.5
    rate_per_s: float = 1.0
    burst: int = 1
    max_wait_s: float = 300.0

    def __attrs_post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")
        if self.rate_per_s <= 0 or self.burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        if self.timeout_s <= 0 or self.backoff_base_s < 0 or self.backoff_max_s < 0:
            raise ValueError("timeout_s must be > 0 and backoff delays >= 0")

    def backoff_s(self, attempt: int, unit: float) -> float:
        """The delay after failed attempt number ``attempt`` (1-based), given ``unit`` in [0, 1).

        ``delay = min(max, base * 2**(attempt-1)) * (1 - jitter + jitter * unit)``.

        Examples:
            >>> HttpPolicy(backoff_base_s=1, jitter=0).backoff_s(3, 0.9)
            4.0
            >>> HttpPolicy(backoff_base_s=1, jitter=1).backoff_s(1, 0.25)
            0.25
        """
        exp = min(self.backoff_max_s, self.backoff_base_s * 2.0 ** (attempt - 1))
        return exp * (1.0 - self.jitter + self.jitter * unit)


class RateLimiter:
    """A token bucket on an injected clock, plus provider-requested pauses.

    Args:
        rate_per_s: tokens added per second.
        burst: bucket capacity (the bucket starts full).
        clock: where "now" comes from.
        sleep: how to wait (see :func:`sim_sleep`).

    Examples:
        >>> from quant_core import SimClock
        >>> clock = SimClock(0)
        >>> limiter = RateLimiter(2.0, 1, clock, sim_sleep(clock))
        >>> [limiter.acquire() for _ in range(3)]
        [0.0, 0.5, 0.5]
        >>> clock.now_ns()
        1000000000
    """

    def __init__(
        self, rate_per_s: float, burst: int, clock: Clock, sleep: Callable[[float], None]
    ) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._stamp = clock.now_ns()
        self._paused_until = 0

    def _refill(self) -> None:
        now = self._clock.now_ns()
        if now > self._stamp:
            self._tokens = min(self._burst, self._tokens + (now - self._stamp) * self._rate / 1e9)
            self._stamp = now

    def pause_until(self, ts_ns: int) -> None:
        """Send nothing before ``ts_ns`` (a provider's reset time or ``Retry-After``)."""
        self._paused_until = max(self._paused_until, ts_ns)

    @property
    def paused_until_ns(self) -> int:
        """The instant before which no request is sent (0 when not paused)."""
        return self._paused_until

    def acquire(self) -> float:
        """Wait until a request may be sent and take its token; returns seconds waited."""
        waited = 0.0
        now = self._clock.now_ns()
        if self._paused_until > now:
            pause = (self._paused_until - now) / NS_PER_SECOND
            self._sleep(pause)
            waited += pause
        self._refill()
        if self._tokens < 1.0:
            need = (1.0 - self._tokens) / self._rate
            self._sleep(need)
            waited += need
            self._refill()
            self._tokens = max(self._tokens, 1.0)
        self._tokens -= 1.0
        return waited


@attrs.frozen
class Response:
    """What an adapter's ``parse`` callback receives: the raw page and the response headers."""

    raw: RawPage
    headers: Mapping[str, str]

    @property
    def status(self) -> int:
        """The HTTP status."""
        return self.raw.status

    def expect_ok(self, provider: str, message: str = "") -> Response:
        """This response if its status is 200, else raise :func:`status_error`'s error."""
        error = status_error(
            provider, self, message or self.raw.payload[:200].decode("utf-8", "replace")
        )
        if error is not None:
            raise error
        return self


def parse_retry_after(value: str | None, now_ns: int) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    Examples:
        >>> parse_retry_after("7", 0), parse_retry_after(None, 0), parse_retry_after("soon", 0)
        (7.0, None, None)
        >>> parse_retry_after("Thu, 01 Jan 1970 00:00:10 GMT", 4_000_000_000)
        6.0
    """
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now_ns / NS_PER_SECOND
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def parse_reset_time(value: str | None) -> int | None:
    """UTC ns of an ISO-8601 reset-time header (CoinAPI ``X-RateLimit-Reset``), or ``None``.

    Examples:
        >>> parse_reset_time("1970-01-01T00:00:01.5000000Z"), parse_reset_time("x")
        (1500000000, None)
    """
    if not value:
        return None
    try:
        return iso_to_ns(value)
    except QuantError:
        return None


def status_error(provider: str, response: Response, message: str) -> ProviderError | None:
    """The generic classification of a non-200 status, or ``None`` for 200.

    408/425/429 and 5xx are retryable (429 as ``PROVIDER_RATE_LIMITED`` with its
    ``Retry-After``), 401 is ``PROVIDER_AUTH_FAILED``, 400 ``PROVIDER_BAD_REQUEST``; anything
    else is a fatal ``PROVIDER_ERROR``. Adapters handle their special statuses first.

    Examples:
        >>> raw = RawPage("x", "GET /", 0, 429, b"")
        >>> err = status_error("x", Response(raw, {"retry-after": "3"}), "slow down")
        >>> err.reason_code, err.retryable, err.retry_after_s
        ('PROVIDER_RATE_LIMITED', True, 3.0)
    """
    status = response.status
    if status == 200:
        return None
    text = f"{provider}: HTTP {status} for {response.raw.request}: {message}"
    if status == 429 or status in _RETRYABLE_STATUS or status >= 500:
        return ProviderError(
            text,
            provider=provider,
            status=status,
            retryable=True,
            retry_after_s=parse_retry_after(
                response.headers.get("retry-after"), response.raw.received_at_ns
            ),
            reason_code=(
                reasons.PROVIDER_RATE_LIMITED if status == 429 else reasons.PROVIDER_UNAVAILABLE
            ),
        )
    code = {
        400: reasons.PROVIDER_BAD_REQUEST,
        401: reasons.PROVIDER_AUTH_FAILED,
        403: reasons.PROVIDER_AUTH_FAILED,
    }.get(status, reasons.PROVIDER_ERROR)
    return ProviderError(text, provider=provider, status=status, reason_code=code)


class HttpClient:
    """One provider's HTTP client under the shared policy.

    Args:
        provider: the provider name used in records, errors and logs.
        base_url: the provider root (``https://rest.coinapi.io``, or an emulator's
            ``http://127.0.0.1:PORT/coinapi``); request paths are appended to it.
        clock: the injected clock (``received_at_ns``, rate limiting, backoff).
        seed: root seed for the jitter generator (derived per provider).
        policy: the :class:`HttpPolicy`.
        sleep: how to wait; default :func:`default_sleep` of ``clock``.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests); default a real
            connection.
        secret_headers: headers whose values are secrets (``{"X-CoinAPI-Key": Secret(...)}``),
            revealed only when a request is sent.
        headers: other fixed headers.
        limiter: a shared :class:`RateLimiter`; default one built from ``policy``.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        clock: Clock,
        seed: int,
        policy: HttpPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        secret_headers: Mapping[str, Secret] | None = None,
        headers: Mapping[str, str] | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.policy = policy or HttpPolicy()
        self.sleep = sleep or default_sleep(clock)
        self.limiter = limiter or RateLimiter(
            self.policy.rate_per_s, self.policy.burst, clock, self.sleep
        )
        self._rng = generator(seed, "quant_data.http", provider)
        self._secrets = dict(secret_headers or {})
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._client = httpx.Client(
            transport=transport, timeout=httpx.Timeout(self.policy.timeout_s)
        )
        self.requests_sent = 0
        self.last_raw: RawPage | None = None

    def _shown_headers(self) -> dict[str, str]:
        """The request headers as they may be shown: every secret one masked."""
        return {**redact_headers(self._headers), **dict.fromkeys(self._secrets, MASK)}

    def __repr__(self) -> str:
        shown = self._shown_headers()
        return f"HttpClient(provider={self.provider!r}, base_url={self.base_url!r}, {shown})"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def scrub(self, text: str) -> str:
        """``text`` with every secret value this client holds replaced by the mask."""
        for secret in self._secrets.values():
            value = secret.reveal()
            if value:
                text = text.replace(value, MASK)
        return text

    def _pause_or_fail(self, error: ProviderError, attempt: int) -> None:
        """Wait before the next attempt, or raise ``error`` if the wait is too long."""
        unit = float(self._rng.random())
        delay = self.policy.backoff_s(attempt, unit)
        if error.retry_after_s is not None:
            if error.retry_after_s > self.policy.max_wait_s:
                raise error
            delay = max(delay, error.retry_after_s)
        _log.info(
            "%s: attempt %d failed (%s); retrying in %.3fs",
            self.provider,
            attempt,
            error.reason_code,
            delay,
        )
        self.sleep(delay)

    def _send(self, path: str, query: list[tuple[str, str]], request_text: str) -> Response:
        headers = {**self._headers, **{k: v.reveal() for k, v in self._secrets.items()}}
        _log.debug("%s: %s headers=%s", self.provider, request_text, self._shown_headers())
        self.requests_sent += 1
        try:
            response = self._client.get(self.base_url + path, params=tuple(query), headers=headers)
            payload = response.content
        except httpx.TimeoutException:
            raise ProviderError(
                f"{self.provider}: timeout after {self.policy.timeout_s}s for {request_text}",
                provider=self.provider,
                retryable=True,
                reason_code=reasons.PROVIDER_UNAVAILABLE,
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                self.scrub(f"{self.provider}: {type(exc).__name__} for {request_text}: {exc}"),
                provider=self.provider,
                retryable=True,
                reason_code=reasons.PROVIDER_UNAVAILABLE,
            ) from None
        raw = RawPage(
            source=self.provider,
            request=request_text,
            received_at_ns=self.clock.now_ns(),
            status=response.status_code,
            payload=payload,
        )
        self.last_raw = raw
        _log.debug("%s: %s -> %d (%d bytes)", self.provider, request_text, raw.status, len(payload))
        return Response(raw, {k.lower(): v for k, v in response.headers.items()})

    def get(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        parse: Callable[[Response], T],
    ) -> T:
        """GET ``base_url + path`` with ``params`` and parse it, retrying under the policy.

        Args:
            path: the provider's own path (``/0/public/OHLC``).
            params: query parameters (sent and recorded in sorted order).
            parse: turns a :class:`Response` into the result, or raises
                :class:`~quant_data.errors.ProviderError` (retryable or fatal); a non-200
                status it does not handle should go through :func:`status_error`.

        Raises:
            ProviderError: a fatal error at once, or the last retryable one when the attempts
                are used up or the provider asks for a wait longer than ``max_wait_s``.
        """
        query = sorted(params.items())
        request_text = f"GET {path}" + (f"?{urlencode(query, safe=':,')}" if query else "")
        attempt = 0
        while True:
            attempt += 1
            self.limiter.acquire()
            try:
                return parse(self._send(path, query, request_text))
            except ProviderError as error:
                error.message = self.scrub(error.message)
                error.args = (error.message,)
                if not error.retryable or attempt >= self.policy.max_attempts:
                    if error.retryable:
                        error.message += f" (gave up after {attempt} attempts)"
                        error.args = (error.message,)
                    _log.warning("%s: %s", self.provider, error)
                    raise
                self._pause_or_fail(error, attempt)
