"""Finding 13: the emulator serves a file's very last bar (its "now" is that bar's close).

The emulator's default now used to be 1 ns before the last bar closed, so a backfill of a whole
served file got one bar fewer than the file held. A closed bar whose close time equals now is
complete: every dialect serves it, and a backfill of the whole file gets every bar.
"""

from __future__ import annotations

from pathlib import Path

from quant_core import NS_PER_SECOND, SimClock, Timeframe
from quant_core.settings import Secret
from quant_data import Store
from quant_data.backfill import backfill
from quant_data.emulator import serve_emulator
from quant_data.providers import CoinApiProvider, KrakenPublicProvider
from quant_data.store import SeriesKey

H = Timeframe.H1.ns
T0 = 1_700_000_000 // 3_600 * H  # an hour boundary
BARS = 50


def _served_file(tmp_path: Path) -> Path:
    path = tmp_path / "XBTUSD_60.csv"
    path.write_text(
        "".join(
            f"{(T0 + i * H) // NS_PER_SECOND},10,{100 + i},9,{11 + i},2,4\n" for i in range(BARS)
        )
    )
    return path


def test_a_backfill_of_a_whole_served_file_gets_its_very_last_bar(tmp_path: Path) -> None:
    with serve_emulator(_served_file(tmp_path)) as emulator:
        now = emulator.now_ns()
        assert now == T0 + BARS * H  # exactly the close of the file's very last bar
        for provider in (
            CoinApiProvider(emulator.base_url("coinapi"), Secret("k"), clock=SimClock(now), seed=0),
            KrakenPublicProvider(emulator.base_url("kraken"), clock=SimClock(now), seed=0),
        ):
            store = Store.open("sqlite://", clock=SimClock(now))
            report = backfill(
                store, provider, symbols=["BTC"], quote="USD", timeframe="1h", start_ns=T0
            )
            assert report.series[0].bars_new == BARS, provider.name
            series = SeriesKey(provider.name, "BTC", "USD", "1h")
            assert store.last_open_ns(series) == T0 + (BARS - 1) * H
            last = store.latest_bars(["BTC"], "USD", "1h", T0, now)[-1]
            assert str(last.close) == str(11 + BARS - 1)
            assert store.gaps(series) == []
            provider.close()
