"""SyntheticMarket: determinism and the stylised facts of crypto returns."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

from quant_core import Timeframe, iso_to_ns
from quant_core.errors import ValidationError
from quant_data import SyntheticMarket
from quant_data._synthetic import SlotKind, price_decimals

START = iso_to_ns("2024-01-01T00:00:00Z")


def _market(seed: int = 11, days: int = 120, **kw: object) -> SyntheticMarket:
    return SyntheticMarket(
        seed=seed,
        symbols=kw.pop("symbols", ("BTC", "ETH", "SOL")),  # type: ignore[arg-type]
        start_ns=START,
        end_ns=START + days * 86_400 * 10**9,
        timeframe=Timeframe.H1,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def market() -> SyntheticMarket:
    return _market()


def _log_returns(market: SyntheticMarket, symbol: str) -> dict[int, float]:
    """Close-to-close log return per slot, for slots where both bars exist."""
    closes = {s.open_time_ns: float(s.bar.close) for s in market.slots(symbol) if s.bar is not None}
    step = market.timeframe.ns
    return {t: float(np.log(c / closes[t - step])) for t, c in closes.items() if t - step in closes}


def test_same_seed_same_bars_different_seed_different(market: SyntheticMarket) -> None:
    again = _market()
    assert again.content_hash() == market.content_hash()
    assert again.bars("ETH") == market.bars("ETH")
    assert _market(seed=12).content_hash() != market.content_hash()


def test_hash_is_identical_in_another_process_with_another_hash_seed(
    market: SyntheticMarket,
) -> None:
    code = (
        "from quant_core import Timeframe, iso_to_ns\n"
        "from quant_data._synthetic import SyntheticMarket\n"
        "s = iso_to_ns('2024-01-01T00:00:00Z')\n"
        "m = SyntheticMarket(seed=11, symbols=('BTC', 'ETH', 'SOL'), start_ns=s,\n"
        "                    end_ns=s + 120 * 86400 * 10**9, timeframe=Timeframe.H1)\n"
        "print(m.content_hash())\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.strip() == market.content_hash()


def test_adding_a_symbol_keeps_the_others_idiosyncratic_streams() -> None:
    # The market factor is shared, so BTC's path is unchanged by adding another symbol.
    a = _market(days=10, symbols=("BTC", "ETH"))
    b = _market(days=10, symbols=("BTC", "ETH", "XRP"))
    assert a.bars("BTC") == b.bars("BTC")
    assert a.bars("ETH") == b.bars("ETH")


def test_heavy_tails(market: SyntheticMarket) -> None:
    r = np.array(list(_log_returns(market, "BTC").values()))
    r = r[r != 0]  # no-trade slots repeat the close
    kurtosis = float(np.mean((r - r.mean()) ** 4) / np.var(r) ** 2)
    assert kurtosis > 3.0


def test_volatility_clusters(market: SyntheticMarket) -> None:
    r = np.array(list(_log_returns(market, "ETH").values()))

    def autocorr(x: np.ndarray) -> float:
        return float(np.corrcoef(x[:-1], x[1:])[0, 1])

    assert autocorr(np.abs(r)) > autocorr(r)
    assert autocorr(np.abs(r)) > 0.05


def test_cross_asset_correlation_is_positive(market: SyntheticMarket) -> None:
    btc, sol = _log_returns(market, "BTC"), _log_returns(market, "SOL")
    common = sorted(set(btc) & set(sol))
    corr = float(np.corrcoef([btc[t] for t in common], [sol[t] for t in common])[0, 1])
    assert corr > 0.3


def test_volume_rises_with_absolute_return(market: SyntheticMarket) -> None:
    bars = market.bars("BTC")
    moves = np.array([abs(float(b.close / b.open) - 1) for b in bars])
    volume = np.array([float(b.volume) for b in bars])
    assert float(np.corrcoef(moves, volume)[0, 1]) > 0.2


def test_slots_cover_the_grid_with_gaps_of_both_kinds(market: SyntheticMarket) -> None:
    slots = market.slots("SOL")
    assert len(slots) == market.slot_count == 120 * 24
    assert [s.open_time_ns for s in slots] == [
        START + i * Timeframe.H1.ns for i in range(len(slots))
    ]
    kinds = {s.kind for s in slots}
    assert kinds == {SlotKind.TRADED, SlotKind.NO_TRADE, SlotKind.MISSING}
    for prev, slot in itertools.pairwise(slots):
        if slot.kind == SlotKind.NO_TRADE and prev.bar is not None:
            bar = slot.bar
            assert bar is not None
            assert bar.volume == 0
            assert bar.trades == 0
            assert bar.open == bar.high == bar.low == bar.close == prev.bar.close
        if slot.kind == SlotKind.MISSING:
            assert slot.bar is None
    traded = market.bars("SOL")
    with_empty = market.bars("SOL", include_no_trade=True)
    assert len(traded) < len(with_empty) < len(slots)


def test_bars_are_continuous_and_source_bars_mirror_them(market: SyntheticMarket) -> None:
    bars = market.bars("ETH", include_no_trade=True)
    for a, b in itertools.pairwise(bars):
        if b.open_time_ns - a.open_time_ns == Timeframe.H1.ns:
            assert b.open == a.close
    sbars = market.source_bars("ETH", source="emu")
    assert len(sbars) == len(bars)
    assert {sb.source for sb in sbars} == {"emu"}
    assert [(sb.open_time_ns, sb.close) for sb in sbars] == [
        (b.open_time_ns, str(b.close)) for b in bars
    ]


def test_tiny_prices_keep_precision() -> None:
    m = _market(days=3, symbols=("SHIB", "BTC"))
    bar = m.bars("SHIB")[0]
    assert bar.close > 0
    exponent = bar.close.as_tuple().exponent
    assert isinstance(exponent, int)
    assert -exponent >= 9
    assert price_decimals(float("nan")) == 8


def test_unknown_symbols_get_a_seeded_price_and_repr_is_informative() -> None:
    m = _market(days=2, symbols=("ZZZ",))
    assert m.bars("ZZZ")
    assert "ZZZ" in repr(m)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"days": 0}, "empty window"),
        ({"symbols": ()}, "non-empty"),
        ({"symbols": ("BTC", "BTC")}, "distinct"),
        ({"quote": "EUR"}, "quote"),
        ({"no_trade_rate": 0.9}, "rate"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs: dict[str, object], fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment) as info:
        _market(**kwargs)  # type: ignore[arg-type]
    assert info.value.reason_code == "SYNTHETIC_INVALID"


def test_unknown_symbol_lookup_is_rejected(market: SyntheticMarket) -> None:
    with pytest.raises(ValidationError, match="not in this synthetic market"):
        market.slots("DOGE")
