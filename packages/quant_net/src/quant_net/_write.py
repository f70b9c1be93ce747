"""The write policy: a write is sent once, and a failure after sending is an unknown outcome.

A write changes something at the other end (places or cancels an order). Retrying one
blindly can place an order twice, so :class:`WriteClient` never retries. What a failure means
depends on whether the request may have left this process:

- the connection could not be opened (refused, connect timeout, no free connection):
  :class:`~quant_net.WriteNotSentError` (``WRITE_NOT_SENT``): nothing happened, it may be sent
  again;
- anything after the request may have been sent — a read or write timeout, the connection
  lost before the whole answer arrived, an HTTP 5xx (or 408/425), a service error the
  ``parse`` callback reports as retryable, an answer it cannot read:
  :class:`~quant_net.UnknownOutcomeError` (``WRITE_OUTCOME_UNKNOWN``): the caller resolves it
  by querying (an order by its client order id) before sending anything again;
- a definitive refusal (bad request, auth, insufficient funds, and throttling, which the
  exchange answers before acting) is the parse callback's :class:`~quant_net.ProviderError`,
  passed on unchanged.

Examples:
    >>> import httpx
    >>> from quant_core import SimClock
    >>> def exchange(request):
    ...     return httpx.Response(502, content=b"Bad Gateway")
    >>> client = WriteClient("demo", "http://127.0.0.1:9", clock=SimClock(0),
    ...                      transport=httpx.MockTransport(exchange))
    >>> def parse(response):
    ...     return response.expect_ok().payload
    >>> try:
    ...     client.post("/orders", {"cl_ord_id": "a1"}, parse=parse)
    ... except UnknownOutcomeError as error:
    ...     print(error.reason_code, error.cause, error.status)
    WRITE_OUTCOME_UNKNOWN PROVIDER_UNAVAILABLE 502
    >>> client.requests_sent
    1
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Final, TypeVar, Unpack

import httpx

from quant_core import Clock
from quant_net import _reasons as reasons
from quant_net._channel import Channel, ChannelOptions, Response, Signer
from quant_net._errors import ProviderError, UnknownOutcomeError, WriteNotSentError
from quant_net._policy import WritePolicy

__all__ = ["WriteClient"]

T = TypeVar("T")

_log = logging.getLogger("quant_net")

_NOT_SENT: Final = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.UnsupportedProtocol,
)
"""Transport failures raised before any byte of the request left this process."""


class WriteClient(Channel):
    """One exchange's client for writes, under the :class:`WritePolicy`: one attempt each.

    It takes what :class:`~quant_net.ReadClient` takes (``sleep``, ``transport``,
    ``secret_headers``, ``headers``, ``limiter`` as keyword options), except the seed: with no
    retry there is no jitter to draw.
    """

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        clock: Clock,
        policy: WritePolicy | None = None,
        **options: Unpack[ChannelOptions],
    ) -> None:
        self.policy = policy or WritePolicy()
        super().__init__(provider, base_url, clock=clock, rate=self.policy, **options)

    def _unknown(
        self, request_text: str, why: str, cause: str, status: int | None = None
    ) -> UnknownOutcomeError:
        return UnknownOutcomeError(
            self.scrub(f"{self.provider}: {why} for {request_text}"),
            provider=self.provider,
            status=status,
            cause=cause,
        )

    def _attempt(
        self, path: str, request_text: str, form: Mapping[str, str], sign: Signer | None
    ) -> Response:
        try:
            return self._send_form(path, request_text, form, sign)
        except _NOT_SENT as exc:
            raise WriteNotSentError(
                self.scrub(f"{self.provider}: {type(exc).__name__} for {request_text}: not sent"),
                provider=self.provider,
            ) from None
        except httpx.TimeoutException:
            raise self._unknown(
                request_text,
                f"timeout after {self.policy.timeout_s}s",
                reasons.PROVIDER_UNAVAILABLE,
            ) from None
        except httpx.HTTPError as exc:
            raise self._unknown(
                request_text,
                f"{type(exc).__name__} after sending ({exc})",
                reasons.PROVIDER_UNAVAILABLE,
            ) from None

    def post(
        self,
        path: str,
        form: Mapping[str, str],
        *,
        parse: Callable[[Response], T],
        sign: Signer | None = None,
    ) -> T:
        """POST ``form`` (form-encoded, in the given order) to ``base_url + path``, once.

        Args:
            path: the exchange's own path (``/0/private/AddOrder``).
            form: the body's fields (never recorded or logged).
            parse: turns the :class:`Response` into the result, or raises
                :class:`~quant_net.ProviderError`: a retryable one (other than
                ``PROVIDER_RATE_LIMITED``) means the outcome is unknown; a non-200 status it
                does not handle should go through :meth:`Response.expect_ok`.
            sign: headers computed from the path and the exact body bytes (an ``API-Sign``),
                made once, just before sending; their values are never logged.

        Raises:
            WriteNotSentError: the request never left this process.
            UnknownOutcomeError: the write may or may not have taken effect.
            ProviderError: a definitive refusal from the parse callback.
        """
        request_text = f"POST {path}"
        self.limiter.acquire()
        try:
            return parse(self._attempt(path, request_text, form, sign))
        except ProviderError as error:
            self.scrub_error(error)
            known = isinstance(error, UnknownOutcomeError | WriteNotSentError)
            if not known and error.retryable and error.reason_code != reasons.PROVIDER_RATE_LIMITED:
                error = UnknownOutcomeError(
                    error.message,
                    provider=self.provider,
                    status=error.status,
                    cause=error.reason_code,
                )
            _log.warning("%s: %s", self.provider, error)
            raise error from None
