"""The Kraken public dialect against the recorded samples' shapes and semantics."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from quant_core import NS_PER_SECOND, SimClock, Timeframe, iso_to_ns
from quant_data import Trade, trades_to_bars
from quant_data.emulator import Emulator, EmulatorOptions

from ._shapes import same_shape

NOW = iso_to_ns("2024-01-31T12:30:00Z")
H = 3_600


def _sample(shared_data: Path, name: str) -> Any:
    return json.loads((shared_data / "api-samples" / "kraken" / name).read_text())


def _get(emu: Emulator, path: str, **params: Any) -> Any:
    response = httpx.get(emu.base_url("kraken") + path, params=params, timeout=10)
    assert response.status_code == 200
    return response.json()


def test_ohlc_window_shape_and_cursor(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    emu = emulator_factory()
    body = _get(emu, "/0/public/OHLC", pair="XBTUSD", interval=60)
    sample = _sample(shared_data, "nautilus__http_ohlc.json")
    assert body["error"] == []
    assert set(body["result"]) == {"XXBTZUSD", "last"}
    rows = body["result"]["XXBTZUSD"]
    sample_rows = sample["result"]["XBTUSDT"]
    # 720 closed candles + the forming one, like the 721-row capture.
    assert len(rows) == len(sample_rows) == 721
    assert [type(x) for x in rows[0]] == [type(x) for x in sample_rows[0]]
    current = Timeframe.H1.floor(NOW) // NS_PER_SECOND
    assert rows[-1][0] == current
    assert [r[0] for r in rows] == [current - (720 - i) * H for i in range(721)]
    last = body["result"]["last"]
    assert isinstance(last, int)
    assert last == rows[-2][0]
    assert isinstance(sample["result"]["last"], int)
    assert sample["result"]["last"] == (sample_rows[-2][0])


def test_ohlc_last_as_string_and_since(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory(options=EmulatorOptions(kraken_last_as_string=True))
    since = Timeframe.H1.floor(NOW) // NS_PER_SECOND - 3 * H + 17
    body = _get(emu, "/0/public/OHLC", pair="XXBTZUSD", interval=60, since=since)
    rows = body["result"]["XXBTZUSD"]
    assert [r[0] for r in rows] == [since - 17 + i * H for i in range(4)]
    assert body["result"]["last"] == str(rows[-2][0])
    emu.options.kraken_last_as_string = False
    assert isinstance(_get(emu, "/0/public/OHLC", pair="XBTUSD")["result"]["last"], int)


def test_ohlc_matches_the_source_and_keeps_no_trade_candles(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory()
    rows = _get(emu, "/0/public/OHLC", pair="SOLUSD", interval=60)["result"]["SOLUSD"]
    book = emu.book.series("SOL", "USD", Timeframe.H1)
    series = {b.open_time_ns // NS_PER_SECOND: b for b in book}
    empty = [r for r in rows[:-1] if r[7] == 0]
    assert empty, "the synthetic series has no-trade slots in the window"
    for r in empty:
        assert r[1] == r[2] == r[3] == r[4]
        assert r[5] == "0.0"
        assert r[6] == "0.00000000"
    for r in rows[:-1]:
        bar = series[r[0]]
        assert (r[1], r[2], r[3], r[4]) == (bar.open, bar.high, bar.low, bar.close) or r[7] == 0
        if r[7]:
            assert Decimal(r[6]) == Decimal(bar.volume)
            assert r[7] == bar.trades
            assert Decimal(r[3]) <= Decimal(r[5]) <= Decimal(r[2])
    # Missing slots (no record at all) stay missing: rows are exactly the source's slots.
    window = {t for t in series if rows[0][0] <= t <= rows[-1][0]}
    assert [r[0] for r in rows] == sorted(window)


def test_forming_candle_is_built_from_trades_so_far(
    emulator_factory: Callable[..., Emulator],
) -> None:
    clock = SimClock(Timeframe.H1.floor(NOW))
    emu = emulator_factory(clock=clock)
    seen = []
    for minutes in (1, 20, 59):
        clock.advance_to(Timeframe.H1.floor(NOW) + minutes * 60 * NS_PER_SECOND)
        body = _get(emu, "/0/public/OHLC", pair="XBTUSD", interval=60)
        seen.append(body["result"]["XXBTZUSD"][-1])
    volumes = [Decimal(r[6]) for r in seen]
    assert volumes == sorted(volumes)
    full = emu.book.series("BTC", "USD", Timeframe.H1)
    bar = next(b for b in full if b.open_time_ns == Timeframe.H1.floor(NOW))
    assert volumes[-1] <= Decimal(bar.volume)
    assert all(r[1] == bar.open for r in seen if r[7])


def test_ohlc_aggregates_coarser_intervals(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory()
    rows = _get(emu, "/0/public/OHLC", pair="ETHUSD", interval=240)["result"]["XETHZUSD"]
    hourly = {b.open_time_ns: b for b in emu.book.series("ETH", "USD", Timeframe.H1)}
    row = rows[-3]
    start = row[0] * NS_PER_SECOND
    members = [hourly[t] for t in range(start, start + 4 * H * NS_PER_SECOND, H * NS_PER_SECOND)
               if t in hourly and hourly[t].trades]  # fmt: skip
    assert row[1] == members[0].open
    assert row[4] == members[-1].close
    assert Decimal(row[2]) == max(Decimal(m.high) for m in members)
    assert Decimal(row[3]) == min(Decimal(m.low) for m in members)
    assert Decimal(row[6]) == sum(Decimal(m.volume) for m in members)
    assert row[7] == sum(m.trades or 0 for m in members)


def test_interval_that_kraken_has_but_we_cannot_build(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory()
    body = _get(emu, "/0/public/OHLC", pair="XBTUSD", interval=21600)
    assert body["result"]["XXBTZUSD"] == []
    body = _get(emu, "/0/public/OHLC", pair="XBTUSD", interval=1)
    assert body["result"]["XXBTZUSD"] == []


@pytest.mark.parametrize(
    ("params", "sample"),
    [
        ({"pair": "DOGEUSD"}, "observed__error_unknown_asset_pair.json"),
        ({}, "observed__error_invalid_arguments.json"),
        ({"pair": "XBTUSD", "interval": 7}, "observed__error_invalid_arguments.json"),
        ({"pair": "XBTUSD", "since": "yesterday"}, "observed__error_invalid_arguments.json"),
    ],
)
def test_errors_arrive_inside_http_200(
    emulator_factory: Callable[..., Emulator],
    shared_data: Path,
    params: dict[str, Any],
    sample: str,
) -> None:
    emu = emulator_factory()
    assert _get(emu, "/0/public/OHLC", **params) == _sample(shared_data, sample)


def test_asset_pairs_shape(emulator_factory: Callable[..., Emulator], shared_data: Path) -> None:
    emu = emulator_factory()
    body = _get(emu, "/0/public/AssetPairs", pair="XBTUSD")
    sample = _sample(shared_data, "nautilus__http_asset_pairs.json")
    ours = body["result"]["XXBTZUSD"]
    assert same_shape(ours, sample["result"]["XBTUSDT"]) == []
    assert (ours["altname"], ours["wsname"], ours["base"], ours["quote"]) == (
        "XBTUSD", "XBT/USD", "XXBT", "ZUSD")  # fmt: skip
    every = _get(emu, "/0/public/AssetPairs")["result"]
    assert set(every) == {"XXBTZUSD", "XETHZUSD", "SOLUSD"}
    assert _get(emu, "/0/public/AssetPairs", pair="XBTUSD,NOPE")["error"] == [
        "EQuery:Unknown asset pair"
    ]


def test_time_and_unknown_method(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    emu = emulator_factory()
    body = _get(emu, "/0/public/Time")
    assert same_shape(body, _sample(shared_data, "nautilus__http_server_time.json")) == []
    assert body["result"]["unixtime"] == NOW // NS_PER_SECOND
    assert body["result"]["rfc1123"] == "Wed, 31 Jan 24 12:30:00 +0000"
    assert _get(emu, "/0/public/Nope")["error"] == ["EGeneral:Unknown method"]
    post = httpx.post(emu.base_url("kraken") + "/0/public/Time")
    assert post.status_code == 405


def test_trades_shape_cursor_and_rebuild(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    emu = emulator_factory()
    sample = _sample(shared_data, "nautilus__http_trades.json")
    start = iso_to_ns("2024-01-30T00:00:00Z")
    end = iso_to_ns("2024-01-30T06:00:00Z")
    collected: list[list[Any]] = []
    since = str(start - 1)
    pages = 0
    while True:
        body = _get(emu, "/0/public/Trades", pair="XBTUSD", since=since, count=50)
        rows = body["result"]["XXBTZUSD"]
        assert isinstance(body["result"]["last"], str)
        pages += 1
        collected.extend(rows)
        if not rows or round(rows[-1][2] * NS_PER_SECOND) >= end:
            break
        assert int(body["result"]["last"]) > int(since)
        since = body["result"]["last"]
    assert pages > 2
    assert [type(x) for x in collected[0]] == [type(x) for x in sample["result"]["XBTUSDT"][0]]
    ids = [r[6] for r in collected]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    trades = [Trade(round(r[2] * 10**7) * 100, r[0], r[1]) for r in collected]
    rebuilt = {
        b.open_time_ns: b
        for b in trades_to_bars(
            trades, source="k", symbol="BTC", quote="USD", timeframe=Timeframe.H1
        )
    }
    for bar in emu.book.window("BTC", "USD", Timeframe.H1, start, end):
        if not bar.trades:
            assert bar.open_time_ns not in rebuilt
            continue
        got = rebuilt[bar.open_time_ns]
        assert [Decimal(x) for x in (got.open, got.high, got.low, got.close, got.volume)] == [
            Decimal(x) for x in (bar.open, bar.high, bar.low, bar.close, bar.volume)
        ]
        assert got.trades == bar.trades


def test_trades_ns_field_seconds_since_and_latest(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    emu = emulator_factory(options=EmulatorOptions(kraken_trades_ns_field=True))
    sample = _sample(shared_data, "ccxt__Trades_XBTUSDT_count1.json")
    body = _get(emu, "/0/public/Trades", pair="XBTUSD", since=1706600000, count=1)
    row = body["result"]["XXBTZUSD"][0]
    assert [type(x) for x in row] == [type(x) for x in sample["result"]["XBTUSDT"][0]]
    assert row[7] == body["result"]["last"]
    assert int(row[7]) >= 1706600000 * NS_PER_SECOND
    latest = _get(emu, "/0/public/Trades", pair="XBTUSD")["result"]["XXBTZUSD"]
    assert len(latest) == 1000
    assert max(int(r[7]) for r in latest) <= NOW
    future = _get(emu, "/0/public/Trades", pair="XBTUSD", since=str(NOW + 10**12))
    assert future["result"] == {"XXBTZUSD": [], "last": str(NOW + 10**12)}
    bad = _get(emu, "/0/public/Trades", pair="XBTUSD", count=5000)
    assert bad == {"error": ["EGeneral:Invalid arguments"]}
    unknown = _get(emu, "/0/public/Trades", pair="NOPE")
    assert unknown["error"] == ["EQuery:Unknown asset pair"]
