"""Importers on the real files (small ones) and on crafted edge cases."""

from __future__ import annotations

import csv
import gzip
import io
import itertools
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import httpx
import pandas as pd
import pytest

from quant_core import NS_PER_SECOND, SimClock, Timeframe, iso_to_ns
from quant_core.errors import ValidationError
from quant_data import detect_format, import_file
from quant_data._importers import FORMATS, import_paths, split_pair
from quant_data.emulator import BarBook, Emulator

CLOCK = SimClock(1_700_000_000 * NS_PER_SECOND)
REAL = "real"


def _lines(path: Path) -> list[list[str]]:
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode()
    return [row for row in csv.reader(io.StringIO(text)) if row]


def test_kraken_ohlcvt_archive_without_header(shared_data: Path) -> None:
    path = shared_data / REAL / "kraken_ohlcvt__noah-perry-sta208" / "XBTUSD_1440.csv.gz"
    result = import_file(path, clock=CLOCK)
    rows = _lines(path)
    assert (result.format, result.symbol, result.quote, result.timeframe) == (
        "kraken_ohlcvt", "BTC", "USD", "1d")  # fmt: skip
    bars = result.bars
    assert len(bars) == len(rows) == 2722
    for bar, row in zip(bars[:50], rows[:50], strict=True):
        assert bar.open_time_ns == int(row[0]) * NS_PER_SECOND
        assert [bar.open, bar.high, bar.low, bar.close, bar.volume] == row[1:6]
        assert bar.trades == int(row[6])
    page = result.pages[0]
    assert page.raw.payload == path.read_bytes()
    assert page.raw.source == "import:kraken_ohlcvt"
    assert page.raw.request == f"FILE {path.name}"
    assert page.raw.received_at_ns == CLOCK.now_ns()
    assert page.window_start_ns == bars[0].open_time_ns
    assert page.window_end_ns == bars[-1].open_time_ns + Timeframe.D1.ns
    assert page.next_start_ns is None
    assert result.skipped == ()
    assert result.notes == ()


def test_kraken_ohlcvt_with_added_header_and_renamed_file(shared_data: Path) -> None:
    path = shared_data / REAL / "kraken_ohlcvt__templar-yield-model" / "BTCUSD_Daily_OHLC.csv.gz"
    result = import_file(path, clock=CLOCK)
    assert (result.symbol, result.timeframe, len(result.bars)) == ("BTC", "1d", 3727)
    assert result.bars[0].open_time_ns == 1381017600 * NS_PER_SECOND


def test_cryptodatadownload_banner_newest_first_odd_dates(shared_data: Path) -> None:
    path = shared_data / REAL / "kraken_cryptodatadownload__loveulin-bitcapitalca" / (
        "Kraken_LTCUSD_1h.csv.gz")  # fmt: skip
    result = import_file(path, clock=CLOCK)
    rows = _lines(path)[2:]
    assert result.format == "cryptodatadownload"
    assert (result.symbol, result.quote) == ("LTC", "USD")
    bars = result.bars
    assert len(bars) == len(rows) == 21537
    # "2019-12-15 07-PM" is 19:00 UTC; file order (newest first) is kept for the store to fix.
    assert rows[0][0] == "2019-12-15 07-PM"
    assert bars[0].open_time_ns == iso_to_ns("2019-12-15T19:00:00Z")
    assert bars[0].open_time_ns > bars[-1].open_time_ns
    assert bars[-1].open_time_ns == iso_to_ns("2017-07-01T11:00:00Z")
    breaks = sum(1 for a, b in itertools.pairwise(bars) if b.open_time_ns > a.open_time_ns)
    assert breaks == 5  # SOURCES.md: 5 order breaks, passed through
    zero = [b for b in bars if Decimal(b.volume) == 0]
    assert len(zero) == 69
    assert all(b.trades is None for b in zero)
    assert all(b.volume == r[6] for b, r in zip(bars, rows, strict=True))


def test_coinapi_flattened_csv_keeps_float_noise(shared_data: Path) -> None:
    folder = shared_data / REAL / "coinapi_kraken_1h__alfotus-coinapi-historical-data"
    result = import_file(folder / "KRAKEN_SPOT_ADA_USD_1HRS.csv.gz", clock=CLOCK)
    assert (result.format, result.symbol, result.quote, result.timeframe) == (
        "coinapi_csv", "ADA", "USD", "1h")  # fmt: skip
    assert len(result.bars) == 5721
    assert result.bars[0].open == "0.30000000000000004"  # repr noise kept verbatim
    header, *rows = _lines(folder / "KRAKEN_SPOT_ADA_USD_1HRS.csv.gz")
    at = {name: i for i, name in enumerate(header)}
    for bar, row in zip(result.bars[:30], rows[:30], strict=True):
        assert bar.open_time_ns == iso_to_ns(row[at["time_period_start"]])
        assert bar.close == row[at["price_close"]]
        assert bar.trades == int(row[at["trades_count"]])
    empty = import_file(folder / "KRAKEN_SPOT_ZEC_CAD_1HRS.csv.gz", clock=CLOCK)
    assert empty.format == "coinapi_csv"
    assert empty.bars == ()
    assert empty.notes == ("the file holds no bars",)


def test_freqtrade_feather_matches_pandas(shared_data: Path) -> None:
    folder = shared_data / REAL / "binance_spot_freqtrade__mounik-sample-scalping"
    path = folder / "SHIB_USDT-1d.feather"
    result = import_file(path, clock=CLOCK)
    frame = pd.read_feather(path)
    assert (result.format, result.symbol, result.quote, result.timeframe) == (
        "freqtrade_feather", "SHIB", "USDT", "1d")  # fmt: skip
    assert len(result.bars) == len(frame) == 1306
    stamps = frame["date"].dt.tz_convert("UTC")
    for i in (0, 1, 700, 1305):
        bar = result.bars[i]
        assert bar.open_time_ns == int(stamps.iloc[i].value)
        assert float(bar.close) == float(frame["close"].iloc[i])
        assert float(bar.volume) == float(frame["volume"].iloc[i])
        assert "e" not in bar.close.lower()
    empty = import_file(folder / "TON_USDT-1h.feather", clock=CLOCK)
    assert empty.bars == ()
    assert (empty.symbol, empty.quote) == ("TON", "USDT")


def test_kraken_trades_rebuilt_into_candles(shared_data: Path) -> None:
    path = shared_data / REAL / "kraken_trades_csv__freqtrade-testdata" / "BCHEUR.csv"
    rows = _lines(path)
    result = import_file(path, clock=CLOCK)
    assert (result.format, result.symbol, result.quote, result.timeframe) == (
        "kraken_trades_csv", "BCH", "EUR", "1m")  # fmt: skip
    bars = result.bars
    assert sum(b.trades or 0 for b in bars) == len(rows) == 148
    assert sum(Decimal(b.volume) for b in bars) == sum(Decimal(r[2]) for r in rows)
    minutes = {int(r[0]) // 60 * 60 * NS_PER_SECOND for r in rows}
    assert {b.open_time_ns for b in bars} == minutes
    first_minute = [r for r in rows if int(r[0]) // 60 == int(rows[0][0]) // 60]
    assert bars[0].open == first_minute[0][1]
    assert bars[0].close == first_minute[-1][1]
    hourly = import_file(path, clock=CLOCK, timeframe=Timeframe.H1)
    assert hourly.timeframe == "1h"
    assert len(hourly.bars) < len(bars)
    q2 = import_file(path.parent / "incremental_q2__BCHEUR.csv", clock=CLOCK)
    assert (q2.symbol, sum(b.trades or 0 for b in q2.bars)) == ("BCH", 486)


def test_detect_format_on_every_real_file(shared_data: Path) -> None:
    found: dict[str, int] = {}
    for path in sorted((shared_data / REAL).rglob("*")):
        if not path.is_file() or path.name == "SOURCES.md":
            continue
        if path.parent.name.startswith("coingecko_daily"):
            with pytest.raises(ValidationError) as info:
                detect_format(path)
            assert info.value.reason_code == "IMPORT_FORMAT_UNKNOWN"
            continue
        fmt = detect_format(path)
        found[fmt] = found.get(fmt, 0) + 1
    assert set(found) == set(FORMATS)


def test_split_pair() -> None:
    assert split_pair("XDGUSD") == ("XDG", "USD")  # not a V1 member: kept for quarantine
    assert split_pair("ADAZUSD") == ("ADA", "USD")
    assert split_pair("ETHXBT") == ("ETH", "BTC")
    with pytest.raises(ValidationError, match="cannot split"):
        split_pair("FOO")


def _write(path: Path, text: str, *, gz: bool = False) -> Path:
    data = text.encode()
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def test_bad_rows_pass_through_or_are_skipped_with_notes(tmp_path: Path) -> None:
    text = (
        "1700000000,1,2,0.5,1.5,10,3\n"
        "1700003600,NaN,2,0.5,1.5,10,3\n"  # bad value: passed on
        "1700007200,-1,2,3,1.5,-10,x\n"  # bad values and trades: passed on
        "1700010800,1,2\n"  # wrong column count: skipped
        "yesterday,1,2,0.5,1.5,10,3\n"  # unmappable time: skipped
        "1700014400,1,2,0.5,1.5,10,2.0\n"  # a float trade count
        "1700018000,1,2,0.5,1.5,10,nan\n"  # no trade count
    )
    result = import_file(_write(tmp_path / "DOGEUSD_60.csv.gz", text, gz=True), clock=CLOCK)
    assert [b.open for b in result.bars] == ["1", "NaN", "-1", "1", "1"]
    assert result.bars[2].trades is None
    assert result.bars[2].volume == "-10"
    assert [b.trades for b in result.bars[3:]] == [2, None]
    assert len(result.skipped) == 2
    assert "row 4" in result.skipped[0]
    assert result.symbol == "DOGE"
    assert "not in" in result.notes[0]


def test_many_skipped_rows_are_summarised(tmp_path: Path) -> None:
    text = "".join(f"{1700000000 + i * 60},1\n" for i in range(60))
    text = "1700000000,1,1,1,1,1,1\n" + text.replace(",1\n", ",1,1,1,1,1,1,1,1\n")
    result = import_file(_write(tmp_path / "XBTUSD_1.csv", text), clock=CLOCK)
    assert len(result.skipped) == 51
    assert result.skipped[-1] == "... and 10 more rows skipped"


def test_crafted_formats_and_errors(tmp_path: Path) -> None:
    cdd = ("Timestamps are UTC timezone,https://www.CryptoDataDownload.com\n"
           "Date,Symbol,Open,High,Low,Close,Volume ETH,Volume USD\n"
           "2019-12-15 07-PM,ETHUSD,1,2,0.5,1.5,3,4\n\n"
           "2019-12-15 18:00:00,ETHUSD,1,2,0.5,1.5,3,4\n"
           "someday,ETHUSD,1,2,0.5,1.5,3,4\n"
           "2019-12-15,ETHUSD,1\n")  # fmt: skip
    result = import_file(_write(tmp_path / "Kraken_ETHUSD_d.csv", cdd), clock=CLOCK)
    assert [b.open_time_ns for b in result.bars] == [
        iso_to_ns("2019-12-15T19:00:00Z"), iso_to_ns("2019-12-15T18:00:00Z")]  # fmt: skip
    assert result.timeframe == "1d"
    assert len(result.skipped) == 2
    bad_cdd = cdd.replace("Volume ETH,", "Other,")
    with pytest.raises(ValidationError, match="base-asset volume"):
        import_file(_write(tmp_path / "Kraken_ETHUSD_1h.csv", bad_cdd), clock=CLOCK)
    with pytest.raises(ValidationError, match="lacks"):
        import_file(_write(tmp_path / "Kraken_ETHUSD_1h.csv", cdd.replace("Open,", "O,")),
                    clock=CLOCK)  # fmt: skip
    with pytest.raises(ValidationError, match="timeframe"):
        import_file(_write(tmp_path / "Kraken_ETHUSD_2w.csv", cdd), clock=CLOCK)
    with pytest.raises(ValidationError, match="cannot tell"):
        import_file(_write(tmp_path / "ethusd.csv", cdd), clock=CLOCK)
    coinapi = (",price_close,price_high,price_low,price_open,time_close,time_open,"
               "time_period_end,time_period_start,trades_count,volume_traded\n"
               "0,1,2,0.5,1,a,b,c,2018-06-01T00:00:00.0000000Z,,5\n\n"
               "1,1,2,0.5,1,a,b,c,not-a-time,3,5\n"
               "2,1,2\n")  # fmt: skip
    result = import_file(_write(tmp_path / "KRAKEN_SPOT_BTC_EUR.csv", coinapi), clock=CLOCK)
    assert (result.quote, result.timeframe, len(result.bars)) == ("EUR", "1h", 1)
    assert result.bars[0].trades is None
    assert len(result.skipped) == 2
    with pytest.raises(ValidationError, match="columns missing"):
        import_file(_write(tmp_path / "KRAKEN_SPOT_BTC_EUR_1HRS.csv",
                           coinapi.replace("trades_count", "tc")), clock=CLOCK)  # fmt: skip
    with pytest.raises(ValidationError, match="period"):
        import_file(_write(tmp_path / "KRAKEN_SPOT_BTC_EUR_2HRS.csv", coinapi), clock=CLOCK)
    with pytest.raises(ValidationError, match="KRAKEN_SPOT"):
        import_file(_write(tmp_path / "btc.csv", coinapi), clock=CLOCK)
    ohlcvt = "1700000000,1,2,0.5,1.5,10,3\n"
    with pytest.raises(ValidationError, match="interval"):
        import_file(_write(tmp_path / "XBTUSD_7.csv", ohlcvt), clock=CLOCK)
    with pytest.raises(ValidationError, match="pair and interval"):
        import_file(_write(tmp_path / "bitcoin.csv", ohlcvt), clock=CLOCK)
    trades = "1672531436,90.5,1.1\n\n1672531437.25,NaN,1\n1672531438,90.5\nnow,1,1\n"
    result = import_file(_write(tmp_path / "XBTEUR.csv", trades), clock=CLOCK)
    assert (result.symbol, len(result.bars), len(result.skipped)) == ("BTC", 1, 3)


def test_feather_errors(tmp_path: Path) -> None:
    frame = pd.DataFrame({"date": pd.to_datetime(pd.Series([0, 60, None]), unit="s", utc=True),
                          "open": [1.0, None, 1.0], "high": [2.0, 2.0, 2.0],
                          "low": [0.5, 0.5, 0.5], "close": [1.5, 1.5, 1.5],
                          "volume": [3.0, 3.0, 3.0]})  # fmt: skip
    frame.to_feather(tmp_path / "ETH_USDC-1m.feather")
    result = import_file(tmp_path / "ETH_USDC-1m.feather", clock=CLOCK)
    assert [b.open for b in result.bars] == ["1.0", "NaN"]
    assert result.bars[1].open_time_ns == 60 * NS_PER_SECOND
    assert result.skipped == ("row 3: no date",)
    frame.drop(columns=["volume"]).to_feather(tmp_path / "ETH_USDC-1h.feather")
    with pytest.raises(ValidationError, match="columns missing"):
        import_file(tmp_path / "ETH_USDC-1h.feather", clock=CLOCK)
    frame.to_feather(tmp_path / "ETH_USDC-7x.feather")
    with pytest.raises(ValidationError, match="timeframe"):
        import_file(tmp_path / "ETH_USDC-7x.feather", clock=CLOCK)
    frame.to_feather(tmp_path / "ethusdc.feather")
    with pytest.raises(ValidationError, match="name like"):
        import_file(tmp_path / "ethusdc.feather", clock=CLOCK)
    _write(tmp_path / "BROKEN_USD-1h.feather", "ARROW1 and then nothing useful")
    with pytest.raises(ValidationError, match="not a readable feather"):
        import_file(tmp_path / "BROKEN_USD-1h.feather", clock=CLOCK)


def test_unreadable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as info:
        import_file(tmp_path / "missing.csv", clock=CLOCK)
    assert info.value.reason_code == "IMPORT_FILE_INVALID"
    (tmp_path / "bad.csv.gz").write_bytes(b"\x1f\x8b not gzip at all")
    with pytest.raises(ValidationError, match="gzip"):
        import_file(tmp_path / "bad.csv.gz", clock=CLOCK)
    unknown = _write(tmp_path / "notes.txt", "hello, world\n")
    with pytest.raises(ValidationError) as info:
        detect_format(unknown)
    assert info.value.reason_code == "IMPORT_FORMAT_UNKNOWN"
    _write(tmp_path / "pairs.csv", "1,2\n")
    with pytest.raises(ValidationError):
        detect_format(tmp_path / "pairs.csv")
    _write(tmp_path / "empty.csv", "")
    with pytest.raises(ValidationError):
        detect_format(tmp_path / "empty.csv")


def test_import_paths_walks_directories_and_skips_unknown_files(tmp_path: Path) -> None:
    _write(tmp_path / "XBTUSD_60.csv", "1700000000,1,2,0.5,1.5,10,3\n")
    _write(tmp_path / "README.txt", "not data\n")
    bars = import_paths([tmp_path], clock=CLOCK)
    assert [(b.symbol, b.timeframe) for b in bars] == [("BTC", "1h")]
    with pytest.raises(ValidationError):
        import_paths([tmp_path / "README.txt"], clock=CLOCK)
    _write(tmp_path / "XBTUSD_7.csv", "1700000000,1,2,0.5,1.5,10,3\n")
    with pytest.raises(ValidationError, match="interval"):
        import_paths([tmp_path], clock=CLOCK)


def test_emulator_serves_imported_real_files(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    folder = shared_data / REAL / "coinapi_kraken_1h__alfotus-coinapi-historical-data"
    path = folder / "KRAKEN_SPOT_ETH_CAD_1HRS.csv.gz"
    expected = import_file(path, clock=CLOCK).bars
    emu = emulator_factory(path)  # default clock: the close of the last bar
    assert emu.now_ns() == expected[-1].open_time_ns + Timeframe.H1.ns
    r = httpx.get(emu.base_url("coinapi") + "/v1/ohlcv/KRAKEN_SPOT_ETH_CAD/history",
                  params={"period_id": "1HRS", "time_start": "2018-06-01T00:00:00Z",
                          "limit": 100000}, headers={"X-CoinAPI-Key": "k"}, timeout=30)  # fmt: skip
    items = r.json()
    assert len(items) == len(expected)  # the last hour closed at now: it is complete
    assert [iso_to_ns(i["time_period_start"]) for i in items] == [
        b.open_time_ns for b in expected]  # fmt: skip
    ohlc = httpx.get(emu.base_url("kraken") + "/0/public/OHLC",
                     params={"pair": "XETHZCAD", "interval": 60}, timeout=10).json()  # fmt: skip
    rows = ohlc["result"]["XETHZCAD"]
    assert rows[-1][0] * NS_PER_SECOND == expected[-1].open_time_ns
    book = BarBook.from_files([folder / "KRAKEN_SPOT_BTC_CAD_1HRS.csv.gz", path], clock=CLOCK)
    assert book.pairs() == (("BTC", "CAD"), ("ETH", "CAD"))
