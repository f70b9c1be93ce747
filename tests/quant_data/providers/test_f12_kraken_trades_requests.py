"""Finding 12: a Kraken backfill older than 720 candles costs the fewest requests Kraken allows.

History older than the ``OHLC`` window is rebuilt from ``Trades``: pages of at most 1000 trades,
each starting after the previous page's nanosecond cursor. No client can do with fewer than
``ceil((trades in the window + 1) / 1000)`` such pages (the page that ends the window must show
a trade at or after its end, or be the last one), plus one ``OHLC`` request for the part of the
window inside the last 720 candles when the trades did not reach the window's end. The
backfill reports progress after every page.
"""

from __future__ import annotations

import pytest

from quant_core import SimClock, Timeframe, iso_to_ns
from quant_data import Store, SyntheticMarket
from quant_data.backfill import Progress, backfill
from quant_data.emulator import Emulator, serve_emulator
from quant_data.emulator._kraken import bar_trades
from quant_data.providers import KrakenPublicProvider
from quant_net import kraken

H = Timeframe.H1.ns
START = iso_to_ns("2024-01-01T00:00:00Z")
FORTNIGHT = START + 14 * 24 * H
MARKET = SyntheticMarket(
    seed=7, symbols=("BTC",), start_ns=START, end_ns=START + 60 * 24 * H, timeframe=Timeframe.H1
)


def _trades_before(emulator: Emulator, end_ns: int) -> int:
    bars = emulator.book.window("BTC", "USD", Timeframe.H1, START, end_ns)
    return sum(len(bar_trades(bar, Timeframe.H1, emulator.seed)) for bar in bars)


def _fewest_trades_pages(trades: int) -> int:
    return -(-(trades + 1) // kraken.TRADES_MAX_COUNT)


def _run(now_ns: int, end_ns: int) -> tuple[int, list[Progress], Emulator, int]:
    steps: list[Progress] = []
    with serve_emulator(MARKET, clock=SimClock(now_ns)) as emulator:
        provider = KrakenPublicProvider(emulator.base_url("kraken"), clock=SimClock(now_ns), seed=0)
        store = Store.open("sqlite://", clock=SimClock(now_ns))
        report = backfill(
            store, provider, symbols=["BTC"], quote="USD", timeframe="1h",
            start_ns=START, end_ns=end_ns, progress=steps.append,
        )  # fmt: skip
        assert report.complete
        assert report.series[0].bars_new + report.series[0].gaps_confirmed == (end_ns - START) // H
        boundary = provider.ohlc_window_start_ns(Timeframe.H1)
    return report.requests, steps, emulator, boundary


def test_a_fortnight_older_than_the_ohlc_window_takes_the_fewest_trades_pages() -> None:
    now = START + 50 * 24 * H  # the fortnight is far older than the last 720 candles
    requests, steps, emulator, _ = _run(now, FORTNIGHT)
    trades = _trades_before(emulator, FORTNIGHT)
    assert 5_000 < trades < 7_000  # a known window: 6 pages of 1000 trades at the least
    assert requests == _fewest_trades_pages(trades) == 6
    assert {r.path for r in emulator.requests} == {"/0/public/Trades"}
    # progress after every page, always moving forward, ending at the window's end
    done = [s.done_ns for s in steps]
    assert [s.pages for s in steps] == list(range(requests + 1))
    assert done == sorted(set(done))
    assert done[-1] == FORTNIGHT - START


@pytest.mark.parametrize("days", [31, 34, 37, 40, 43])
def test_a_window_across_the_ohlc_boundary_takes_the_fewest_requests(days: int) -> None:
    now = START + days * 24 * H + 5 * H  # 720 candles back falls inside the fortnight
    requests, _, emulator, boundary = _run(now, FORTNIGHT)
    assert START < boundary < FORTNIGHT
    paths = [r.path for r in emulator.requests]
    # trades only as far as OHLC cannot reach, then at most one OHLC request, and none when
    # the last trades page already reached the window's end
    assert paths.count("/0/public/Trades") == _fewest_trades_pages(
        _trades_before(emulator, boundary)
    )
    assert paths.count("/0/public/OHLC") == (0 if days == 43 else 1)
    assert requests == len(paths)
