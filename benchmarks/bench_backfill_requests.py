"""Requests made by a full backfill against the minimum the provider's page limit allows.

A CoinAPI-dialect backfill over real HTTP from the provider emulator (no faults) of a few
symbols; the emulator counts the OHLCV history requests it served. The minimum is
``ceil(slots / page_limit)`` per symbol. The ratio is requests / minimum: 1.0 is optimal, the
goal is <= 1.05 (lower is better, unlike the throughput benchmarks).

Run: ``uv run python benchmarks/bench_backfill_requests.py [--quick] [--json]``
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from quant_core import SimClock, Timeframe, iso_to_ns
from quant_core.settings import Secret
from quant_data import SyntheticMarket
from quant_data.backfill import backfill, minimum_requests
from quant_data.emulator import serve_emulator
from quant_data.providers import CoinApiProvider
from quant_data.store import Store

if TYPE_CHECKING:  # mypy reads this folder as the namespace package ``benchmarks``
    from benchmarks._harness import run_cli
else:  # run as a script (or by the test), this folder is on ``sys.path``
    from _harness import run_cli

H = Timeframe.H1.ns
START = iso_to_ns("2024-01-01T00:00:00Z")


def run(days: int, symbols: tuple[str, ...], page_limit: int) -> dict[str, float]:
    end = START + days * 24 * H
    market = SyntheticMarket(
        seed=3, symbols=symbols, start_ns=START, end_ns=end, timeframe=Timeframe.H1
    )
    now = end + H // 2
    with serve_emulator(market, clock=SimClock(now)) as emu:
        provider = CoinApiProvider(
            emu.base_url("coinapi"),
            Secret("bench"),
            clock=SimClock(now),
            seed=1,
            page_limit=page_limit,
        )
        store = Store.open("sqlite://", clock=SimClock(now))
        backfill(
            store,
            provider,
            symbols=list(symbols),
            quote="USD",
            timeframe="1h",
            start_ns=START,
            end_ns=end,
        )
        served = sum(1 for r in emu.requests if "/ohlcv/" in r.path)
    minimum = len(symbols) * minimum_requests(START, end, Timeframe.H1, page_limit)
    return {
        "slots": float(len(symbols) * days * 24),
        "requests": float(served),
        "minimum": float(minimum),
        "ratio": served / minimum,
    }


def lines(sizes: tuple[int, tuple[str, ...]], result: dict[str, float]) -> list[str]:
    return [
        f"full backfill, {int(result['slots'])} hourly slots, CoinAPI page limit 100",
        f"  requests {int(result['requests']):>6}",
        f"  minimum  {int(result['minimum']):>6}",
        f"  ratio (requests / minimum, lower is better): {result['ratio']:.3f}",
    ]


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    quick: tuple[int, tuple[str, ...]] = (5, ("BTC",))
    return run_cli(
        argv,
        description=__doc__,
        quick=quick,
        full=(120, ("BTC", "ETH", "SOL")),
        run=lambda sizes: run(*sizes, page_limit=100),
        lines=lines,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
