"""Fees, slippage, venue rules and clusters: pure data and arithmetic, checked by hand."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from quant_core import Instrument
from quant_exec import reasons
from quant_exec.errors import ExecConfigError
from quant_exec.orders import Liquidity, Side
from quant_exec.risk import DEFAULT_CLUSTERS, ClusterMap
from quant_exec.venues import (
    KRAKEN_SPOT_FEES,
    KRAKEN_SPOT_RULES,
    FeeSchedule,
    FeeTier,
    SlippageModel,
    VenueRulebook,
    VenueRules,
)

D = Decimal


@pytest.mark.parametrize(
    ("volume", "maker", "taker"),
    [
        ("0", "0.25", "0.40"),
        ("9999.99", "0.25", "0.40"),
        ("10000", "0.20", "0.35"),
        ("50000", "0.14", "0.24"),
        ("250000", "0.10", "0.20"),
        ("9999999", "0.02", "0.12"),
        ("10000000", "0.00", "0.10"),
        ("1e12", "0.00", "0.10"),
        ("-5", "0.25", "0.40"),
    ],
)
def test_kraken_tiers(volume: str, maker: str, taker: str) -> None:
    assert KRAKEN_SPOT_FEES.rate_pct(D(volume), Liquidity.MAKER) == D(maker)
    assert KRAKEN_SPOT_FEES.rate_pct(D(volume), Liquidity.TAKER) == D(taker)


def test_fee_rounds_up_to_the_quantum() -> None:
    # 0.40% of 12.3456 = 0.0493824 -> 0.0494
    assert KRAKEN_SPOT_FEES.fee(D("12.3456"), D(0), Liquidity.TAKER) == D("0.0494")
    assert KRAKEN_SPOT_FEES.fee(D("-1000"), D(0), Liquidity.MAKER) == D("2.5000")
    assert KRAKEN_SPOT_FEES.fee(D(1000), D(10**8), Liquidity.MAKER) == 0
    assert KRAKEN_SPOT_FEES.max_rate_pct() == D("0.40")


@pytest.mark.parametrize(
    "tiers",
    [
        (),
        (FeeTier(1, 0, 0),),
        (FeeTier(0, 0, 0), FeeTier(0, 0, 0)),
        (FeeTier(0, "-0.1", 0),),
        (FeeTier(0, 0, "-1"),),
    ],
)
def test_bad_schedules(tiers: tuple[FeeTier, ...]) -> None:
    with pytest.raises(ExecConfigError) as err:
        FeeSchedule(tiers)
    assert err.value.reason_code == reasons.FEE_SCHEDULE_INVALID


def test_bad_quantum() -> None:
    with pytest.raises(ExecConfigError):
        FeeSchedule((FeeTier(0, 0, 0),), fee_quantum="0")


def test_slippage_model() -> None:
    model = SlippageModel(base_bps=D(10), impact_bps=D(200), max_bps=D(100))
    assert model.slippage_bps(D(0), D(100)) == 10
    assert model.slippage_bps(D(10), D(100)) == 30  # 10 + 200 * 0.1
    assert model.slippage_bps(D(50), D(100)) == 100  # capped (10 + 100 = 110)
    assert model.slippage_bps(D(1), D(0)) == 100  # no volume: the whole bar
    assert model.fill_price(Side.BUY, D(200), D(10), D(100)) == D("200.6")
    assert model.fill_price(Side.SELL, D(200), D(10), D(100)) == D("199.4")
    assert model.worst_price(Side.BUY, D(200)) == D(202)
    assert model.worst_price(Side.SELL, D(200)) == D(198)
    for bad in ({"base_bps": D(-1)}, {"impact_bps": D(-1)}, {"max_bps": D(10_000)}):
        with pytest.raises(ExecConfigError):
            SlippageModel(**bad)


def test_venue_rules_and_rounding() -> None:
    rules = VenueRules(lot_size="0.01", tick_size="0.05", min_quantity="0.1", min_cost="1")
    assert rules.round_quantity(D("1.239")) == D("1.23")
    assert rules.round_price(D("10.01"), up=True) == D("10.05")
    assert rules.round_price(D("10.09"), up=False) == D("10.05")
    assert rules.is_lot_multiple(D("1.23"))
    assert not rules.is_lot_multiple(D("1.231"))
    assert rules.is_tick_multiple(D("10.10"))
    assert not rules.is_tick_multiple(D("10.11"))
    for bad in ({"lot_size": "0", "tick_size": "1"}, {"lot_size": "1", "tick_size": "-1"}):
        with pytest.raises(ExecConfigError):
            VenueRules(**bad)
    with pytest.raises(ExecConfigError):
        VenueRules(lot_size="1", tick_size="1", min_cost="-1")
    book = VenueRulebook({"BTC": rules})
    assert book.for_instrument(Instrument("BTC", "USD")) is rules
    assert book.for_instrument(Instrument("ETH", "USD")) is None
    fallback = VenueRulebook({}, default=rules)
    assert fallback.for_instrument(Instrument("ETH", "USD")) is rules


def test_kraken_rules_cover_the_v1_universe() -> None:
    from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE

    for member in UNIVERSE_V1_TOP30_NON_STABLE.members:
        rules = KRAKEN_SPOT_RULES.for_instrument(Instrument(member.symbol, "USD"))
        assert rules is not None, member.symbol
        assert rules.min_cost == D("0.5")
    btc = KRAKEN_SPOT_RULES.for_instrument(Instrument("BTC", "USD"))
    assert btc is not None
    # the AssetPairs sample: ordermin 0.00005, tick 0.1, lot_decimals 8
    assert (btc.min_quantity, btc.tick_size, btc.lot_size) == (D("0.00005"), D("0.1"), D("1e-8"))


def test_clusters() -> None:
    from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE

    for member in UNIVERSE_V1_TOP30_NON_STABLE.members:
        assert DEFAULT_CLUSTERS.cluster_of(member.symbol) != "other", member.symbol
    custom = ClusterMap.from_groups({"a": ("X", "Y"), "b": ("Z",)}, fallback="rest")
    assert custom.cluster_of("Y") == "a"
    assert custom.cluster_of("Q") == "rest"
    assert custom.members("a") == ("X", "Y")
    with pytest.raises(ExecConfigError) as err:
        ClusterMap.from_groups({"a": ("X",), "b": ("X",)})
    assert err.value.reason_code == reasons.CLUSTER_MAP_INVALID


def test_fee_schedule_and_btc_rules_match_the_kraken_asset_pairs_sample(shared_data: Path) -> None:
    sample = shared_data / "api-samples" / "kraken" / "nautilus__http_asset_pairs.json"
    pair = json.loads(sample.read_text())["result"]["XBTUSDT"]
    # Kraken sends percentages as JSON numbers; read them through their text, not as floats
    maker = [(D(str(v)), D(str(p))) for v, p in pair["fees_maker"]]
    taker = [(D(str(v)), D(str(p))) for v, p in pair["fees"]]
    assert [(t.min_volume, t.maker_pct) for t in KRAKEN_SPOT_FEES.tiers] == maker
    assert [(t.min_volume, t.taker_pct) for t in KRAKEN_SPOT_FEES.tiers] == taker
    btc = KRAKEN_SPOT_RULES.for_instrument(Instrument("BTC", "USD"))
    assert btc is not None
    assert btc.min_quantity == D(pair["ordermin"])
    assert btc.min_cost == D(pair["costmin"])
    assert btc.tick_size == D(pair["tick_size"])
    assert btc.lot_size == D(1).scaleb(-pair["lot_decimals"])
