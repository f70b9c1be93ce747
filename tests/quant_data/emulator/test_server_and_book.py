"""The emulator's sources, routing and bar book, and dialect edge cases on crafted bars."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from quant_core import NS_PER_SECOND, SimClock, Timeframe
from quant_core.errors import ValidationError
from quant_data import SourceBar, Trade, trades_to_bars
from quant_data.emulator import BarBook, Emulator, serve_emulator
from quant_data.emulator._book import is_no_trade
from quant_data.emulator._kraken import bar_trades

H = 3_600 * NS_PER_SECOND
T0 = 1_700_000_000 // 3_600 * H  # an hour boundary


def _bar(i: int, o: str = "10", h: str = "12", low: str = "9", c: str = "11", v: str = "2",
         n: int | None = 4, symbol: str = "BTC", tf: str = "1h") -> SourceBar:  # fmt: skip
    step = Timeframe(tf).ns
    return SourceBar("t", symbol, "USD", tf, T0 + i * step, o, h, low, c, v, n)


def test_sources_of_every_kind(tmp_path: Path) -> None:
    bars = [_bar(i) for i in range(3)]
    (tmp_path / "XBTUSD_60.csv").write_text("".join(
        f"{(T0 + i * H) // NS_PER_SECOND},10,12,9,11,2,4\n" for i in range(3)))  # fmt: skip
    for source in (bars, BarBook(bars), tmp_path / "XBTUSD_60.csv",
                   str(tmp_path / "XBTUSD_60.csv"), [tmp_path]):  # fmt: skip
        with serve_emulator(source) as emu:
            assert emu.book.pairs() == (("BTC", "USD"),)
            assert emu.now_ns() == T0 + 3 * H  # the close of the last bar: every bar is closed
            assert emu.url.startswith("http://127.0.0.1:")
            assert emu.port > 0
    with pytest.raises(ValidationError, match="holds no bars") as info:
        serve_emulator([]).__enter__()
    assert info.value.reason_code == "EMULATOR_INVALID"
    with pytest.raises(ValidationError, match="must be"):
        serve_emulator([1, 2]).__enter__()  # type: ignore[arg-type]


def test_routing_request_log_and_base_urls(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory([_bar(i) for i in range(3)])
    assert emu.base_url("kraken") == emu.url + "/kraken"
    with pytest.raises(ValidationError, match="unknown dialect"):
        emu.base_url("binance")
    r = httpx.get(emu.url + "/binance/api/v3/klines", params={"symbol": "BTCUSDT"})
    assert r.status_code == 404
    assert emu.requests[-1].dialect == ""
    assert emu.requests[-1].status == 404
    assert emu.faults.rules == ()
    visible = emu.visible("BTC", "USD", Timeframe.H1, 0, T0 + 10 * H)
    assert [b.open_time_ns for b in visible] == [T0, T0 + H, T0 + 2 * H]
    emu.clock = SimClock(T0 + H)
    assert len(emu.visible("BTC", "USD", Timeframe.H1, 0, T0 + 10 * H)) == 2
    emu.clear_requests()
    assert emu.requests == []
    emu.set_faults(None)
    assert emu.faults.rules == ()


def test_book_keeps_first_occurrence_and_aggregates(tmp_path: Path) -> None:
    bars = [
        _bar(0), _bar(0, c="99"),  # duplicate slot: the first wins
        _bar(1, o="11", h="15", low="10", c="14", v="3", n=6),
        _bar(2, o="NaN"),  # unparseable: left out of the aggregate
        _bar(3, o="14", h="14", low="14", c="14", v="0", n=0),  # no trade
        _bar(4, o="x", h="x", low="x", c="x"),  # a 4h slot with only a bad bar
        _bar(8, v="0", n=0), _bar(9, v="0", n=0),
    ]  # fmt: skip
    book = BarBook(bars)
    hourly = book.series("BTC", "USD", Timeframe.H1)
    assert hourly[0].close == "11"
    assert len(hourly) == 7
    four = book.series("BTC", "USD", Timeframe.H4)
    first = four[0]
    assert (first.open, first.high, first.low, first.close) == ("10", "15", "9", "14")
    assert Decimal(first.volume) == 5
    assert first.trades == 10
    assert four[1].trades == 0
    assert is_no_trade(four[1])
    assert is_no_trade(four[2])
    assert book.series("BTC", "USD", Timeframe.M1) == ()
    assert book.series("ETH", "USD", Timeframe.H4) == ()
    assert book.finest("ETH", "USD") is None
    assert BarBook([]).latest_ns() == 0
    assert BarBook([_bar(0, n=None, v="0")]).series("BTC", "USD", Timeframe.D1)[0].trades == 0
    mixed = BarBook([_bar(0, n=None), _bar(1, n=3)]).series("BTC", "USD", Timeframe.H4)
    assert mixed[0].trades is None
    assert is_no_trade(_bar(0, n=None, v="0"))
    assert not is_no_trade(_bar(0, n=None, v="NaN"))


def test_trades_rebuild_the_candle_exactly() -> None:
    for bar in (_bar(0), _bar(1, o="10", h="10", low="9", c="9", n=2), _bar(2, n=1),
                _bar(3, o="1.5", h="2.25", low="1.5", c="2.25", v="0.123456789", n=3)):  # fmt: skip
        trades = bar_trades(bar, Timeframe.H1, seed=3)
        assert len(trades) == max(bar.trades or 1, len({bar.open, bar.high, bar.low, bar.close}))
        [rebuilt] = trades_to_bars(
            [Trade(t.time_ns, t.price, t.volume) for t in trades],
            source="t", symbol="BTC", quote="USD", timeframe=Timeframe.H1,
        )  # fmt: skip
        got = [Decimal(x) for x in (rebuilt.open, rebuilt.high, rebuilt.low, rebuilt.close,
                                    rebuilt.volume)]  # fmt: skip
        assert got == [Decimal(x) for x in (bar.open, bar.high, bar.low, bar.close, bar.volume)]
    for bad in (_bar(0, o="NaN"), _bar(0, v="-1"), _bar(0, low="0"), _bar(0, n=0)):
        assert bar_trades(bad, Timeframe.H1, seed=3) == ()


def test_dialects_on_bad_and_sparse_bars(emulator_factory: Callable[..., Emulator]) -> None:
    bars = [_bar(0), _bar(1, o="abc", h="NaN", low="9", c="oops", v="-"), _bar(2)]
    clock = SimClock(T0 + 2 * H)  # exactly at the last bar's open: nothing traded yet
    emu = emulator_factory(bars, clock=clock)
    k = emu.base_url("kraken")
    pairs = httpx.get(k + "/0/public/AssetPairs").json()["result"]
    assert pairs["XXBTZUSD"]["pair_decimals"] == 0
    rows = httpx.get(k + "/0/public/OHLC", params={"pair": "XBTUSD", "interval": 60}).json()
    rows = rows["result"]["XXBTZUSD"]
    assert rows[1][1:8] == ["abc", "NaN", "9", "oops", "oops", "-", 4]
    assert rows[2][1:5] == ["10", "10", "10", "10"]
    assert rows[2][6] == "0.00000000"
    latest = httpx.get(k + "/0/public/Trades", params={"pair": "XBTUSD"}).json()
    assert len(latest["result"]["XXBTZUSD"]) == 4  # only the first bar has traded so far
    items = httpx.get(emu.base_url("coinapi") + "/v1/ohlcv/KRAKEN_SPOT_BTC_USD/history",
                      params={"period_id": "1HRS", "time_start": "2023-11-14T00:00:00Z"},
                      headers={"X-CoinAPI-Key": "k"}).json()  # fmt: skip
    assert items[1]["price_open"] is None
    assert items[1]["price_high"] is None
    coins = httpx.get(emu.base_url("coingecko") + "/api/v3/coins/markets",
                      params={"vs_currency": "usd", "ids": "bitcoin"}).json()  # fmt: skip
    assert coins[0]["current_price"] == 11.0  # the bad close is skipped
    odd = BarBook([_bar(0, c="bad")])
    with serve_emulator(odd, clock=SimClock(T0 + H)) as emu2:
        info = httpx.get(emu2.base_url("kraken") + "/0/public/AssetPairs").json()["result"]
        assert info["XXBTZUSD"]["pair_decimals"] == 1
        coins = httpx.get(emu2.base_url("coingecko") + "/api/v3/coins/markets",
                          params={"vs_currency": "usd", "ids": "bitcoin"}).json()  # fmt: skip
        assert coins[0]["current_price"] == 42000.0  # no usable close: the default price


def test_an_internal_failure_answers_500(
    emulator_factory: Callable[..., Emulator], monkeypatch: pytest.MonkeyPatch
) -> None:
    from quant_data.emulator import _kraken as kraken

    def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(kraken, "handle", broken)
    emu = emulator_factory([_bar(0)])
    r = httpx.get(emu.base_url("kraken") + "/0/public/Time")
    assert r.status_code == 500
    assert "RuntimeError: boom" in r.json()["error"]
    assert emu.requests[-1].status == 500
