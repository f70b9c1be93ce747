"""Value types: exact numbers, instruments, money, timeframes and bars."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import (
    NS_PER_SECOND,
    Bar,
    Instrument,
    Money,
    Quantity,
    QuoteCurrency,
    Timeframe,
    ns_to_datetime,
    reasons,
    to_decimal,
)
from quant_core.errors import ValidationError

BTC_USD = Instrument("BTC", QuoteCurrency.USD)
HOUR = Timeframe.H1.ns
T0 = 1_704_067_200 * NS_PER_SECOND  # 2024-01-01T00:00:00Z, on every grid up to a day


@pytest.mark.parametrize("bad", [0.1, True, None, "abc", "NaN", "Infinity", [1]])
def test_to_decimal_refuses_inexact_or_non_numbers(bad: Any) -> None:
    with pytest.raises(ValidationError) as info:
        to_decimal(bad)
    assert info.value.reason_code == reasons.INVALID_INPUT


def test_to_decimal_keeps_digits() -> None:
    assert to_decimal("0.10") == Decimal("0.10")
    assert str(to_decimal("0.10")) == "0.10"
    assert to_decimal(3) == Decimal(3)


@pytest.mark.parametrize("base", ["btc", "", "B-T", "X" * 17])
def test_instrument_base_must_be_an_asset_code(base: str) -> None:
    with pytest.raises(ValidationError):
        Instrument(base, QuoteCurrency.USD)


def test_instrument_quote_converts_and_validates() -> None:
    assert Instrument("ETH", "USDC").quote is QuoteCurrency.USDC
    with pytest.raises(ValueError, match="EUR"):
        Instrument("ETH", "EUR")
    assert str(Instrument("ETH", QuoteCurrency.CAD)) == "ETH/CAD"


def test_instruments_are_frozen_and_ordered() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        BTC_USD.base = "ETH"  # type: ignore[misc]
    assert sorted([Instrument("ETH", "USD"), BTC_USD]) == [BTC_USD, Instrument("ETH", "USD")]


def test_money_arithmetic_stays_in_one_currency() -> None:
    a = Money("10.5", QuoteCurrency.USD)
    b = Money("0.25", QuoteCurrency.USD)
    assert (a + b).amount == Decimal("10.75")
    assert (a - b).amount == Decimal("10.25")
    assert str(a) == "10.5 USD"
    with pytest.raises(ValidationError):
        _ = a + Money(1, QuoteCurrency.CAD)


def test_quantities_stay_in_one_asset() -> None:
    a = Quantity("0.5", "BTC")
    b = Quantity("0.125", "BTC")
    assert (a + b) == Quantity("0.625", "BTC")
    assert (a - b).amount == Decimal("0.375")
    assert str(a) == "0.5 BTC"
    with pytest.raises(ValidationError, match="BTC with ETH"):
        _ = a + Quantity(1, "ETH")
    with pytest.raises(ValidationError, match="USD with BTC"):
        _ = Money(1, QuoteCurrency.USD) + a  # type: ignore[operator]
    with pytest.raises(ValidationError):
        Quantity(1, "btc")
    with pytest.raises(ValidationError):
        Quantity(0.5, "BTC")  # type: ignore[arg-type]


@settings(max_examples=100, deadline=None)
@given(
    st.decimals(min_value=-(10**12), max_value=10**12, places=8),
    st.decimals(min_value=-(10**12), max_value=10**12, places=8),
)
def test_amount_arithmetic_is_exact(x: Decimal, y: Decimal) -> None:
    total = Quantity(x, "ETH") + Quantity(y, "ETH")
    assert total.amount == x + y
    assert (total - Quantity(y, "ETH")).amount == x


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(list(Timeframe)), st.integers(min_value=0, max_value=2**62))
def test_floor_finds_the_containing_bar(tf: Timeframe, ts: int) -> None:
    start = tf.floor(ts)
    assert start <= ts < start + tf.ns
    assert tf.is_aligned(start)
    assert tf.ns == tf.seconds * NS_PER_SECOND


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=10 * 7 * 86_400 * NS_PER_SECOND, max_value=2**61))
def test_weekly_bars_open_on_monday_midnight_utc(ts: int) -> None:
    opened = ns_to_datetime(Timeframe.W1.floor(ts))
    assert opened.weekday() == 0
    assert opened.time() == dt.time(0, 0)


def _bar(**overrides: Any) -> Bar:
    fields: dict[str, Any] = {
        "instrument": BTC_USD,
        "timeframe": Timeframe.H1,
        "open_time_ns": T0,
        "open": "100",
        "high": "110",
        "low": "95",
        "close": "105",
        "volume": "3.5",
        "trades": 12,
    }
    fields.update(overrides)
    return Bar(**fields)


def test_a_valid_bar() -> None:
    bar = _bar()
    assert bar.close_time_ns == T0 + HOUR
    assert bar.opened == "2024-01-01T00:00:00Z"
    assert bar.high == Decimal("110")


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"open": "0"}, reasons.BAR_INVALID),
        ({"low": "-1"}, reasons.BAR_INVALID),
        ({"high": "104"}, reasons.BAR_INVALID),
        ({"low": "101"}, reasons.BAR_INVALID),
        ({"volume": "-0.1"}, reasons.BAR_INVALID),
        ({"trades": -1}, reasons.BAR_INVALID),
        ({"open_time_ns": T0 + 1}, reasons.TIMESTAMP_INVALID),
        ({"open_time_ns": -HOUR}, reasons.TIMESTAMP_INVALID),
        ({"close": 105.0}, reasons.INVALID_INPUT),
    ],
)
def test_invalid_bars_are_refused(overrides: dict[str, Any], code: str) -> None:
    with pytest.raises(ValidationError) as info:
        _bar(**overrides)
    assert info.value.reason_code == code
