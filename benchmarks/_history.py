"""A store full of history for the data-path benchmarks (imported as ``_history``).

:func:`history_page` makes the page a provider sync would write for ``count`` hourly bars of
one coin from hour ``first`` on (deterministic prices, no randomness); :func:`p99` is the
99th percentile the cycle benchmarks print.
"""

from __future__ import annotations

import statistics

from quant_core import Timeframe
from quant_data import FetchedPage, RawPage, SourceBar

H = Timeframe.H1.ns
SOURCE = "kraken"
PAGE = 720  # Kraken's OHLC window


def history_page(symbol: str, first: int, count: int) -> FetchedPage:
    """One provider page of ``count`` 1h bars of ``symbol`` starting at hour ``first``."""
    bars = tuple(
        SourceBar(
            SOURCE,
            symbol,
            "USD",
            "1h",
            i * H,
            f"{100 + i % 50}.25",
            f"{102 + i % 50}.5",
            f"{99 + i % 50}.125",
            f"{101 + i % 50}.75",
            f"{i % 97}.0625",
            i % 13,
        )
        for i in range(first, first + count)
    )
    raw = RawPage(SOURCE, f"GET /ohlc?pair={symbol}&since={first}", 0, 200, str(first).encode())
    return FetchedPage(raw, bars, first * H, (first + count) * H, None)


def p99(samples: list[float]) -> float:
    """The 99th percentile of ``samples`` (inclusive method)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[98]
