"""The severe-loss rule re-evaluated on every prediction, and its bounded hold (decision 0117).

Every expectation is derived from the profile's own parameters and the definition of a
*weak* prediction (a new prediction in severe loss whose rebound probability is under
``severe_loss_min_rebound_probability``), never from outputs of the code under test.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quant_core import Instrument, SimClock
from quant_core import reasons as core_reasons
from quant_core.errors import ProfileError
from quant_core.events import HorizonForecast, Prediction
from quant_core.profiles import ProfileHistory, StrategyProfile, version_from_record
from quant_exec import reasons
from quant_exec.strategy import SELL, MarketContext, PositionView, StrategyState, decide

BTC = Instrument("BTC", "USD")
H = 3_600 * 10**9
LOT = Decimal("0.001")
COST = Decimal(100)
DEEP = Decimal(70)  # 30% under the cost: beyond every severe_loss_pct drawn below (<= 25)


def _pred(ts: int, rebound: float, near_down: float) -> Prediction:
    rest = 1.0 - near_down
    near = HorizonForecast(H, 0.5, (-0.01, 0.01), (near_down, rest / 2, rest / 2))
    return Prediction(BTC, ts, ts, (near, HorizonForecast(24 * H, rebound)), "sha256:t")


def _ctx(price: Decimal) -> MarketContext:
    return MarketContext(price, Decimal(10_000), Decimal(10_000), LOT)


def _profile(max_hold: int, persistence: int = 3) -> StrategyProfile:
    return StrategyProfile(
        severe_loss_pct=Decimal(20),
        severe_loss_max_weak_predictions=max_hold,
        persistence=persistence,
    )


def _neutral(profile: StrategyProfile) -> float:
    """A rebound probability strictly between the weak level and the hold level.

    With the governed defaults that band holds even odds: a model with no view.
    """
    return (
        float(profile.exit_max_rebound_probability + profile.severe_loss_min_rebound_probability)
        / 2
    )


def _strong(profile: StrategyProfile) -> float:
    return float(profile.severe_loss_min_rebound_probability) + 0.05


def _walk(
    profile: StrategyProfile,
    rebounds: list[float],
    *,
    near_down: float = 0.3,
    state: StrategyState | None = None,
    quantity: Decimal = Decimal(10),
    start: int = 1,
) -> tuple[list[str], StrategyState, Decimal]:
    """Feed one new prediction per rebound, applying every sell to the position."""
    state = state or StrategyState()
    seen = []
    for i, rebound in enumerate(rebounds, start=start):
        if quantity <= 0:
            break
        ev = decide(
            state,
            PositionView(quantity, COST),
            _ctx(DEEP),
            _pred(i * H, rebound, near_down),
            profile,
            new_bar=True,
        )
        seen.append(ev.reason_code)
        state = ev.state
        if ev.intent is not None:
            assert ev.intent.side == SELL
            quantity -= ev.intent.quantity
    return seen, state, quantity


@settings(max_examples=40, deadline=None)
@given(max_hold=st.integers(2, 60))
def test_neutral_forecasts_in_severe_loss_exit_within_the_bound(max_hold: int) -> None:
    profile = _profile(max_hold)
    # near-term downside under exit_min_negative: the negative outlook never persists
    seen, _, left = _walk(profile, [_neutral(profile)] * (max_hold + 10))
    assert left == 0
    # every prediction is weak: de-risk on the first, wait, exit on the max_hold-th
    assert len(seen) == max_hold
    assert seen[0] == reasons.SEVERE_LOSS_DERISK
    assert set(seen[1:-1]) <= {reasons.SEVERE_LOSS_WAIT}
    assert seen[-1] == reasons.SEVERE_LOSS_BOUNDED_EXIT


def test_a_bound_of_one_exits_on_the_first_weak_prediction() -> None:
    profile = _profile(1)
    seen, _, left = _walk(profile, [_neutral(profile)])
    assert seen == [reasons.SEVERE_LOSS_BOUNDED_EXIT]
    assert left == 0


@settings(max_examples=30, deadline=None)
@given(max_hold=st.integers(2, 20), extra=st.integers(1, 40))
def test_a_strong_rebound_forecast_keeps_holding_and_dropping_it_derisks(
    max_hold: int, extra: int
) -> None:
    profile = _profile(max_hold)
    holds = max_hold + extra  # longer than the bound: qualifying forecasts never count
    seen, state, left = _walk(profile, [_strong(profile)] * holds)
    assert seen == [reasons.SEVERE_LOSS_HOLD] * holds
    assert (left, state.weak_predictions, state.derisked) == (Decimal(10), 0, False)
    # the forecast drops: the very next prediction de-risks, and the bound then runs
    rest, _, after = _walk(
        profile, [_neutral(profile)] * (max_hold + 5), state=state, start=holds + 1
    )
    assert rest[0] == reasons.SEVERE_LOSS_DERISK
    assert rest[-1] == reasons.SEVERE_LOSS_BOUNDED_EXIT
    assert len(rest) == max_hold
    assert after == 0


def test_a_rebound_forecast_returning_mid_episode_holds_again_without_resetting_the_count() -> None:
    profile = _profile(6)
    neutral, strong = _neutral(profile), _strong(profile)
    seen, state, left = _walk(profile, [neutral, neutral, strong, strong, neutral])
    assert seen == [
        reasons.SEVERE_LOSS_DERISK,
        reasons.SEVERE_LOSS_WAIT,
        reasons.SEVERE_LOSS_HOLD,
        reasons.SEVERE_LOSS_HOLD,
        reasons.SEVERE_LOSS_WAIT,
    ]
    assert state.weak_predictions == 3  # the three neutral predictions
    more, _, gone = _walk(profile, [neutral] * 10, state=state, quantity=left, start=6)
    assert len(more) == 6 - 3
    assert more[-1] == reasons.SEVERE_LOSS_BOUNDED_EXIT
    assert gone == 0


def test_a_persistent_negative_outlook_exits_before_the_bound() -> None:
    profile = _profile(50, persistence=2)
    weak = float(profile.exit_max_rebound_probability) - 0.05
    down = float(profile.exit_min_negative_probability) + 0.05
    seen, _, left = _walk(profile, [weak] * 10, near_down=down)
    assert seen == [reasons.SEVERE_LOSS_DERISK, reasons.SEVERE_LOSS_EXIT]
    assert left == 0


def test_a_heartbeat_rereading_a_prediction_does_not_count() -> None:
    profile = _profile(2)
    first = _pred(H, _neutral(profile), 0.3)
    ev = decide(StrategyState(), PositionView(Decimal(10), COST), _ctx(DEEP), first, profile,
                new_bar=True)  # fmt: skip
    assert ev.state.weak_predictions == 1
    again = decide(ev.state, PositionView(Decimal(5), COST), _ctx(DEEP), first, profile,
                   new_bar=False)  # fmt: skip
    assert (again.state.weak_predictions, again.intent) == (1, None)
    assert again.reason_code == reasons.SEVERE_LOSS_WAIT


def test_leaving_the_severe_zone_or_closing_restarts_the_count() -> None:
    profile = _profile(5)
    _, state, left = _walk(profile, [_neutral(profile)] * 2)
    assert state.weak_predictions == 2
    assert state.derisked
    out = decide(state, PositionView(left, COST), _ctx(Decimal(95)), _pred(3 * H, 0.5, 0.3),
                 profile, new_bar=True)  # fmt: skip
    assert (out.state.weak_predictions, out.state.derisked) == (0, False)
    flat = decide(state, PositionView(), _ctx(DEEP), _pred(3 * H, 0.5, 0.3), profile,
                  new_bar=True)  # fmt: skip
    assert flat.state.weak_predictions == 0


def test_the_bound_is_a_governed_parameter() -> None:
    spec = StrategyProfile.SPECS["severe_loss_max_weak_predictions"]
    assert StrategyProfile().severe_loss_max_weak_predictions == spec.default
    for bad in (int(spec.minimum) - 1, int(spec.maximum) + 1):
        with pytest.raises(ProfileError) as err:
            StrategyProfile(severe_loss_max_weak_predictions=bad)
        assert err.value.reason_code == core_reasons.PROFILE_OUT_OF_BOUNDS


def test_a_profile_saved_before_the_bound_existed_loads_with_the_default() -> None:
    history = ProfileHistory.create(StrategyProfile(), author="ops", reason="x", clock=SimClock(0))
    record = history.active.to_record()
    del record["values"]["severe_loss_max_weak_predictions"]
    old = version_from_record(record, StrategyProfile)
    spec = StrategyProfile.SPECS["severe_loss_max_weak_predictions"]
    assert old.profile.severe_loss_max_weak_predictions == spec.default
