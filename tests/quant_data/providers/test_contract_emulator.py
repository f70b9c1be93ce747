"""Adapter contract tests over real HTTP against the provider emulator (127.0.0.1).

Expectations come from the emulator's own bar book (what the source holds), never from the
adapter: pagination covers the window with the minimum number of requests, faults are retried
(counted on the server side), errors map to their reason codes, decimal text and UTC ns are
preserved, and no key appears in logs or errors.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import math
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from quant_core import Timeframe, iso_to_ns
from quant_core.settings import Secret
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE as V1
from quant_data import FetchedPage, SourceBar
from quant_data.emulator import Emulator, EmulatorOptions, FaultKind, FaultPlan, FaultRule
from quant_data.emulator._book import is_no_trade
from quant_data.providers import (
    CoinApiProvider,
    CoinGeckoClient,
    KrakenPublicProvider,
    propose_universe,
)
from quant_net import ProviderError, ReadPolicy

H = 3_600 * 1_000_000_000
JAN1 = iso_to_ns("2024-01-01T00:00:00Z")
KEY = "emulator-SECRET-coinapi-key"
FAST = ReadPolicy(rate_per_s=50.0, burst=10, timeout_s=5.0, backoff_base_s=0.5)

Factory = Callable[..., Emulator]


def _coinapi(emu: Emulator, **kw: Any) -> CoinApiProvider:
    return CoinApiProvider(
        emu.base_url("coinapi"), Secret(KEY), clock=emu.clock, seed=3, policy=FAST, **kw
    )


def _kraken(emu: Emulator, **kw: Any) -> KrakenPublicProvider:
    return KrakenPublicProvider(emu.base_url("kraken"), clock=emu.clock, seed=3, policy=FAST, **kw)


def _dec(bar: SourceBar) -> tuple[Any, ...]:
    return (
        bar.open_time_ns,
        *(Decimal(x) for x in (bar.open, bar.high, bar.low, bar.close, bar.volume)),
    )


def _source(emu: Emulator, symbol: str, start: int, end: int) -> list[SourceBar]:
    return list(emu.book.window(symbol, "USD", Timeframe.H1, start, end))


def _tiles(pages: list[FetchedPage], start: int, end: int) -> None:
    assert pages[0].window_start_ns == start
    for a, b in itertools.pairwise(pages):
        assert a.window_end_ns == b.window_start_ns
        assert a.next_start_ns == a.window_end_ns
    assert pages[-1].window_end_ns == end
    assert pages[-1].next_start_ns is None
    for p in pages:
        assert all(p.window_start_ns <= b.open_time_ns < p.window_end_ns for b in p.bars)


def _served(emu: Emulator, dialect: str) -> list[Any]:
    return [r for r in emu.requests if r.dialect == dialect]


# --- CoinAPI ------------------------------------------------------------------------------


def test_coinapi_backfill_minimum_requests_and_exact_values(emulator_factory: Factory) -> None:
    emu = emulator_factory(options=EmulatorOptions(coinapi_api_key=KEY))
    end = iso_to_ns("2024-01-31T12:00:00Z")
    pages = list(_coinapi(emu).fetch_ohlcv("BTC", "USD", Timeframe.H1, JAN1, end))
    _tiles(pages, JAN1, end)
    expected = [b for b in _source(emu, "BTC", JAN1, end) if not is_no_trade(b)]
    got = [b for p in pages for b in p.bars]
    assert [_dec(b) for b in got] == [_dec(b) for b in expected]
    assert all(Timeframe.H1.is_aligned(b.open_time_ns) for b in got)
    served = _served(emu, "coinapi")
    assert len(served) == math.ceil(len(expected) / 100)  # the minimum the limit allows
    assert all(r.query["period_id"] == "1HRS" for r in served)
    assert {r.path for r in served} == {"/v1/ohlcv/KRAKEN_SPOT_BTC_USD/history"}


def test_coinapi_faults_are_retried_to_the_same_result(emulator_factory: Factory) -> None:
    end = iso_to_ns("2024-01-11T00:00:00Z")
    clean = emulator_factory(options=EmulatorOptions(coinapi_api_key=KEY))
    baseline = [
        b
        for p in _coinapi(clean).fetch_ohlcv("ETH", "USD", Timeframe.H1, JAN1, end)
        for b in p.bars
    ]
    minimum = len(_served(clean, "coinapi"))
    plan = FaultPlan(
        rules=(
            FaultRule(FaultKind.RATE_LIMIT, dialect="coinapi", first=0, count=2, retry_after_s=2),
            FaultRule(FaultKind.SERVER_ERROR, dialect="coinapi", first=1, count=1, status=502),
            FaultRule(FaultKind.TRUNCATE, dialect="coinapi", first=2, count=1, fraction=0.5),
            FaultRule(FaultKind.DROP, dialect="coinapi", first=3, count=1),
        )
    )
    emu = emulator_factory(faults=plan, options=EmulatorOptions(coinapi_api_key=KEY))
    t0 = emu.clock.now_ns()
    pages = list(_coinapi(emu).fetch_ohlcv("ETH", "USD", Timeframe.H1, JAN1, end))
    _tiles(pages, JAN1, end)
    assert [b for p in pages for b in p.bars] == baseline
    served = _served(emu, "coinapi")
    faulted = [r for r in served if r.fault]
    assert len(faulted) >= 4
    assert len(served) == minimum + len(faulted)
    assert emu.clock.now_ns() - t0 >= 2 * 2 * 1_000_000_000  # Retry-After honoured (shared clock)


def test_coinapi_retries_exhausted(emulator_factory: Factory) -> None:
    plan = FaultPlan(rules=(FaultRule(FaultKind.SERVER_ERROR, dialect="coinapi", count=None),))
    emu = emulator_factory(faults=plan, options=EmulatorOptions(coinapi_api_key=KEY))
    with pytest.raises(ProviderError) as info:
        list(_coinapi(emu).fetch_ohlcv("BTC", "USD", Timeframe.H1, JAN1, JAN1 + 5 * H))
    assert info.value.reason_code == "PROVIDER_UNAVAILABLE"
    assert len(_served(emu, "coinapi")) == FAST.max_attempts


def test_coinapi_bad_key_is_fatal_and_never_logged(
    emulator_factory: Factory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu = emulator_factory(options=EmulatorOptions(coinapi_api_key="the-right-one"))
    provider = _coinapi(emu)
    with pytest.raises(ProviderError) as info:
        list(provider.fetch_ohlcv("BTC", "USD", Timeframe.H1, JAN1, JAN1 + 5 * H))
    assert info.value.reason_code == "PROVIDER_AUTH_FAILED"
    assert "Invalid API key" in str(info.value)
    assert len(_served(emu, "coinapi")) == 1
    for text in (caplog.text, str(info.value), repr(info.value), repr(provider)):
        assert KEY not in text


def test_coinapi_status_faults_map_to_codes(emulator_factory: Factory) -> None:
    emu = emulator_factory(options=EmulatorOptions(coinapi_api_key=KEY))
    for status, code in ((403, "PROVIDER_QUOTA_EXCEEDED"), (400, "PROVIDER_BAD_REQUEST")):
        emu.set_faults(
            FaultPlan(rules=(FaultRule(FaultKind.STATUS, dialect="coinapi", status=status),))
        )
        with pytest.raises(ProviderError) as info:
            list(_coinapi(emu).fetch_ohlcv("BTC", "USD", Timeframe.H1, JAN1, JAN1 + 5 * H))
        assert info.value.reason_code == code
    emu.set_faults(FaultPlan(rules=(FaultRule(FaultKind.STATUS, dialect="coinapi", status=550),)))
    [page] = list(_coinapi(emu).fetch_ohlcv("BTC", "USD", Timeframe.H1, JAN1, JAN1 + 5 * H))
    assert (page.bars, page.raw.status, page.window_end_ns) == ((), 550, JAN1 + 5 * H)


def test_coinapi_unknown_symbol_is_550_empty(emulator_factory: Factory) -> None:
    emu = emulator_factory(options=EmulatorOptions(coinapi_api_key=KEY))
    [page] = list(_coinapi(emu).fetch_ohlcv("ADA", "USD", Timeframe.H1, JAN1, JAN1 + 5 * H))
    assert page.bars == ()
    assert page.raw.status == 550


def test_coinapi_quota_exhaustion_reads_headers(emulator_factory: Factory) -> None:
    emu = emulator_factory(options=EmulatorOptions(coinapi_api_key=KEY, coinapi_quota=2))
    end = iso_to_ns("2024-01-20T00:00:00Z")
    pages: list[FetchedPage] = []
    with pytest.raises(ProviderError) as info:
        pages.extend(_coinapi(emu).fetch_ohlcv("BTC", "USD", Timeframe.H1, JAN1, end))
    assert info.value.reason_code == "PROVIDER_QUOTA_EXCEEDED"
    assert len(pages) == 1  # the second answer said "0 remaining until tomorrow"
    assert len(_served(emu, "coinapi")) == 2  # and no doomed third request was sent


# --- Kraken -------------------------------------------------------------------------------


@pytest.mark.parametrize("last_as_string", [False, True])
def test_kraken_recent_window_uses_one_ohlc_request(
    emulator_factory: Factory, last_as_string: bool
) -> None:
    emu = emulator_factory(options=EmulatorOptions(kraken_last_as_string=last_as_string))
    now = emu.clock.now_ns()
    start = Timeframe.H1.floor(now) - 200 * H
    pages = list(_kraken(emu).fetch_ohlcv("BTC", "USD", Timeframe.H1, start, now + H))
    [page] = pages
    assert page.window_start_ns == start
    assert page.window_end_ns == Timeframe.H1.floor(now)  # the open candle is not served
    expected = _source(emu, "BTC", start, Timeframe.H1.floor(now))
    got = list(page.bars)
    # no-trade candles are served by Kraken (as O=H=L=C=previous close, volume 0)
    assert [b.open_time_ns for b in got if not b.trades] == [
        b.open_time_ns for b in expected if is_no_trade(b)
    ]
    assert [_dec(b) for b in got if b.trades] == [_dec(b) for b in expected if not is_no_trade(b)]
    served = _served(emu, "kraken")
    assert [r.path for r in served] == ["/0/public/OHLC"]
    assert served[0].query["pair"] == "XBTUSD"


@pytest.mark.parametrize("ns_field", [False, True])
def test_kraken_old_history_is_rebuilt_from_trades(
    emulator_factory: Factory, ns_field: bool
) -> None:
    emu = emulator_factory(options=EmulatorOptions(kraken_trades_ns_field=ns_field))
    start, end = JAN1, JAN1 + 10 * H
    provider = _kraken(emu, trades_count=100)
    assert end <= provider.ohlc_window_start_ns(Timeframe.H1)
    pages = list(provider.fetch_ohlcv("SOL", "USD", Timeframe.H1, start, end))
    _tiles(pages, start, end)
    got = [b for p in pages for b in p.bars]
    expected = [b for b in _source(emu, "SOL", start, end) if not is_no_trade(b)]
    assert [_dec(b) for b in got] == [_dec(b) for b in expected]
    assert [b.trades for b in got] == [b.trades for b in expected]
    served = _served(emu, "kraken")
    assert {r.path for r in served} == {"/0/public/Trades"}
    total_trades = sum(b.trades or 0 for b in expected)
    assert len(served) <= math.ceil(total_trades / 100) + 2


def test_kraken_throttle_in_http_200_is_retried(emulator_factory: Factory) -> None:
    plan = FaultPlan(rules=(FaultRule(FaultKind.RATE_LIMIT, dialect="kraken", count=2),))
    emu = emulator_factory(faults=plan)
    now = emu.clock.now_ns()
    start = Timeframe.H1.floor(now) - 10 * H
    [page] = list(_kraken(emu).fetch_ohlcv("ETH", "USD", Timeframe.H1, start, now))
    assert len(page.bars) == len(_source(emu, "ETH", start, Timeframe.H1.floor(now)))
    served = _served(emu, "kraken")
    assert [r.fault for r in served] == ["rate_limit", "rate_limit", None]
    assert all(r.status == 200 for r in served)


def test_kraken_errors(emulator_factory: Factory) -> None:
    emu = emulator_factory()
    with pytest.raises(ProviderError) as info:
        list(_kraken(emu).fetch_ohlcv("ADA", "USD", Timeframe.H1, JAN1 + 700 * H, JAN1 + 701 * H))
    assert info.value.reason_code == "PROVIDER_SYMBOL_UNKNOWN"
    emu.set_faults(
        FaultPlan(rules=(FaultRule(FaultKind.KRAKEN_ERROR, dialect="kraken", count=None),))
    )
    with pytest.raises(ProviderError) as info:
        _kraken(emu).ohlc("BTC", "USD", Timeframe.H1)
    assert info.value.reason_code == "PROVIDER_UNAVAILABLE"  # EService:Unavailable, retried


def test_kraken_asset_pairs_maps_legacy_keys(emulator_factory: Factory) -> None:
    emu = emulator_factory()
    pairs = _kraken(emu).asset_pairs()
    by_key = {p.key: p for p in pairs}
    assert by_key["XXBTZUSD"].base == "BTC"
    assert by_key["XXBTZUSD"].quote == "USD"
    assert by_key["XETHZUSD"].base == "ETH"
    assert {(p.base, p.quote) for p in pairs} == {("BTC", "USD"), ("ETH", "USD"), ("SOL", "USD")}
    assert all(p.is_crypto for p in pairs)


# --- CoinGecko ----------------------------------------------------------------------------


def test_coingecko_markets_to_universe_proposal(emulator_factory: Factory) -> None:
    emu = emulator_factory()
    client = CoinGeckoClient(emu.base_url("coingecko"), None, clock=emu.clock, seed=1, policy=FAST)
    snap = client.markets("usd", per_page=250)
    assert snap.coins
    proposal = propose_universe(V1, snap.coins)
    excluded = {e.symbol: e.reason for e in proposal.excluded}
    assert excluded.get("USDT") == "stablecoin"
    assert not set(excluded) & set(proposal.symbols)
    assert len(proposal.symbols) == min(30, len(snap.coins) - len(excluded))
    assert set(proposal.kept) | set(proposal.removed) == set(V1.symbols)
    assert V1.symbols == tuple(m.symbol for m in V1.members)  # the active one is untouched
    emu.set_faults(
        FaultPlan(rules=(FaultRule(FaultKind.RATE_LIMIT, dialect="coingecko", count=1),))
    )
    again = client.markets("usd", per_page=250)
    assert again.coins == snap.coins


# --- determinism --------------------------------------------------------------------------


def _digest(pages: list[FetchedPage]) -> str:
    h = hashlib.sha256()
    for p in pages:
        h.update(p.raw.payload_hash.encode())
        h.update(p.raw.request.encode())
        h.update(repr((p.bars, p.window_start_ns, p.window_end_ns, p.raw.received_at_ns)).encode())
    return h.hexdigest()


def test_same_seed_same_pages_with_faults(emulator_factory: Factory) -> None:
    def run() -> str:
        plan = FaultPlan(
            rules=(
                FaultRule(FaultKind.SERVER_ERROR, dialect="coinapi", probability=0.3, count=None),
            ),
            seed=9,
        )
        emu = emulator_factory(faults=plan, options=EmulatorOptions(coinapi_api_key=KEY))
        provider = _coinapi(emu, page_limit=50)
        return _digest(list(provider.fetch_ohlcv("BTC", "USD", Timeframe.H1, JAN1, JAN1 + 300 * H)))

    assert run() == run()


# --- page faults: partial, duplicated, shuffled, slow ---------------------------------------


def test_kraken_ohlc_cut_answer_is_asked_again(emulator_factory: Factory) -> None:
    plan = FaultPlan(
        rules=(FaultRule(FaultKind.PARTIAL, dialect="kraken", endpoint="OHLC", fraction=0.5),)
    )
    emu = emulator_factory(faults=plan)
    now = emu.clock.now_ns()
    start = Timeframe.H1.floor(now) - 100 * H
    pages = list(_kraken(emu).fetch_ohlcv("BTC", "USD", Timeframe.H1, start, now))
    _tiles(pages, start, Timeframe.H1.floor(now))
    got = [b.open_time_ns for p in pages for b in p.bars]
    assert got == [b.open_time_ns for b in _source(emu, "BTC", start, Timeframe.H1.floor(now))]
    assert len(_served(emu, "kraken")) == 2  # the cut answer, then the rest


@pytest.mark.parametrize("kind", [FaultKind.PARTIAL, FaultKind.DUPLICATE, FaultKind.OUT_OF_ORDER])
def test_kraken_trades_faults_rebuild_the_same_candles(
    emulator_factory: Factory, kind: FaultKind
) -> None:
    plan = FaultPlan(
        rules=(FaultRule(kind, dialect="kraken", endpoint="Trades", first=1, count=2, rows=5),)
    )
    emu = emulator_factory(faults=plan, options=EmulatorOptions(kraken_trades_ns_field=True))
    start, end = JAN1, JAN1 + 8 * H
    pages = list(_kraken(emu, trades_count=60).fetch_ohlcv("BTC", "USD", Timeframe.H1, start, end))
    _tiles(pages, start, end)
    got = [_dec(b) for p in pages for b in p.bars]
    assert got == [_dec(b) for b in _source(emu, "BTC", start, end) if not is_no_trade(b)]
    assert any(r.fault == kind.value for r in _served(emu, "kraken"))


def test_coinapi_duplicated_and_shuffled_rows_are_passed_on(emulator_factory: Factory) -> None:
    plan = FaultPlan(
        rules=(
            FaultRule(FaultKind.DUPLICATE, dialect="coinapi", first=0, count=1, rows=3),
            FaultRule(FaultKind.OUT_OF_ORDER, dialect="coinapi", first=1, count=1),
        )
    )
    emu = emulator_factory(faults=plan, options=EmulatorOptions(coinapi_api_key=KEY))
    end = JAN1 + 120 * H
    pages = list(_coinapi(emu, page_limit=50).fetch_ohlcv("SOL", "USD", Timeframe.H1, JAN1, end))
    _tiles(pages, JAN1, end)
    got = [b for p in pages for b in p.bars]
    expected = {b.open_time_ns for b in _source(emu, "SOL", JAN1, end) if not is_no_trade(b)}
    assert {b.open_time_ns for b in got} == expected
    assert len(got) > len(expected)  # duplicates are the store's to dedupe, not dropped here
    assert [b.open_time_ns for b in pages[1].bars] != sorted(b.open_time_ns for b in pages[1].bars)


def test_timeout_is_retried(emulator_factory: Factory) -> None:
    plan = FaultPlan(rules=(FaultRule(FaultKind.DELAY, dialect="coinapi", delay_s=1.0),))
    emu = emulator_factory(faults=plan, options=EmulatorOptions(coinapi_api_key=KEY))
    policy = ReadPolicy(timeout_s=0.3, rate_per_s=50, burst=10, backoff_base_s=0.1)
    provider = CoinApiProvider(
        emu.base_url("coinapi"), Secret(KEY), clock=emu.clock, seed=3, policy=policy
    )
    [page] = list(provider.fetch_ohlcv("BTC", "USD", Timeframe.H1, JAN1, JAN1 + 5 * H))
    assert [b.open_time_ns for b in page.bars] == [
        b.open_time_ns for b in _source(emu, "BTC", JAN1, JAN1 + 5 * H) if not is_no_trade(b)
    ]
    assert provider.http.requests_sent == 2  # the slow one timed out and was sent again
