"""What every provider adapter shares: the read client it owns."""

from __future__ import annotations

from quant_core import SimClock
from quant_data.providers import CoinApiProvider, CoinGeckoClient, KrakenPublicProvider


def test_adapters_close_their_pool() -> None:
    for adapter in (
        CoinApiProvider("http://x", None, clock=SimClock(0), seed=0),
        KrakenPublicProvider("http://x", clock=SimClock(0), seed=0),
        CoinGeckoClient("http://x", clock=SimClock(0), seed=0),
    ):
        adapter.close()
        assert adapter.http._client.is_closed
