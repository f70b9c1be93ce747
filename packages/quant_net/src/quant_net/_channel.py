"""What the read and write clients share: the connection, headers, secrets and responses.

A :class:`Channel` owns one ``httpx.Client`` (transport injectable), the fixed headers, the
secret headers (revealed only when a request is sent) and the rate limiter. It turns an
answer into a :class:`Response`; what a failure *means* (retry, give up, unknown outcome) is
the read or the write client's business.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Protocol, TypedDict
from urllib.parse import urlencode

import attrs
import httpx

from quant_core import Clock
from quant_core.settings import MASK, Secret, redact_text, redact_url
from quant_net import _reasons as reasons
from quant_net._errors import ProviderError
from quant_net._policy import RateLimiter, default_sleep, parse_retry_after

__all__ = [
    "SENSITIVE_HEADERS",
    "Channel",
    "ChannelOptions",
    "Response",
    "Signer",
    "redact_headers",
    "status_error",
]

Signer = Callable[[str, bytes], Mapping[str, str]]
"""Headers computed from a request's path and exact body bytes (an ``API-Sign``)."""

_log = logging.getLogger("quant_net")

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


@attrs.frozen
class Response:
    """One answer, exactly as received, and what a ``parse`` callback needs to judge it.

    Attributes:
        provider: who answered (``"kraken"``), as named by the client.
        request: canonical text of the request: method, path and sorted query, never a
            credential or a request body (``"GET /0/public/OHLC?interval=60&pair=XBTUSD"``).
        received_at_ns: the clock's time when the answer arrived.
        status: the HTTP status.
        payload: the body bytes.
        headers: the response headers, names in lower case.
    """

    provider: str
    request: str
    received_at_ns: int
    status: int
    payload: bytes = attrs.field(repr=False)
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)

    def excerpt(self) -> str:
        """The first 200 bytes of the body as text, for an error message."""
        return self.payload[:200].decode("utf-8", "replace")

    def invalid(self, message: str) -> ProviderError:
        """The retryable ``PROVIDER_RESPONSE_INVALID`` error for this (malformed) answer.

        Examples:
            >>> Response("demo", "GET /x", 0, 200, b"[").invalid("not JSON").message
            'demo: not JSON'
        """
        return ProviderError(
            f"{self.provider}: {message}",
            provider=self.provider,
            status=self.status,
            retryable=True,
            reason_code=reasons.PROVIDER_RESPONSE_INVALID,
        )

    def expect_ok(self, message: str = "") -> Response:
        """This response if its status is 200, else raise :func:`status_error`'s error."""
        error = status_error(self, message or self.excerpt())
        if error is not None:
            raise error
        return self


def status_error(response: Response, message: str) -> ProviderError | None:
    """The generic classification of a non-200 status, or ``None`` for 200.

    408/425/429 and 5xx are retryable (429 as ``PROVIDER_RATE_LIMITED`` with its
    ``Retry-After``), 401 and 403 are ``PROVIDER_AUTH_FAILED``, 400 ``PROVIDER_BAD_REQUEST``;
    anything else is a fatal ``PROVIDER_ERROR``. Adapters handle their special statuses first.

    Examples:
        >>> answer = Response("x", "GET /", 0, 429, b"", {"retry-after": "3"})
        >>> err = status_error(answer, "slow down")
        >>> err.reason_code, err.retryable, err.retry_after_s
        ('PROVIDER_RATE_LIMITED', True, 3.0)
    """
    status = response.status
    if status == 200:
        return None
    provider = response.provider
    text = f"{provider}: HTTP {status} for {response.request}: {message}"
    if status in _RETRYABLE_STATUS or status >= 500:
        return ProviderError(
            text,
            provider=provider,
            status=status,
            retryable=True,
            retry_after_s=parse_retry_after(
                response.headers.get("retry-after"), response.received_at_ns
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


class _Rated(Protocol):
    """What a channel takes from a read or write policy."""

    @property
    def timeout_s(self) -> float: ...

    @property
    def rate_per_s(self) -> float: ...

    @property
    def burst(self) -> int: ...


class ChannelOptions(TypedDict, total=False):
    """The options both clients take besides their policy (see :class:`Channel`)."""

    sleep: Callable[[float], None] | None
    transport: httpx.BaseTransport | None
    secret_headers: Mapping[str, Secret] | None
    headers: Mapping[str, str] | None
    limiter: RateLimiter | None


class Channel:
    """One provider's connection, headers, secrets and rate limiter (base of both clients).

    Args:
        provider: the provider name used in responses, errors and logs.
        base_url: the provider root (``https://api.kraken.com``, or an emulator's
            ``http://127.0.0.1:PORT/kraken``); request paths are appended to it.
        clock: the injected clock (``received_at_ns``, rate limiting, backoff).
        rate: the policy: its timeout, and the rate of the default limiter.
        sleep: how to wait; default :func:`~quant_net.default_sleep` of ``clock``.
        transport: an httpx transport (``httpx.MockTransport`` in unit tests); default a real
            connection.
        secret_headers: headers whose values are secrets (``{"X-CoinAPI-Key": Secret(...)}``),
            revealed only when a request is sent.
        headers: other fixed headers.
        limiter: a shared :class:`~quant_net.RateLimiter`; default one built from ``rate``.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        clock: Clock,
        rate: _Rated,
        sleep: Callable[[float], None] | None = None,
        transport: httpx.BaseTransport | None = None,
        secret_headers: Mapping[str, Secret] | None = None,
        headers: Mapping[str, str] | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.provider = provider
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.sleep = sleep or default_sleep(clock)
        self.limiter = limiter or RateLimiter(rate.rate_per_s, rate.burst, clock, self.sleep)
        self._secrets = dict(secret_headers or {})
        self._headers = {"Accept": "application/json", **(headers or {})}
        self._client = httpx.Client(transport=transport, timeout=httpx.Timeout(rate.timeout_s))
        self.requests_sent = 0
        self.last_response: Response | None = None

    def _shown_headers(self) -> dict[str, str]:
        """The request headers as they may be shown: every secret one masked."""
        return {**redact_headers(self._headers), **dict.fromkeys(self._secrets, MASK)}

    def __repr__(self) -> str:
        name, shown = type(self).__name__, self._shown_headers()
        return (
            f"{name}(provider={self.provider!r}, base_url={redact_url(self.base_url)!r}, {shown})"
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()

    def scrub(self, text: str) -> str:
        """``text`` with every secret value this client holds replaced by the mask.

        URLs in it are shown through :func:`~quant_core.settings.redact_text` (a base URL
        may carry credentials).
        """
        for secret in self._secrets.values():
            value = secret.reveal()
            if value:
                text = text.replace(value, MASK)
        return redact_text(text)

    def scrub_error(self, error: ProviderError) -> None:
        """Replace every secret value in ``error``'s message by the mask."""
        error.message = self.scrub(error.message)
        error.args = (error.message,)

    def _send(
        self,
        method: str,
        path: str,
        request_text: str,
        *,
        query: list[tuple[str, str]] | None = None,
        content: bytes | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send one request; httpx's transport errors propagate for the caller to judge."""
        headers = {
            **self._headers,
            **{k: v.reveal() for k, v in self._secrets.items()},
            **(extra_headers or {}),
        }
        shown = {**self._shown_headers(), **redact_headers(extra_headers or {})}
        _log.debug("%s: %s headers=%s", self.provider, request_text, shown)
        self.requests_sent += 1
        response = self._client.request(
            method,
            self.base_url + path,
            params=tuple(query) if query else None,
            content=content,
            headers=headers,
        )
        answer = Response(
            provider=self.provider,
            request=request_text,
            received_at_ns=self.clock.now_ns(),
            status=response.status_code,
            payload=response.content,
            headers={k.lower(): v for k, v in response.headers.items()},
        )
        self.last_response = answer
        _log.debug(
            "%s: %s -> %d (%d bytes)",
            self.provider,
            request_text,
            answer.status,
            len(answer.payload),
        )
        return answer

    def _send_form(
        self, path: str, request_text: str, form: Mapping[str, str], sign: Signer | None
    ) -> Response:
        """POST ``form`` form-encoded in its order, with ``sign``'s headers over the body."""
        body = urlencode(list(form.items())).encode("ascii")
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if sign is not None:
            headers.update(sign(path, body))
        return self._send("POST", path, request_text, content=body, extra_headers=headers)
