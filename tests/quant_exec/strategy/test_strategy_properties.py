"""Property test: whatever the prices and predictions, the engine keeps the books sound."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quant_core import Bar, Instrument
from quant_core.events import HorizonForecast, InMemoryFeed, Prediction
from quant_core.profiles import RiskProfile, StrategyProfile
from quant_exec import reasons
from quant_exec.session import BacktestConfig, run_backtest

BTC, ETH = Instrument("BTC", "USD"), Instrument("ETH", "USD")
H = 3_600 * 10**9
T0 = 1_704_067_200 * 10**9

probability = st.floats(0.0, 1.0).map(lambda p: round(p, 3))
step = st.tuples(
    st.integers(-15, 15),  # percent move of BTC
    st.integers(-15, 15),  # percent move of ETH
    probability,  # near-term p_up
    probability,  # downside bucket mass
    probability,  # outlook p_up
)


class Script:
    model_id = "sha256:prop"
    horizons_ns = (H, 24 * H)

    def __init__(self, steps: Sequence[tuple[int, int, float, float, float]]) -> None:
        self.steps = steps

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        _, _, up, down, outlook = self.steps[(as_of_ns - T0) // H - 1]
        rest = (1.0 - down) / 2
        near = HorizonForecast(H, up, (-0.01, 0.01), (down, rest, 1.0 - down - rest))
        far = HorizonForecast(24 * H, outlook)
        return tuple(
            Prediction(i, as_of_ns, as_of_ns, (near, far), self.model_id) for i in (BTC, ETH)
        )


def feed(steps: Sequence[tuple[int, int, float, float, float]]) -> InMemoryFeed:
    bars, prices = [], {BTC: Decimal(40_000), ETH: Decimal(2_000)}
    for i, (btc_move, eth_move, *_rest) in enumerate(steps):
        for instrument, move in ((BTC, btc_move), (ETH, eth_move)):
            old = prices[instrument]
            new = (old * (100 + move) / 100).quantize(Decimal("0.01"))
            prices[instrument] = new
            high, low = max(old, new), min(old, new)
            bars.append(Bar(instrument, "1h", T0 + i * H, old, high, low, new, "3"))
    return InMemoryFeed(bars)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, min_size=2, max_size=40),
    persistence=st.integers(1, 4),
    size=st.sampled_from(["5", "20", "60"]),
    positions=st.integers(1, 2),
)
def test_cash_and_holdings_never_go_negative(
    steps: list[tuple[int, int, float, float, float]], persistence: int, size: str, positions: int
) -> None:
    config = BacktestConfig.from_profiles(
        StrategyProfile(persistence=persistence, position_size_pct=Decimal(size)),
        RiskProfile(max_concurrent_positions=positions),
    )
    result = run_backtest(feed(steps), Script(steps), config)
    cash, held = Decimal(10_000), {"BTC/USD": Decimal(0), "ETH/USD": Decimal(0)}
    for fill in result.fills:
        sign = 1 if fill.side == "buy" else -1
        cash -= sign * fill.price * fill.quantity + fill.fee
        held[fill.instrument] += sign * fill.quantity
        assert cash >= 0  # no leverage, no margin
        assert held[fill.instrument] >= 0  # no shorting
        assert sum(1 for q in held.values() if q > 0) <= positions
    assert len(result.log) == 2 * len(steps)  # every bar of both instruments is logged
    for record in result.log.records:
        if record.action == "rejected":
            assert record.order_id is None
            assert record.reason_codes[1] != reasons.ORDER_PENDING
    assert run_backtest(feed(steps), Script(steps), config).log_hash == result.log_hash
