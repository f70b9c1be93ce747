"""The read policy: idempotent requests, retried with seeded backoff that honours Retry-After.

Every read goes through one :class:`ReadClient`, which

- applies the :class:`~quant_net.ReadPolicy` timeout to each request;
- takes a token from a per-provider :class:`~quant_net.RateLimiter` (a token bucket on the
  injected :class:`~quant_core.Clock`) before each request, and honours pauses that an
  adapter derives from the provider's rate-limit headers;
- retries *retryable* failures (HTTP 408/425/429/5xx, timeouts, connection errors, truncated or
  malformed bodies, and any :class:`~quant_net.ProviderError` whose ``retryable`` is set) with
  exponential backoff and jitter; the jitter comes from a generator seeded through
  :func:`quant_core.generator`, and ``Retry-After`` raises the delay to what the provider
  asked for; fatal failures (bad credentials, unknown symbol, bad request) raise at once;
- waits only through an injected ``sleep`` — with a :class:`~quant_core.SimClock`,
  :func:`~quant_net.sim_sleep` advances the clock instead of the process sleeping, so tests run
  instantly and every delay is reproducible;
- never lets a credential out: auth headers are built at the point of sending from a
  :class:`~quant_core.settings.Secret`, log lines show :func:`~quant_net.redact_headers` output,
  the canonical request text of a :class:`~quant_net.Response` holds the path and the query
  only, and any error text a provider echoes is scrubbed of the secret's value.

Examples:
    >>> import httpx
    >>> from quant_core import SimClock
    >>> clock = SimClock(0)
    >>> calls = []
    >>> def handler(request):
    ...     calls.append(request.url.path)
    ...     return httpx.Response(503 if len(calls) < 3 else 200, content=b"ok")
    >>> client = ReadClient("demo", "http://127.0.0.1:9", clock=clock, seed=1,
    ...                     transport=httpx.MockTransport(handler))
    >>> def parse(response):
    ...     return response.expect_ok().payload
    >>> client.get("/ping", {"b": "2", "a": "1"}, parse=parse), len(calls)
    (b'ok', 3)
    >>> client.last_response.request
    'GET /ping?a=1&b=2'
    >>> clock.now_ns() > 0  # the two backoff waits advanced the simulated clock
    True
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import TypeVar, Unpack
from urllib.parse import urlencode

import httpx

from quant_core import Clock, generator
from quant_net import _reasons as reasons
from quant_net._channel import Channel, ChannelOptions, Response, Signer
from quant_net._errors import ProviderError
from quant_net._policy import ReadPolicy

__all__ = ["ReadClient"]

T = TypeVar("T")

_log = logging.getLogger("quant_net")


class ReadClient(Channel):
    """One provider's client for idempotent requests, under the :class:`ReadPolicy`.

    Args:
        provider: the provider name used in responses, errors and logs.
        base_url: the provider root; request paths are appended to it.
        clock: the injected clock (``received_at_ns``, rate limiting, backoff).
        seed: root seed for the jitter generator (derived per provider).
        policy: the :class:`ReadPolicy`.

    Keyword Args:
        sleep (Callable[[float], None] | None): how to wait; default
            :func:`~quant_net.default_sleep` of ``clock``.
        transport (httpx.BaseTransport | None): an httpx transport (``httpx.MockTransport``
            in unit tests).
        secret_headers (Mapping[str, Secret] | None): headers whose values are secrets,
            revealed only when sending.
        headers (Mapping[str, str] | None): other fixed headers.
        limiter (RateLimiter | None): a shared :class:`RateLimiter`; default one built from
            ``policy``.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        clock: Clock,
        seed: int,
        policy: ReadPolicy | None = None,
        **options: Unpack[ChannelOptions],
    ) -> None:
        self.policy = policy or ReadPolicy()
        super().__init__(provider, base_url, clock=clock, rate=self.policy, **options)
        # The stream's name predates the move to quant_net; kept so every delay stays the same.
        self._rng = generator(seed, "quant_data.http", provider)

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

    def _attempt(self, request_text: str, send: Callable[[], Response]) -> Response:
        """One attempt; a transport failure becomes a retryable ``PROVIDER_UNAVAILABLE``."""
        try:
            return send()
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

    def _retrying(
        self, request_text: str, send: Callable[[], Response], parse: Callable[[Response], T]
    ) -> T:
        """Send and parse until it succeeds, fails fatally, or the policy gives up."""
        attempt = 0
        while True:
            attempt += 1
            self.limiter.acquire()
            try:
                return parse(self._attempt(request_text, send))
            except ProviderError as error:
                self.scrub_error(error)
                if not error.retryable or attempt >= self.policy.max_attempts:
                    if error.retryable:
                        error.message += f" (gave up after {attempt} attempts)"
                        error.args = (error.message,)
                    _log.warning("%s: %s", self.provider, error)
                    raise
                self._pause_or_fail(error, attempt)

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
                :class:`~quant_net.ProviderError` (retryable or fatal); a non-200 status it
                does not handle should go through :meth:`Response.expect_ok`.

        Raises:
            ProviderError: a fatal error at once, or the last retryable one when the attempts
                are used up or the provider asks for a wait longer than ``max_wait_s``.
        """
        query = sorted(params.items())
        request_text = f"GET {path}" + (f"?{urlencode(query, safe=':,')}" if query else "")
        return self._retrying(
            request_text,
            lambda: self._send("GET", path, request_text, query=query),
            parse,
        )

    def post(
        self,
        path: str,
        form: Callable[[], Mapping[str, str]],
        *,
        parse: Callable[[Response], T],
        sign: Signer | None = None,
    ) -> T:
        """POST an idempotent query (a balance, an order by id), retried like a GET.

        Only for requests that change nothing at the other end: writes go through
        :class:`~quant_net.WriteClient`.

        Args:
            path: the provider's own path (``/0/private/QueryOrders``).
            form: makes the body's fields, once per attempt, so that each attempt carries a
                fresh nonce (never recorded or logged).
            parse: as for :meth:`get`.
            sign: headers computed from the path and each attempt's exact body bytes.

        Raises:
            ProviderError: as for :meth:`get`.
        """
        request_text = f"POST {path}"
        return self._retrying(
            request_text, lambda: self._send_form(path, request_text, form(), sign), parse
        )
