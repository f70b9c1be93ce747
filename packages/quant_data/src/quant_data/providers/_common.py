"""Plumbing the OHLCV adapters share: the read client, raw records and page building."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from quant_core import Clock
from quant_core.settings import Secret
from quant_data._records import FetchedPage, RawPage, SourceBar
from quant_net import RateLimiter, ReadClient, ReadPolicy, Response


class HttpAdapter:
    """An adapter talking to its provider through one :class:`~quant_net.ReadClient`.

    Args:
        name: the provider name (source of the bars, label of the errors).
        base_url: the REST root.
        clock: the injected clock.
        seed: root seed of the retry jitter.
        policy: the read policy.
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
        policy: ReadPolicy,
        sleep: Callable[[float], None] | None,
        transport: httpx.BaseTransport | None,
        limiter: RateLimiter | None,
        secret_headers: Mapping[str, Secret] | None = None,
    ) -> None:
        self._clock = clock
        self.http = ReadClient(
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
    def name(self) -> str:
        """The provider name (the source of its bars)."""
        return self.http.provider

    @property
    def requests(self) -> int:
        """How many HTTP requests the adapter has sent so far, retries included."""
        return self.http.requests_sent

    def close(self) -> None:
        """Close the HTTP connection pool (the adapter cannot be used afterwards)."""
        self.http.close()


def raw_page(response: Response) -> RawPage:
    """The raw record of an answer: its bytes, request text, status and arrival time."""
    return RawPage(
        source=response.provider,
        request=response.request,
        received_at_ns=response.received_at_ns,
        status=response.status,
        payload=response.payload,
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
