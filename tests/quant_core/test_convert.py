"""The project converter: strict structuring and round trips."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import (
    CONVERTER,
    Bar,
    Instrument,
    Money,
    QuoteCurrency,
    Timeframe,
    reasons,
    structure,
    unstructure,
)
from quant_core._values.convert import make_converter
from quant_core.errors import ValidationError
from quant_core.profiles import ExposureLimit, RiskProfile
from quant_core.settings import MASK, Secret

prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal(10**9), places=8)


@st.composite
def bars(draw: st.DrawFn) -> Bar:
    tf = draw(st.sampled_from(list(Timeframe)))
    low, high = sorted(draw(st.lists(prices, min_size=2, max_size=2)))
    open_, close = (draw(st.sampled_from([low, high])) for _ in range(2))
    return Bar(
        instrument=Instrument(draw(st.sampled_from(["BTC", "ETH", "SOL"])), QuoteCurrency.USD),
        timeframe=tf,
        open_time_ns=tf.floor(draw(st.integers(min_value=10**18, max_value=2 * 10**18))),
        open=open_,
        high=high,
        low=low,
        close=close,
        volume=draw(st.decimals(min_value=0, max_value=10**6, places=4)),
        trades=draw(st.none() | st.integers(min_value=0, max_value=10**6)),
    )


@settings(max_examples=100, deadline=None)
@given(bars())
def test_bar_round_trip(bar: Bar) -> None:
    data = unstructure(bar)
    assert isinstance(data["open"], str)
    assert structure(data, Bar) == bar


@settings(max_examples=50, deadline=None)
@given(st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=6))
def test_money_round_trip(amount: Decimal) -> None:
    money = Money(amount, QuoteCurrency.CAD)
    assert structure(unstructure(money), Money) == money


def test_profile_round_trip() -> None:
    profile = RiskProfile(max_total_exposure=ExposureLimit.absolute("25000"))
    assert structure(unstructure(profile), RiskProfile) == profile


def test_unknown_keys_are_refused_at_any_depth() -> None:
    with pytest.raises(ValidationError) as info:
        structure({"base": "BTC", "quote": "USD", "extra": 1}, Instrument)
    assert info.value.reason_code == reasons.UNKNOWN_KEY
    nested = unstructure(RiskProfile())
    nested["max_total_exposure"]["unit"] = "%"
    with pytest.raises(ValidationError) as info:
        structure(nested, RiskProfile)
    assert info.value.reason_code == reasons.UNKNOWN_KEY
    assert "'unit'" in info.value.message


def test_validator_errors_keep_their_reason() -> None:
    data = unstructure(
        Bar(Instrument("BTC", QuoteCurrency.USD), Timeframe.H1, 0, "1", "2", "1", "2", "1")
    )
    data["low"] = "3"
    with pytest.raises(ValidationError) as info:
        structure(data, Bar)
    assert info.value.reason_code == reasons.BAR_INVALID


def test_type_mismatches_are_invalid_input() -> None:
    with pytest.raises(ValidationError) as info:
        structure({"base": "BTC"}, Instrument)
    assert info.value.reason_code == reasons.INVALID_INPUT
    with pytest.raises(ValidationError) as info:
        structure({"max_concurrent_positions": "many"}, RiskProfile)
    assert info.value.reason_code == reasons.INVALID_INPUT


def test_secrets_never_unstructure() -> None:
    assert unstructure(Secret("hunter2")) == MASK
    assert structure("hunter2", Secret).reveal() == "hunter2"


def test_make_converter_builds_an_equivalent_converter() -> None:
    fresh = make_converter()
    bar = Bar(Instrument("ETH", QuoteCurrency.USD), Timeframe.D1, 0, "1", "1", "1", "1", "0")
    assert fresh.unstructure(bar) == CONVERTER.unstructure(bar)
