"""CoinAPI adapter against the real samples and a small in-test CoinAPI (MockTransport)."""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from quant_core import SimClock, Timeframe, iso_to_ns, ns_to_iso
from quant_core.settings import Secret
from quant_data import OhlcvProvider, ProviderUsageError
from quant_data.providers import CoinApiProvider, coinapi_symbol_id
from quant_net import ProviderError, ReadPolicy

Handler = Callable[[httpx.Request], httpx.Response]
H = 3_600 * 1_000_000_000
T0 = iso_to_ns("2024-01-01T00:00:00Z")
KEY = "coinapi-SECRET-key-42"


def _reply(status: int, body: bytes) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body)

    return handler


def _samples(shared_data: Path) -> Path:
    return shared_data / "api-samples" / "coinapi"


def _item(t: int, price: str = "100.5") -> dict[str, object]:
    iso = ns_to_iso(t).replace("Z", ".0000000Z")
    return {
        "time_period_start": iso,
        "time_period_end": ns_to_iso(t + H).replace("Z", ".0000000Z"),
        "time_open": iso,
        "time_close": iso,
        "price_open": price,
        "price_high": price,
        "price_low": price,
        "price_close": price,
        "volume_traded": "1.25",
        "trades_count": 3,
    }


def _fake(slots: list[int], log: list[httpx.Request], **extra_headers: str) -> Handler:
    """A CoinAPI history endpoint serving hourly items at ``slots`` (exclusive time_end)."""

    def handler(request: httpx.Request) -> httpx.Response:
        log.append(request)
        q = request.url.params
        start, end, limit = iso_to_ns(q["time_start"]), iso_to_ns(q["time_end"]), int(q["limit"])
        items = [_item(t) for t in slots if start <= t < end][:limit]
        body = json.dumps(items).replace('"100.5"', "100.5").replace('"1.25"', "1.25")
        return httpx.Response(200, content=body.encode(), headers=extra_headers)

    return handler


def _provider(handler: Handler, clock: SimClock | None = None, **kw: Any) -> CoinApiProvider:
    return CoinApiProvider(
        "http://coinapi.test/coinapi",
        kw.pop("api_key", Secret(KEY)),
        clock=clock or SimClock(T0 + 1000 * H),
        seed=5,
        transport=httpx.MockTransport(handler),
        **kw,
    )


def test_protocol_and_properties() -> None:
    p = _provider(lambda r: httpx.Response(200, content=b"[]"), page_limit=7)
    assert isinstance(p, OhlcvProvider)
    assert (p.name, p.page_limit, p.confirms_no_trade) == ("coinapi", 7, False)
    assert coinapi_symbol_id("eth", "cad", "BINANCE") == "BINANCE_SPOT_ETH_CAD"
    with pytest.raises(ProviderUsageError):
        _provider(lambda r: httpx.Response(200), page_limit=0)
    with pytest.raises(ProviderUsageError) as info:
        list(p.fetch_ohlcv("BTC", "USD", Timeframe.W1, T0, T0 + H))
    assert info.value.reason_code == "PROVIDER_TIMEFRAME_UNSUPPORTED"


def test_real_sample_parses_exact_decimal_text(shared_data: Path) -> None:
    body = (_samples(shared_data) / "openapi_example__ohlcv_history_1DAY.json").read_bytes()
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(200, content=body)

    start = iso_to_ns("2017-01-01T00:00:00Z")
    pages = list(
        _provider(handler).fetch_ohlcv("BTC", "USD", Timeframe.D1, start, start + 2 * 24 * H)
    )
    [page] = pages
    assert page.raw.payload == body  # exact bytes received
    assert page.raw.source == "coinapi"
    assert [b.open_time_ns for b in page.bars] == [start, start + 24 * H]
    first = page.bars[0]
    assert (first.open, first.high, first.low, first.close) == (
        "966.34",
        "1005.0",
        "960.53",
        "997.75",
    )
    assert first.volume == "6850.59330859"
    assert first.trades == 7815
    assert (first.symbol, first.quote, first.timeframe) == ("BTC", "USD", "1d")
    req = sent[0]
    assert req.url.path == "/coinapi/v1/ohlcv/KRAKEN_SPOT_BTC_USD/history"
    assert req.headers["X-CoinAPI-Key"] == KEY
    assert req.url.params["period_id"] == "1DAY"
    assert req.url.params["time_end"] == "2017-01-03T00:00:00Z"
    assert (page.window_start_ns, page.window_end_ns, page.next_start_ns) == (
        start,
        start + 48 * H,
        None,
    )


def test_paging_minimum_requests_and_exclusive_end() -> None:
    slots = [T0 + i * H for i in range(25) if i not in (5, 6)]  # two no-trade hours omitted
    log: list[httpx.Request] = []
    p = _provider(_fake(slots, log), page_limit=10)
    pages = list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + 25 * H))
    got = [b.open_time_ns for page in pages for b in page.bars]
    assert got == slots
    assert len(log) == 3  # 23 items / limit 10 -> ceil = 3 requests
    # windows tile [start, end) with no overlap and no hole
    assert pages[0].window_start_ns == T0
    for a, b in itertools.pairwise(pages):
        assert a.window_end_ns == b.window_start_ns == a.next_start_ns
    assert pages[-1].window_end_ns == T0 + 25 * H
    assert pages[-1].next_start_ns is None
    # page 2 starts at the end of the last item of page 1 (time_period_end)
    assert unquote(str(log[1].url.params["time_start"])) == ns_to_iso(slots[9] + H)
    # every item in a page lies inside that page's window
    for page in pages:
        assert all(page.window_start_ns <= b.open_time_ns < page.window_end_ns for b in page.bars)


def test_full_last_page_ending_at_end_needs_no_extra_request() -> None:
    slots = [T0 + i * H for i in range(20)]
    log: list[httpx.Request] = []
    pages = list(
        _provider(_fake(slots, log), page_limit=10).fetch_ohlcv(
            "BTC", "USD", Timeframe.H1, T0, T0 + 20 * H
        )
    )
    assert len(log) == 2
    assert pages[-1].next_start_ns is None


def test_empty_window_makes_no_request() -> None:
    log: list[httpx.Request] = []
    assert list(_provider(_fake([], log)).fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0)) == []
    assert log == []


def test_550_no_data_is_an_empty_page(shared_data: Path) -> None:
    body = (_samples(shared_data) / "observed__error_550_no_data.json").read_bytes()
    p = _provider(lambda r: httpx.Response(550, content=body))
    [page] = list(p.fetch_ohlcv("XRP", "CAD", Timeframe.H1, T0, T0 + 5 * H))
    assert page.bars == ()
    assert page.raw.status == 550
    assert page.raw.payload == body
    assert (page.window_start_ns, page.window_end_ns) == (T0, T0 + 5 * H)


@pytest.mark.parametrize(
    ("status", "sample", "code"),
    [
        (401, "docs__error_401_invalid_api_key.json", "PROVIDER_AUTH_FAILED"),
        (403, "observed__error_403_quota_exceeded.json", "PROVIDER_QUOTA_EXCEEDED"),
        (403, None, "PROVIDER_AUTH_FAILED"),
        (400, None, "PROVIDER_BAD_REQUEST"),
    ],
)
def test_fatal_errors_not_retried(
    shared_data: Path, status: int, sample: str | None, code: str
) -> None:
    body = (
        (_samples(shared_data) / sample).read_bytes()
        if sample
        else b'{"error": "Forbidden - not enough privileges"}'
    )
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(status, content=body)

    with pytest.raises(ProviderError) as info:
        list(_provider(handler).fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
    assert info.value.reason_code == code
    assert not info.value.retryable
    assert len(calls) == 1
    if sample == "docs__error_401_invalid_api_key.json":
        assert "Invalid API key" in str(info.value)


def test_429_retry_after_then_success_and_5xx_retry() -> None:
    clock = SimClock(T0 + 1000 * H)
    stamps: list[int] = []
    slots = [T0]

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(clock.now_ns())
        if len(stamps) == 1:
            return httpx.Response(
                429, headers={"Retry-After": "12"}, content=b'{"error":"Too many"}'
            )
        if len(stamps) == 2:
            return httpx.Response(503, content=b"<html>busy</html>")
        return _fake(slots, [])(request)

    [page] = list(_provider(handler, clock).fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
    assert len(stamps) == 3
    assert stamps[1] - stamps[0] >= 12 * 1_000_000_000
    assert [b.open_time_ns for b in page.bars] == [T0]


def test_retries_exhausted_reports_rate_limited() -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "1"})

    p = _provider(handler, policy=ReadPolicy(max_attempts=4))
    with pytest.raises(ProviderError) as info:
        list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
    assert (info.value.reason_code, len(calls)) == ("PROVIDER_RATE_LIMITED", 4)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"time_period_start": "2024-01-01T00:00:00.0000000Z", "price_op',
        b'{"a": 1}',
        b'[{"x": 1}]',
    ],
)
def test_malformed_body_retried_then_invalid(body: bytes) -> None:
    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(200, content=body)

    p = _provider(handler, policy=ReadPolicy(max_attempts=2))
    with pytest.raises(ProviderError) as info:
        list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
    assert info.value.reason_code == "PROVIDER_RESPONSE_INVALID"
    assert len(calls) == 2


def test_error_body_variants() -> None:
    for body in (b"not json", b'["x"]', b'{"title": "Forbidden"}'):
        with pytest.raises(ProviderError) as info:
            list(_provider(_reply(401, body)).fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
        assert info.value.reason_code == "PROVIDER_AUTH_FAILED"


def test_null_prices_kept_as_text_for_quarantine() -> None:
    item = _item(T0)
    item.update(
        price_open=None, price_high=None, price_low=None, price_close=None, trades_count=None
    )
    body = json.dumps([item]).encode()
    [page] = list(
        _provider(lambda r: httpx.Response(200, content=body)).fetch_ohlcv(
            "BTC", "USD", Timeframe.H1, T0, T0 + H
        )
    )
    [bar] = page.bars
    assert (bar.open, bar.close, bar.trades) == ("null", "null", None)


def test_quota_headers_pause_the_limiter(shared_data: Path) -> None:
    clock = SimClock(iso_to_ns("2022-01-11T19:00:00Z"))
    stamps: list[int] = []
    reset = "2022-01-11T19:02:51.0913704Z"

    def handler(request: httpx.Request) -> httpx.Response:
        stamps.append(clock.now_ns())
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": reset}
        return httpx.Response(200, content=b"[]", headers=headers)

    p = _provider(handler, clock, policy=ReadPolicy(rate_per_s=100, burst=10))
    for _ in range(2):
        list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
    assert stamps[1] >= iso_to_ns(reset)

    # overage enabled (the recorded negative remaining) or junk headers: no pause
    recorded = json.loads(
        (
            _samples(shared_data) / "chainlink-ea__recorded_exchangerate_BTC_EUR_with_headers.json"
        ).read_text()
    )["headers"]
    for headers in (recorded, {"X-RateLimit-Remaining": "x"}, {"X-RateLimit-Remaining": "0"}):
        stamps.clear()
        clock2 = SimClock(T0)

        def handler2(
            request: httpx.Request, h: dict[str, str] = headers, c: SimClock = clock2
        ) -> httpx.Response:
            stamps.append(c.now_ns())
            return httpx.Response(200, content=b"[]", headers=h)

        p2 = _provider(handler2, clock2, policy=ReadPolicy(rate_per_s=100, burst=10))
        for _ in range(2):
            list(p2.fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
        assert stamps[1] - stamps[0] < 1_000_000_000


def test_quota_reset_beyond_max_wait_fails_fast() -> None:
    clock = SimClock(T0)
    far = ns_to_iso(T0 + 24 * H)
    p = _provider(
        lambda r: httpx.Response(
            200, content=b"[]", headers={"X-RateLimit-Remaining": "-1", "X-RateLimit-Reset": far}
        ),
        clock,
    )
    with pytest.raises(ProviderError) as info:
        list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
    assert info.value.reason_code == "PROVIDER_QUOTA_EXCEEDED"


def test_key_never_in_logs_errors_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    body = json.dumps({"error": f"Invalid API key {KEY}"}).encode()
    p = _provider(lambda r: httpx.Response(401, content=body))
    with pytest.raises(ProviderError) as info:
        list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
    for text in (
        str(info.value),
        repr(info.value),
        caplog.text,
        repr(p),
        str(info.value.to_dict()),
    ):
        assert KEY not in text
    assert "X-CoinAPI-Key" in repr(p)


def test_keyless_sends_no_key_header() -> None:
    seen: list[httpx.Request] = []
    p = _provider(_fake([T0], seen), api_key=None)
    list(p.fetch_ohlcv("BTC", "USD", Timeframe.H1, T0, T0 + H))
    assert "X-CoinAPI-Key" not in seen[0].headers


def test_decimal_text_survives_exactly() -> None:
    body = (
        b'[{"time_period_start":"2024-01-01T00:00:00.0000000Z","price_open":0.1,'
        b'"price_high":0.30000000000000004,"price_low":1e-8,'
        b'"price_close":12345678901234567890.123456789,"volume_traded":0,"trades_count":0}]'
    )
    [page] = list(
        _provider(lambda r: httpx.Response(200, content=body)).fetch_ohlcv(
            "BTC", "USD", Timeframe.H1, T0, T0 + H
        )
    )
    bar = page.bars[0]
    assert bar.high == "0.30000000000000004"
    assert Decimal(bar.low) == Decimal("1e-8")
    assert bar.close == "12345678901234567890.123456789"
    assert bar.volume == "0"
