"""Plumbing the OHLCV adapters share: the HTTP client, error texts and page building."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from quant_core import Clock
from quant_core.secret import Secret
from quant_data import reasons
from quant_data._errors import ProviderError
from quant_data._records import FetchedPage, RawPage, SourceBar
from quant_data.http import HttpClient, HttpPolicy, RateLimiter, Response


class HttpAdapter:
    """An adapter talking to its provider through one :class:`~quant_data.http.HttpClient`.

    Args:
        name: the provider name (source of the bars, label of the errors).
        base_url: the REST root.
        clock: the injected clock.
        seed: root seed of the retry jitter.
        policy: the HTTP policy.
        sleep: how to wait (default: advance a SimClock, or really sleep).
        transport: an httpx transport for tests.
        limiter: a rate limiter shared with other clients.
        secret_headers: headers holding secrets (redacted from every record).
    """

    def __init__(
        self,
        name: str,
        base_url: str,
        *,
        clock: Clock,
        seed: int,
        policy: HttpPolicy,
        sleep: Callable[[float], None] | None,
        transport: httpx.BaseTransport | None,
        limiter: RateLimiter | None,
        secret_headers: Mapping[str, Secret] | None = None,
    ) -> None:
        self._clock = clock
        self.http = HttpClient(
            name,
            base_url,
            clock=clock,
            seed=seed,
            policy=policy,
            sleep=sleep,
            transport=transport,
            secret_headers=secret_headers,
            limiter=limiter,
        )

    @property
    def requests(self) -> int:
        """How many HTTP requests the adapter has sent so far, retries included."""
        return self.http.requests_sent

    def close(self) -> None:
        """Close the HTTP connection pool (the adapter cannot be used afterwards)."""
        self.http.close()


def payload_excerpt(response: Response) -> str:
    """The first 200 bytes of the answer as text, for an error message."""
    return response.raw.payload[:200].decode("utf-8", "replace")


def invalid_response(name: str, message: str, response: Response) -> ProviderError:
    """The retryable ``PROVIDER_RESPONSE_INVALID`` error for a malformed answer."""
    return ProviderError(
        f"{name}: {message}",
        provider=name,
        status=response.status,
        retryable=True,
        reason_code=reasons.PROVIDER_RESPONSE_INVALID,
    )


def fetched_page(
    raw: RawPage,
    bars: tuple[SourceBar, ...],
    window_start_ns: int,
    window_end_ns: int,
    end_ns: int,
) -> FetchedPage:
    """A page covering ``[window_start_ns, window_end_ns)`` of a fetch that stops at ``end_ns``."""
    return FetchedPage(
        raw=raw,
        bars=bars,
        window_start_ns=window_start_ns,
        window_end_ns=window_end_ns,
        next_start_ns=window_end_ns if window_end_ns < end_ns else None,
    )
