"""trades_to_bars: hand-computed cases, a naive reference, and the real Kraken trades sample."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quant_core import Timeframe
from quant_core.errors import ValidationError
from quant_data import SourceBar, Trade, trades_to_bars

NS = 1_000_000_000
H = 3_600 * NS


def _bars(trades: list[Trade], tf: Timeframe = Timeframe.H1) -> tuple[SourceBar, ...]:
    return trades_to_bars(trades, source="kraken", symbol="BTC", quote="USD", timeframe=tf)


def test_hand_computed_two_slots_out_of_order() -> None:
    trades = [
        Trade(H + 10 * NS, "101.0", "0.5"),
        Trade(10 * NS, "100.00", "1.0"),
        Trade(20 * NS, "99.5", "0.25"),
        Trade(30 * NS, "100.75", "0.125"),
        Trade(H + 5 * NS, "102", "2"),
    ]
    first, second = _bars(trades)
    assert first.open_time_ns == 0
    assert (first.open, first.high, first.low, first.close) == (
        "100.00",
        "100.75",
        "99.5",
        "100.75",
    )
    assert first.volume == "1.375"
    assert first.trades == 3
    assert second.open_time_ns == H
    assert (second.open, second.high, second.low, second.close) == ("102", "102", "101.0", "101.0")
    assert second.volume == "2.5"
    assert second.trades == 2
    assert first.key == ("kraken", "BTC", "USD", "1h", 0)


def test_empty_slot_is_not_invented() -> None:
    bars = _bars([Trade(0, "1", "1"), Trade(3 * H, "2", "1")])
    assert [b.open_time_ns for b in bars] == [0, 3 * H]


def test_equal_times_keep_input_order() -> None:
    bars = _bars([Trade(5, "3", "1"), Trade(5, "1", "1"), Trade(5, "2", "1")])
    assert (bars[0].open, bars[0].close) == ("3", "2")


def test_zero_volume_keeps_plain_decimal_text() -> None:
    [bar] = _bars([Trade(0, "1", "0.00000000"), Trade(1, "1", "0E-8")])
    assert bar.volume == "0E-8".replace("0E-8", "0.00000000")
    assert "E" not in bar.volume


@pytest.mark.parametrize(
    ("time_ns", "price", "volume"),
    [
        (-1, "1", "1"),
        (0, "NaN", "1"),
        (0, "abc", "1"),
        (0, "0", "1"),
        (0, "-1", "1"),
        (0, "1", "-0.1"),
        (0, "1", "Infinity"),
        (True, "1", "1"),
        (1.5, "1", "1"),
    ],
)
def test_invalid_trade_rejected(time_ns: object, price: str, volume: str) -> None:
    with pytest.raises(ValidationError) as info:
        Trade(time_ns, price, volume)  # type: ignore[arg-type]
    assert info.value.reason_code == "TRADE_INVALID"


def _naive(trades: list[Trade], tf: Timeframe) -> dict[int, tuple[Decimal, ...]]:
    """Reference: group per slot with a dict, independent of the sorted single pass."""
    groups: dict[int, list[tuple[int, int, Trade]]] = {}
    for idx, t in enumerate(trades):
        slot = t.time_ns - t.time_ns % tf.ns
        groups.setdefault(slot, []).append((t.time_ns, idx, t))
    out: dict[int, tuple[Decimal, ...]] = {}
    for slot, rows in groups.items():
        rows.sort(key=lambda r: (r[0], r[1]))
        prices = [Decimal(r[2].price) for r in rows]
        out[slot] = (
            prices[0],
            max(prices),
            min(prices),
            prices[-1],
            sum((Decimal(r[2].volume) for r in rows), Decimal(0)),
            Decimal(len(rows)),
        )
    return out


prices = st.decimals(min_value="0.01", max_value="100000", places=2).map(str)
volumes = st.decimals(min_value="0", max_value="1000", places=8).map(str)
trade_st = st.builds(Trade, st.integers(0, 10 * H), prices, volumes)


@given(st.lists(trade_st, max_size=60))
def test_matches_naive_reference(trades: list[Trade]) -> None:
    bars = _bars(trades)
    ref = _naive(trades, Timeframe.H1)
    assert [b.open_time_ns for b in bars] == sorted(ref)
    for b in bars:
        prices = [Decimal(x) for x in (b.open, b.high, b.low, b.close, b.volume)]
        got = (*prices, Decimal(b.trades or 0))
        assert got == ref[b.open_time_ns]


def test_real_kraken_trades_sample(shared_data: Path) -> None:
    path = shared_data / "api-samples/kraken/nautilus__http_trades.json"
    rows = json.loads(path.read_text())["result"]["XBTUSDT"]
    trades = [Trade(int(Decimal(repr(r[2])) * NS), r[0], r[1]) for r in rows]
    bars = _bars(trades, Timeframe.M1)
    assert sum(b.trades or 0 for b in bars) == len(rows) == 1000
    total = sum((Decimal(r[1]) for r in rows), Decimal(0))
    assert sum((Decimal(b.volume) for b in bars), Decimal(0)) == total
    for b in bars:
        assert Decimal(b.low) <= min(Decimal(b.open), Decimal(b.close))
        assert Decimal(b.high) >= max(Decimal(b.open), Decimal(b.close))
        assert Timeframe.M1.is_aligned(b.open_time_ns)
    assert bars[0].open == rows[0][0]
    assert bars[-1].close == rows[-1][0]
