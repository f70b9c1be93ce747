"""Kraken public adapter against the real samples and a small in-test Kraken (MockTransport)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from quant_core import SimClock, Timeframe
from quant_core.errors import UniverseError
from quant_data import OhlcvProvider, ProviderUsageError, Trade, trades_to_bars
from quant_data.providers import KrakenPublicProvider
from quant_net import ProviderError, ReadPolicy, kraken

Handler = Callable[[httpx.Request], httpx.Response]
S = 1_000_000_000
M = 60 * S
H = 3_600 * S


def _reply(status: int, body: bytes) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    return handler


def _k(shared_data: Path, name: str) -> bytes:
    return (shared_data / "api-samples" / "kraken" / name).read_bytes()


def _provider(handler: Handler, now_ns: int, **kw: Any) -> KrakenPublicProvider:
    return KrakenPublicProvider(
        "http://kraken.test/kraken",
        clock=kw.pop("clock", None) or SimClock(now_ns),
        seed=11,
        transport=httpx.MockTransport(handler),
        policy=kw.pop("policy", ReadPolicy(rate_per_s=1000, burst=100)),
        **kw,
    )


def test_protocol_and_mapping() -> None:
    p = _provider(lambda r: httpx.Response(200), 0)
    assert isinstance(p, OhlcvProvider)
    assert (p.name, p.page_limit, p.confirms_no_trade) == ("kraken", 720, True)
    assert kraken.pair_name("BTC", "usd") == "XBTUSD"
    assert kraken.INTERVALS[Timeframe.D1] == 1440
    assert "kraken.test" in repr(p)
    with pytest.raises(UniverseError):
        list(p.fetch_ohlcv("NOPE", "USD", Timeframe.H1, 0, H))
    with pytest.raises(ProviderUsageError):
        _provider(lambda r: httpx.Response(200), 0, trades_count=1001)


def test_ohlc_real_sample_int_last_drops_open_candle(shared_data: Path) -> None:
    body = _k(shared_data, "nautilus__http_ohlc.json")
    doc = json.loads(body)
    rows, last = doc["result"]["XBTUSDT"], doc["result"]["last"]
    assert len(rows) == 721
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=body)

    open_row = rows[-1][0]
    p = _provider(handler, open_row * S + 30 * S)
    start = rows[1][0] * S  # oldest slot still inside the 720-candle window at that now
    pages = list(p.fetch_ohlcv("BTC", "USDT", Timeframe.M1, start, (open_row + 60) * S))
    assert len(sent) == 1
    assert sent[0].url.path == "/kraken/0/public/OHLC"
    assert sent[0].url.params["pair"] == "XBTUSDT"
    assert sent[0].url.params["interval"] == "1"
    [page] = pages
    assert page.raw.payload == body
    expected = [r for r in rows[1:] if r[0] <= last]
    assert [b.open_time_ns for b in page.bars] == [r[0] * S for r in expected]
    assert all(b.open_time_ns != open_row * S for b in page.bars)  # open candle dropped
    assert page.window_end_ns == (last + 60) * S
    assert page.next_start_ns is None
    no_trade = [b for b in page.bars if b.trades == 0]
    assert len(no_trade) == sum(1 for r in expected if r[7] == 0) > 0
    assert all(b.volume == "0.00000000" and b.open == b.close for b in no_trade)
    b0, r0 = page.bars[0], expected[0]
    assert (b0.open, b0.high, b0.low, b0.close, b0.volume) == (r0[1], r0[2], r0[3], r0[4], r0[6])
    assert (b0.symbol, b0.quote, b0.timeframe, b0.source) == ("BTC", "USDT", "1m", "kraken")


def test_ohlc_real_sample_string_last(shared_data: Path) -> None:
    body = _k(shared_data, "ccxt__OHLC_XBTUSDT_1h_since1706628191.json")
    p = _provider(lambda r: httpx.Response(200, content=body), 1706799600 * S + 10 * S)
    raw, bars, last_ns = p.ohlc("BTC", "USDT", Timeframe.H1, since_ns=1706628191 * S)
    assert last_ns == 1706796000 * S
    assert [b.open_time_ns // S for b in bars] == [
        1706626800,
        1706630400,
        1706634000,
        1706637600,
        1706641200,
    ]  # 1706799600 is after `last`: the open candle
    assert raw.request.endswith("since=1706628191")


def _envelope(key: str, rows: list[Any], last: int | str) -> bytes:
    return json.dumps({"error": [], "result": {key: rows, "last": last}}).encode()


def test_ohlc_result_key_differs_from_pair() -> None:
    now = 100 * H + 5 * S
    rows = [
        [t // S, "1.0", "2.0", "0.5", "1.5", "1.2", "3.00000000", 4]
        for t in (98 * H, 99 * H, 100 * H)
    ]
    p = _provider(
        lambda r: httpx.Response(200, content=_envelope("XXBTZUSD", rows, 99 * H // S)), now
    )
    [page] = list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, 98 * H, 101 * H))
    assert [b.open_time_ns for b in page.bars] == [98 * H, 99 * H]
    assert (page.window_start_ns, page.window_end_ns) == (98 * H, 100 * H)


def _trades_server(
    trades: list[tuple[int, str, str]],
    log: list[httpx.Request],
    key: str = "XXBTZUSD",
    ns_field: bool = False,
) -> Handler:
    """A Kraken Trades endpoint: trades with time > since (ns), at most ``count`` per page."""

    def handler(request: httpx.Request) -> httpx.Response:
        log.append(request)
        assert request.url.path.endswith("/0/public/Trades")
        since = int(request.url.params["since"])
        count = int(request.url.params["count"])
        page = [t for t in trades if t[0] > since][:count]
        rows = []
        for i, (t, price, vol) in enumerate(page):
            row: list[Any] = [price, vol, float(Decimal(t) / S), "b", "m", "", 1000 + i]
            if ns_field:
                row.append(str(t))
            rows.append(row)
        last = str(page[-1][0]) if page else str(since)
        return httpx.Response(200, content=_envelope(key, rows, last))

    return handler


@pytest.mark.parametrize("ns_field", [False, True])
def test_trades_rebuild_pages_tile_and_match(ns_field: bool) -> None:
    # 3 trades per hour for 30 hours, one empty hour (no-trade) at hour 7
    trades = [
        (h * H + k * 1_000 * S + 123_456, f"{100 + h}.{k}0000", "0.50000000")
        for h in range(30)
        if h != 7
        for k in range(3)
    ]
    log: list[httpx.Request] = []
    now = 2000 * H  # far later: hours 0..30 are outside the 720-candle window
    p = _provider(_trades_server(trades, log, ns_field=ns_field), now, trades_count=10)
    pages = list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, 0, 30 * H))
    assert pages[0].window_start_ns == 0
    for a, b in itertools.pairwise(pages):
        assert a.window_end_ns == b.window_start_ns == a.next_start_ns
    assert pages[-1].window_end_ns == 30 * H
    assert pages[-1].next_start_ns is None
    got = [b for page in pages for b in page.bars]
    expected = trades_to_bars(
        [Trade(t, p_, v) for t, p_, v in trades]
        if ns_field
        else [Trade(int(Decimal(repr(float(Decimal(t) / S))) * S), p_, v) for t, p_, v in trades],
        source="kraken",
        symbol="BTC",
        quote="USD",
        timeframe=Timeframe.H1,
    )
    assert got == list(expected)
    assert 7 * H not in {b.open_time_ns for b in got}  # the empty hour is not invented
    for page in pages:
        assert all(page.window_start_ns <= b.open_time_ns < page.window_end_ns for b in page.bars)
    # 87 trades, 10 per page -> 9 requests (the 9th short page ends the cursor)
    assert len(log) == 9
    assert log[0].url.params["since"] == str(-1)


def test_trades_rebuild_stops_at_end_without_reading_everything() -> None:
    trades = [(h * H + 5 * S, "10.0", "1") for h in range(100)]
    log: list[httpx.Request] = []
    p = _provider(_trades_server(trades, log), 5000 * H, trades_count=5)
    pages = list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, 10 * H, 20 * H))
    bars = [b for page in pages for b in page.bars]
    assert [b.open_time_ns for b in bars] == [h * H for h in range(10, 20)]
    assert pages[-1].window_end_ns == 20 * H
    assert len(log) <= 3


def test_old_then_recent_uses_trades_then_ohlc() -> None:
    now = 1000 * H + 30 * S
    oldest_ohlc = 1000 * H - 719 * H
    trades = [(h * H + 5 * S, "10.0", "1") for h in range(1001)]
    rows = [[t // S, "1", "1", "1", "1", "1", "1", 1] for t in range(oldest_ohlc, 1001 * H, H)]
    log: list[httpx.Request] = []
    trades_handler = _trades_server(trades, log)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/OHLC"):
            log.append(request)
            since = int(request.url.params["since"]) * S
            body_rows = [r for r in rows if int(str(r[0])) * S > since]
            return httpx.Response(200, content=_envelope("XXBTZUSD", body_rows, 999 * H // S))
        return trades_handler(request)

    p = _provider(handler, now, trades_count=1000)
    start = oldest_ohlc - 100 * H
    pages = list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, start, 1001 * H))
    kinds = [r.url.path.rsplit("/", 1)[1] for r in log]
    assert kinds[-1] == "OHLC"
    assert kinds.count("OHLC") == 1
    assert pages[-1].window_end_ns == 1000 * H  # the open candle is not served
    opens = [b.open_time_ns for page in pages for b in page.bars]
    assert opens == list(range(start, 1000 * H, H))
    for a, b in itertools.pairwise(pages):
        assert a.window_end_ns == b.window_start_ns


def test_ohlc_cap_cut_start_is_rebuilt_from_trades() -> None:
    # The clock says the window is inside OHLC, but the server's cap starts later.
    now = 800 * H + 30 * S
    start = 800 * H - 719 * H
    # the server's clock is 5 h ahead: its 720 rows start 5 h after ours would
    rows = [[t // S, "1", "1", "1", "1", "1", "1", 1] for t in range(start + 5 * H, 806 * H, H)]
    assert len(rows) == 720
    trades = [(h * H + 5 * S, "2", "1") for h in range(801)]
    log: list[httpx.Request] = []
    trades_handler = _trades_server(trades, log)

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/OHLC"):
            return httpx.Response(200, content=_envelope("XXBTZUSD", rows, 804 * H // S))
        return trades_handler(request)

    pages = list(_provider(handler, now).fetch_ohlcv("BTC", "USD", Timeframe.H1, start, 800 * H))
    opens = [b.open_time_ns for page in pages for b in page.bars]
    assert opens == list(range(start, 800 * H, H))
    assert pages[0].bars[0].open == "2"  # rebuilt from trades


@pytest.mark.parametrize(
    ("sample", "code", "retryable"),
    [
        ("observed__error_unknown_asset_pair.json", "PROVIDER_SYMBOL_UNKNOWN", False),
        ("sextant__error_invalid_asset_pair.json", "PROVIDER_SYMBOL_UNKNOWN", False),
        ("observed__error_invalid_arguments.json", "PROVIDER_BAD_REQUEST", False),
        ("observed__error_too_many_requests.json", "PROVIDER_RATE_LIMITED", True),
    ],
)
def test_errors_inside_http_200(shared_data: Path, sample: str, code: str, retryable: bool) -> None:
    body = _k(shared_data, sample)
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=body)

    p = _provider(handler, 10 * H, policy=ReadPolicy(max_attempts=3, rate_per_s=100))
    with pytest.raises(ProviderError) as info:
        p.ohlc("BTC", "USD", Timeframe.H1)
    assert (info.value.reason_code, info.value.retryable) == (code, retryable)
    assert len(calls) == (3 if retryable else 1)


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("EService:Unavailable", "PROVIDER_UNAVAILABLE"),
        ("EAPI:Rate limit exceeded", "PROVIDER_RATE_LIMITED"),
        ("EAPI:Invalid key", "PROVIDER_AUTH_FAILED"),
        ("EGeneral:Unknown method", "PROVIDER_ERROR"),
    ],
)
def test_other_kraken_errors(message: str, code: str) -> None:
    body = json.dumps({"error": [message]}).encode()
    p = _provider(
        lambda r: httpx.Response(200, content=body), 10 * H, policy=ReadPolicy(max_attempts=1)
    )
    with pytest.raises(ProviderError) as info:
        p.trades("BTC", "USD", 0)
    assert info.value.reason_code == code


def test_throttle_then_success_counts_requests(shared_data: Path) -> None:
    throttle = _k(shared_data, "observed__error_too_many_requests.json")
    ok = _k(shared_data, "krakendocs__Trades_XXBTZUSD_example.json")
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=throttle if len(calls) < 3 else ok)

    raw, trades, last = _provider(handler, 0).trades("BTC", "USD", 0)
    assert len(calls) == 3
    assert raw.payload == ok
    assert last == 1688671969993150842
    assert [t.price for t in trades] == ["30243.40000", "30243.30000", "30243.30000"]
    assert trades[0].time_ns == 1688669597827736900  # float text 1688669597.8277369, exactly


def test_trades_real_samples_variable_row_length(shared_data: Path) -> None:
    eight = _k(shared_data, "ccxt__Trades_XBTUSDT_count1.json")
    _, trades, last = _provider(lambda r: httpx.Response(200, content=eight), 0).trades(
        "BTC", "USDT", 0
    )
    assert trades[0].time_ns == 1710327959173746878 == last  # the exact ns element is used
    big = _k(shared_data, "nautilus__http_trades.json")
    _, trades, last = _provider(lambda r: httpx.Response(200, content=big), 0).trades(
        "BTC", "USDT", 0
    )
    assert len(trades) == 1000
    assert last == 1762820035982277754
    assert all(a.time_ns <= b.time_ns for a, b in itertools.pairwise(trades))


def test_http_status_errors_and_malformed_bodies() -> None:
    for status, body, code in [
        (503, b"<html>", "PROVIDER_UNAVAILABLE"),
        (404, b"nope", "PROVIDER_ERROR"),
        (200, b'{"error": [], "result": {"XXBTZUSD": [], "la', "PROVIDER_RESPONSE_INVALID"),
        (200, b"[]", "PROVIDER_RESPONSE_INVALID"),
        (200, b'{"error": []}', "PROVIDER_RESPONSE_INVALID"),
        (
            200,
            b'{"error": [], "result": {"A": [], "B": [], "last": 1}}',
            "PROVIDER_RESPONSE_INVALID",
        ),
        (200, b'{"error": [], "result": {"A": []}}', "PROVIDER_RESPONSE_INVALID"),
        (
            200,
            b'{"error": [], "result": {"A": [[1, "1"]], "last": 5}}',
            "PROVIDER_RESPONSE_INVALID",
        ),
    ]:
        p = _provider(
            _reply(status, body),
            10 * H,
            policy=ReadPolicy(max_attempts=1),
        )
        with pytest.raises(ProviderError) as info:
            p.ohlc("BTC", "USD", Timeframe.H1)
        assert info.value.reason_code == code, body


def test_bad_trade_rows() -> None:
    bad_shape = _envelope("XXBTZUSD", [["1.0"]], "5")
    bad_value = _envelope("XXBTZUSD", [["-1.0", "1", 1.5, "b", "m", "", 1]], "5")
    p = _provider(
        lambda r: httpx.Response(200, content=bad_shape), 0, policy=ReadPolicy(max_attempts=1)
    )
    with pytest.raises(ProviderError) as info:
        p.trades("BTC", "USD", 0)
    assert info.value.reason_code == "PROVIDER_RESPONSE_INVALID"
    p = _provider(lambda r: httpx.Response(200, content=bad_value), 0)
    with pytest.raises(ProviderError) as info:
        p.trades("BTC", "USD", 0)
    assert (info.value.reason_code, info.value.retryable) == ("TRADE_INVALID", False)


def test_asset_pairs_real_samples(shared_data: Path) -> None:
    body = _k(shared_data, "nautilus__http_asset_pairs.json")
    tok = _k(shared_data, "nautilus__http_asset_pairs_tokenized.json")
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=body if len(sent) == 1 else tok)

    p = _provider(handler, 0)
    [pair] = p.asset_pairs(["XBTUSDT"])
    assert sent[0].url.params["pair"] == "XBTUSDT"
    assert (pair.key, pair.altname, pair.wsname) == ("XBTUSDT", "XBTUSDT", "XBT/USDT")
    assert (pair.base, pair.quote, pair.is_crypto, pair.status) == ("BTC", "USDT", True, "online")
    [stock] = p.asset_pairs()
    assert "pair" not in sent[1].url.params
    assert (stock.base, stock.quote, stock.is_crypto) == ("AAPLx", "USD", False)


def test_asset_pairs_legacy_keys_and_errors(shared_data: Path) -> None:
    body = json.dumps(
        {
            "error": [],
            "result": {
                "XXBTZUSD": {
                    "altname": "XBTUSD",
                    "wsname": "XBT/USD",
                    "base": "XXBT",
                    "quote": "ZUSD",
                },
                "XDGUSD": {"altname": "XDGUSD", "base": "XXDG", "quote": "ZUSD"},
                "XETHZCAD": {"altname": "ETHCAD", "base": "XETH", "quote": "ZCAD"},
            },
        }
    ).encode()
    pairs = _provider(lambda r: httpx.Response(200, content=body), 0).asset_pairs()
    assert [(p.key, p.base, p.quote) for p in pairs] == [
        ("XDGUSD", "DOGE", "USD"),
        ("XETHZCAD", "ETH", "CAD"),
        ("XXBTZUSD", "BTC", "USD"),
    ]
    unknown = _k(shared_data, "observed__error_unknown_asset_pair.json")
    with pytest.raises(ProviderError) as info:
        _provider(lambda r: httpx.Response(200, content=unknown), 0).asset_pairs(["FOOUSD"])
    assert info.value.reason_code == "PROVIDER_SYMBOL_UNKNOWN"
    broken = b'{"error": [], "result": {"X": {"base": "XXBT"}}}'
    with pytest.raises(ProviderError) as info:
        _provider(
            lambda r: httpx.Response(200, content=broken), 0, policy=ReadPolicy(max_attempts=1)
        ).asset_pairs()
    assert info.value.reason_code == "PROVIDER_RESPONSE_INVALID"
