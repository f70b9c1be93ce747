"""The CoinAPI dialect: sample shapes, time-window paging, auth, errors and rate headers."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from quant_core import Timeframe, iso_to_ns
from quant_data.emulator import Emulator, EmulatorOptions
from quant_data.emulator._coinapi import iso7

from ._shapes import same_shape

KEY = {"X-CoinAPI-Key": "test-key"}
HISTORY = "/v1/ohlcv/KRAKEN_SPOT_SOL_USD/history"


def _sample(shared_data: Path, name: str) -> Any:
    return json.loads((shared_data / "api-samples" / "coinapi" / name).read_text())


def _get(emu: Emulator, path: str = HISTORY, headers: dict[str, str] | None = None,
         **params: Any) -> httpx.Response:  # fmt: skip
    return httpx.get(
        emu.base_url("coinapi") + path,
        params=params,
        headers=KEY if headers is None else headers,
        timeout=10,
    )


def test_item_shape_matches_the_openapi_example(
    emulator_factory: Callable[..., Emulator], shared_data: Path
) -> None:
    emu = emulator_factory()
    r = _get(emu, period_id="1HRS", time_start="2024-01-02T00:00:00", limit=5)
    assert r.status_code == 200
    items = r.json()
    assert len(items) == 5
    sample = _sample(shared_data, "openapi_example__ohlcv_history_1DAY.json")
    assert same_shape(items, sample) == []
    assert items[0]["time_period_start"] == "2024-01-02T00:00:00.0000000Z"
    assert items[0]["time_period_end"] == "2024-01-02T01:00:00.0000000Z"
    # Prices are JSON numbers with the source's exact digits.
    bar = emu.book.series("SOL", "USD", Timeframe.H1)[24]
    raw = r.text
    assert f'"price_close": {bar.close}' in raw


def test_time_window_paging_is_complete_and_omits_no_trade_periods(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory()
    start, end = "2024-01-03T00:00:00Z", "2024-01-13T00:00:00Z"
    got: list[dict[str, Any]] = []
    cursor = start
    requests = 0
    while True:
        page = _get(emu, period_id="1HRS", time_start=cursor, time_end=end, limit=100).json()
        requests += 1
        got.extend(page)
        if len(page) < 100:
            break
        cursor = page[-1]["time_period_end"]
    expected = [
        b for b in emu.book.window("SOL", "USD", Timeframe.H1, iso_to_ns(start), iso_to_ns(end))
        if b.trades
    ]  # fmt: skip
    assert [iso_to_ns(i["time_period_start"]) for i in got] == [b.open_time_ns for b in expected]
    assert len(expected) < 240  # the synthetic series has no-trade and missing hours
    assert requests == len(expected) // 100 + 1
    assert all(Decimal(str(i["volume_traded"])) > 0 for i in got)
    # time_end is exclusive
    assert iso_to_ns(got[-1]["time_period_start"]) < iso_to_ns(end)


def test_include_empty_items_shows_no_trade_periods_with_nulls(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory()
    params: dict[str, Any] = {"period_id": "1HRS", "time_start": "2024-01-03T00:00:00Z",
              "time_end": "2024-01-20T00:00:00Z", "limit": 1000}  # fmt: skip
    plain = _get(emu, **params).json()
    full = _get(emu, include_empty_items="true", **params).json()
    empty = [i for i in full if i["trades_count"] == 0]
    assert empty
    assert len(full) == len(plain) + len(empty)
    assert all(i["price_close"] is None and i["time_open"] is None for i in empty)


def test_only_closed_periods_and_unaligned_start(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory()
    items = _get(emu, period_id="1HRS", time_start="2024-01-31T09:30:00Z", limit=50).json()
    starts = [iso_to_ns(i["time_period_start"]) for i in items]
    assert starts[0] >= iso_to_ns("2024-01-31T10:00:00Z")
    assert max(iso_to_ns(i["time_period_end"]) for i in items) <= emu.now_ns()
    daily = _get(emu, period_id="1DAY", time_start="2024-01-01T00:00:00Z").json()
    assert len(daily) == 30  # Jan 31 has not closed at 12:30


def test_rate_limit_headers_and_cost(emulator_factory: Callable[..., Emulator]) -> None:
    emu = emulator_factory()
    r1 = _get(emu, period_id="1HRS", time_start="2024-01-02T00:00:00Z", limit=250)
    assert r1.headers["X-RateLimit-Request-Cost"] == "3"
    r2 = _get(emu, period_id="1HRS", time_start="2024-01-02T00:00:00Z", limit=1)
    assert r2.headers["X-RateLimit-Used"] == "4"
    assert int(r2.headers["X-RateLimit-Remaining"]) == int(r2.headers["X-RateLimit-Limit"]) - 4
    for name in ("X-ConcurrencyLimit-Limit", "X-ConcurrencyLimit-Remaining", "X-RateLimit-Reset"):
        assert name.lower() in r2.headers
    assert r2.headers["X-RateLimit-Reset"] == iso7(emu.now_ns() + 86_400 * 10**9)


def test_quota_exhaustion_gives_429_with_retry_after(
    emulator_factory: Callable[..., Emulator],
) -> None:
    emu = emulator_factory(options=EmulatorOptions(coinapi_quota=2))
    ok = [_get(emu, period_id="1HRS", time_start="2024-01-02T00:00:00Z").status_code
          for _ in range(2)]  # fmt: skip
    assert ok == [200, 200]
    r = _get(emu, period_id="1HRS", time_start="2024-01-02T00:00:00Z")
    assert r.status_code == 429
    assert int(r.headers["Retry-After"]) > 0


def test_auth(emulator_factory: Callable[..., Emulator], shared_data: Path) -> None:
    emu = emulator_factory(options=EmulatorOptions(coinapi_api_key="right"))
    params: dict[str, Any] = {"period_id": "1HRS", "time_start": "2024-01-02T00:00:00Z"}
    missing = _get(emu, headers={}, **params)
    wrong = _get(emu, headers={"X-CoinAPI-Key": "wrong"}, **params)
    for r in (missing, wrong):
        assert r.status_code == 401
        assert r.json() == _sample(shared_data, "docs__error_401_invalid_api_key.json")
    assert _get(emu, headers={"X-CoinAPI-Key": "right"}, **params).status_code == 200
    assert _get(emu, headers={}, apikey="right", **params).status_code == 200


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        (
            "/v1/ohlcv/KRAKEN_SPOT_DOGE_USD/history",
            {"period_id": "1HRS", "time_start": "2024-01-02"},
            550,
        ),
        (
            "/v1/ohlcv/BINANCE_SPOT_BTC_USD/history",
            {"period_id": "1HRS", "time_start": "2024-01-02"},
            550,
        ),
        (HISTORY, {"period_id": "2MIN", "time_start": "2024-01-02T00:00:00Z"}, 400),
        (HISTORY, {"period_id": "1HRS"}, 400),
        (HISTORY, {"period_id": "1HRS", "time_start": "not a time"}, 400),
        (HISTORY, {"period_id": "1HRS", "time_start": "2024-01-02T00:00:00Z", "limit": 0}, 400),
        ("/v1/exchangerate/BTC", {}, 404),
    ],
)
def test_errors(
    emulator_factory: Callable[..., Emulator],
    shared_data: Path,
    path: str,
    params: dict[str, Any],
    status: int,
) -> None:
    emu = emulator_factory()
    r = _get(emu, path, **params)
    assert r.status_code == status
    assert isinstance(r.json()["error"], str)
    if status == 550:
        assert r.json() == _sample(shared_data, "observed__error_550_no_data.json")
