"""Scenario tests of the prediction-led strategy, one behaviour at a time.

Every expected outcome is derived by hand from the profile thresholds and the constructed
predictions, never from the code under test.
"""

from __future__ import annotations

import importlib
import sys
from decimal import Decimal
from pathlib import Path

import attrs
import pytest

from quant_core import Instrument
from quant_core.events import HorizonForecast, Prediction
from quant_core.profiles import StrategyProfile
from quant_exec import reasons
from quant_exec.strategy import (
    BUY,
    SELL,
    Evaluation,
    MarketContext,
    PositionView,
    StrategyState,
    decide,
    downside_probability,
)

BTC = Instrument("BTC", "USD")
H = 3_600 * 10**9
sys.path.insert(0, str(Path(__file__).resolve().parent))
SCENARIO_THRESHOLDS = importlib.import_module("_scenario").SCENARIO_THRESHOLDS
PROFILE = StrategyProfile(**SCENARIO_THRESHOLDS)
LOT = Decimal("0.001")


def pred(ts: int, near_up: float, far_up: float, near_down: float | None = None) -> Prediction:
    """A 4h + 1d prediction; ``near_down`` sets the mass of the below-zero bucket."""
    if near_down is None:
        near = HorizonForecast(4 * H, near_up)
    else:
        rest = 1.0 - near_down
        near = HorizonForecast(4 * H, near_up, (-0.01, 0.01), (near_down, rest / 2, rest / 2))
    return Prediction(
        BTC,
        ts_event=ts,
        ts_init=ts,
        forecasts=(near, HorizonForecast(24 * H, far_up)),
        model_id="sha256:test",
    )


def ctx(price: str, pv: str = "10000", cash: str = "10000", pending: bool = False) -> MarketContext:
    return MarketContext(Decimal(price), Decimal(pv), Decimal(cash), LOT, pending)


def run(
    state: StrategyState,
    position: PositionView,
    price: str,
    prediction: Prediction | None,
    profile: StrategyProfile = PROFILE,
    **kw: object,
) -> Evaluation:
    return decide(state, position, ctx(price, **kw), prediction, profile, new_bar=True)  # type: ignore[arg-type]


def feed_closes(closes: list[str]) -> StrategyState:
    state = StrategyState()
    for i, close in enumerate(closes):
        state = run(state, PositionView(), close, None).state
        assert state.closes[-1] == Decimal(close), i
    return state


# --- reading forecasts ----------------------------------------------------------------------


def test_downside_is_the_mass_of_buckets_wholly_below_zero() -> None:
    f = HorizonForecast(H, 0.5, (-0.05, -0.01, 0.0, 0.02), (0.1, 0.15, 0.2, 0.25, 0.3))
    p = Prediction(BTC, ts_event=0, ts_init=0, forecasts=(f,), model_id="m")
    assert downside_probability(p) == pytest.approx(0.1 + 0.15 + 0.2)
    assert downside_probability(pred(0, 0.7, 0.7)) == pytest.approx(0.3)  # direction only


# --- entry gating and entry -----------------------------------------------------------------


def test_no_prediction_means_no_action() -> None:
    ev = run(StrategyState(), PositionView(), "100", None)
    assert (ev.intent, ev.reason_code) == (None, reasons.NO_PREDICTION)


def test_entry_when_both_horizons_clear_the_thresholds() -> None:
    ev = run(StrategyState(), PositionView(), "100", pred(H, 0.62, 0.60, near_down=0.2))
    assert ev.reason_code == reasons.ENTRY
    assert ev.intent is not None
    assert ev.intent.side == BUY
    assert ev.intent.increases_risk
    # 10% of a 10,000 PV at 100 = 10 units.
    assert ev.intent.quantity == Decimal("10.000")


def test_entry_is_gated_when_near_term_downside_is_likely() -> None:
    # p_up 0.62 would enter, but 45% sits in the below-zero bucket (> 40% allowed).
    ev = run(StrategyState(), PositionView(), "100", pred(H, 0.62, 0.60, near_down=0.45))
    assert (ev.intent, ev.reason_code) == (None, reasons.ENTRY_GATED_DOWNSIDE)


def test_no_edge_below_the_entry_probability() -> None:
    ev = run(StrategyState(), PositionView(), "100", pred(H, 0.57, 0.70, near_down=0.1))
    assert (ev.intent, ev.reason_code) == (None, reasons.NO_EDGE)


def test_sensitivity_relaxes_only_the_outlook_requirement() -> None:
    # Outlook 0.53: below 0.58 (sensitivity 0 needs the full threshold), above even odds.
    prediction = pred(H, 0.62, 0.53, near_down=0.1)
    cautious = attrs.evolve(PROFILE, sensitivity=Decimal(0))
    eager = attrs.evolve(PROFILE, sensitivity=Decimal(1))
    assert run(StrategyState(), PositionView(), "100", prediction, cautious).intent is None
    assert run(StrategyState(), PositionView(), "100", prediction, eager).reason_code == (
        reasons.ENTRY
    )


def test_entry_size_is_capped_by_cash_and_too_small_is_no_order() -> None:
    ev = run(StrategyState(), PositionView(), "100", pred(H, 0.7, 0.7), cash="250")
    assert ev.intent is not None
    assert ev.intent.quantity == Decimal("2.500")
    ev = run(StrategyState(), PositionView(), "100", pred(H, 0.7, 0.7), cash="0")
    assert (ev.intent, ev.reason_code) == (None, reasons.INTENT_TOO_SMALL)
    ev = run(StrategyState(), PositionView(), "100", pred(H, 0.7, 0.7), cash="0.05")
    assert (ev.intent, ev.reason_code) == (None, reasons.INTENT_TOO_SMALL)
    assert ev.inputs["wanted"] == reasons.ENTRY


def test_pending_order_blocks_new_intents() -> None:
    ev = run(StrategyState(), PositionView(), "100", pred(H, 0.7, 0.7), pending=True)
    assert (ev.intent, ev.reason_code) == (None, reasons.ORDER_PENDING)


# --- dip-aware entry ------------------------------------------------------------------------


def test_dip_entry_fires_on_drop_and_predicted_recovery() -> None:
    state = feed_closes(["100", "101", "99", "97"])  # high 101; 97 is a 3.96% drop (>= 3%)
    # Near-term only mildly up (0.52: no plain entry), downside small, recovery 0.65 >= 0.6.
    ev = run(state, PositionView(), "97", pred(H, 0.52, 0.65, near_down=0.2))
    assert ev.reason_code == reasons.ENTRY_DIP
    assert ev.intent is not None
    assert ev.intent.side == BUY
    assert ev.inputs["drop_pct"] == (Decimal(101) - 97) / 101 * 100


def test_dip_is_a_falling_knife_when_the_near_term_predicts_continuation() -> None:
    state = feed_closes(["100", "101", "99", "97"])
    # Same drop and same strong recovery outlook, but the near term says down.
    knife = run(state, PositionView(), "97", pred(H, 0.45, 0.70, near_down=0.2))
    assert (knife.intent, knife.reason_code) == (None, reasons.DIP_FALLING_KNIFE)
    gated = run(state, PositionView(), "97", pred(H, 0.55, 0.70, near_down=0.5))
    assert (gated.intent, gated.reason_code) == (None, reasons.DIP_FALLING_KNIFE)


def test_a_small_drop_is_no_dip() -> None:
    state = feed_closes(["100", "98.5"])  # 1.5% < 3%
    ev = run(state, PositionView(), "98.5", pred(H, 0.52, 0.65, near_down=0.2))
    assert ev.reason_code == reasons.NO_EDGE


def test_dip_window_is_the_profiles_lookback() -> None:
    profile = attrs.evolve(PROFILE, dip_lookback_bars=2)
    state = StrategyState()
    for close in ("120", "100", "99"):
        state = run(state, PositionView(), close, None, profile).state
    assert state.closes == (Decimal(100), Decimal(99))  # the 120 high has left the window
    ev = run(state, PositionView(), "99", pred(H, 0.52, 0.65, near_down=0.2), profile)
    assert ev.reason_code == reasons.NO_EDGE


# --- holding, profit-taking, re-entry, final exit -------------------------------------------


HELD = PositionView(Decimal("10"), Decimal("100"))


def test_hold_when_nothing_calls_for_action() -> None:
    ev = run(StrategyState(), HELD, "101", pred(H, 0.6, 0.6))
    assert (ev.intent, ev.reason_code) == (None, reasons.HOLD_POSITION)


def test_partial_profit_taking_when_gain_is_high_and_edge_fades() -> None:
    # 7% gain >= 6% trigger; near p_up 0.55 < 0.58 entry threshold: the edge has faded.
    ev = run(StrategyState(), HELD, "107", pred(H, 0.55, 0.55))
    assert ev.reason_code == reasons.TAKE_PROFIT_PARTIAL
    assert ev.intent is not None
    assert ev.intent.side == SELL
    assert not ev.intent.increases_risk
    assert ev.intent.quantity == Decimal("3.300")  # 10 * 0.33
    assert ev.state.take_profit_ref == Decimal(107)
    assert ev.state.reentry_quantity == Decimal("3.300")
    # While the near-term edge is strong, the same gain is left to run.
    assert run(StrategyState(), HELD, "107", pred(H, 0.7, 0.6)).reason_code == (
        reasons.HOLD_POSITION
    )


def test_reentry_after_partial_exit_needs_a_newer_prediction_with_edge() -> None:
    first = run(StrategyState(), HELD, "107", pred(H, 0.55, 0.55))
    after = PositionView(Decimal("6.700"), Decimal("100"))
    # Same prediction again (e.g. re-evaluated after the fill): no churn.
    same = decide(first.state, after, ctx("107"), pred(H, 0.7, 0.6), PROFILE, new_bar=False)
    assert same.reason_code == reasons.HOLD_POSITION
    # A newer prediction, edge 0.56 - 0.5 = 0.06 >= 0.05 but still no profit trigger: re-enter.
    ev = run(first.state, after, "106", pred(2 * H, 0.56, 0.6, near_down=0.2))
    assert ev.reason_code == reasons.REENTRY
    assert ev.intent is not None
    assert ev.intent.side == BUY
    assert ev.intent.quantity == Decimal("3.3")
    assert ev.state.reentry_quantity == 0
    # Edge too small: hold and stay armed.
    weak = run(first.state, after, "106", pred(2 * H, 0.54, 0.6, near_down=0.2))
    assert weak.reason_code == reasons.HOLD_POSITION
    assert weak.state.reentry_quantity > 0


def test_final_exit_needs_persistence_of_the_negative_outlook() -> None:
    state = StrategyState()
    # Negative: near downside 0.7 >= 0.62, rebound 0.3 <= 0.35. Persistence default 3.
    for t in (1, 2):
        ev = run(state, HELD, "99", pred(t * H, 0.3, 0.3, near_down=0.7))
        assert ev.reason_code == reasons.HOLD_POSITION
        assert ev.state.negative_streak == t
        state = ev.state
    # The same prediction re-evaluated (heartbeat) does not count twice.
    again = decide(state, HELD, ctx("99"), pred(2 * H, 0.3, 0.3, 0.7), PROFILE, new_bar=False)
    assert again.state.negative_streak == 2
    assert again.intent is None
    ev = run(state, HELD, "99", pred(3 * H, 0.3, 0.3, near_down=0.7))
    assert ev.reason_code == reasons.EXIT_NEGATIVE_OUTLOOK
    assert ev.intent is not None
    assert ev.intent.quantity == HELD.quantity


def test_a_rebound_outlook_breaks_the_streak() -> None:
    state = StrategyState()
    for t, rebound in ((1, 0.3), (2, 0.3), (3, 0.5), (4, 0.3)):
        state = run(state, HELD, "99", pred(t * H, 0.3, rebound, near_down=0.7)).state
    assert state.negative_streak == 1


# --- severe-loss recovery -------------------------------------------------------------------

DEEP = "75"  # 25% under the 100 average: beyond the 20% severe-loss level


def test_severe_loss_holds_when_rebound_is_predicted() -> None:
    ev = run(StrategyState(), HELD, DEEP, pred(H, 0.3, 0.5, near_down=0.7))  # rebound 0.5 >= 0.45
    assert (ev.intent, ev.reason_code) == (None, reasons.SEVERE_LOSS_HOLD)


def test_severe_loss_derisks_once_when_the_outlook_is_mixed() -> None:
    # Rebound 0.4: under the 0.45 hold level, above the 0.35 weak level.
    ev = run(StrategyState(), HELD, DEEP, pred(H, 0.4, 0.4, near_down=0.5))
    assert ev.reason_code == reasons.SEVERE_LOSS_DERISK
    assert ev.intent is not None
    assert ev.intent.side == SELL
    assert ev.intent.quantity == Decimal("5")
    after = PositionView(Decimal("5"), Decimal("100"))
    again = run(ev.state, after, DEEP, pred(2 * H, 0.4, 0.4, near_down=0.5))
    assert (again.intent, again.reason_code) == (None, reasons.SEVERE_LOSS_WAIT)


def test_severe_loss_exits_fully_only_on_persistent_continuation() -> None:
    state = StrategyState()
    reasons_seen = []
    for t in (1, 2, 3):
        ev = run(state, HELD, DEEP, pred(t * H, 0.2, 0.2, near_down=0.8))
        reasons_seen.append(ev.reason_code)
        state = ev.state
    # Not a loss-threshold exit: the first two deeply adverse evaluations de-risk, then wait;
    # the exit comes when continuation has persisted for `persistence` predictions.
    assert reasons_seen == [
        reasons.SEVERE_LOSS_DERISK,
        reasons.SEVERE_LOSS_WAIT,
        reasons.SEVERE_LOSS_EXIT,
    ]
    assert ev.intent is not None
    assert ev.intent.quantity == HELD.quantity


def test_a_deep_loss_alone_never_sells() -> None:
    for rebound in (0.45, 0.6, 0.9):
        ev = run(StrategyState(), HELD, "20", pred(H, 0.5, rebound))
        assert ev.intent is None


def test_leaving_the_severe_zone_resets_the_derisk_flag() -> None:
    ev = run(StrategyState(), HELD, DEEP, pred(H, 0.4, 0.4, near_down=0.5))
    assert ev.state.derisked
    ev = run(ev.state, HELD, "95", pred(2 * H, 0.6, 0.6))
    assert not ev.state.derisked


def test_flat_resets_position_memory() -> None:
    state = StrategyState(take_profit_ref=Decimal(5), derisked=True, reentry_quantity=Decimal(1))
    ev = run(state, PositionView(), "100", pred(H, 0.5, 0.5))
    assert ev.state.take_profit_ref is None
    assert not ev.state.derisked
    assert ev.state.reentry_quantity == 0


def test_an_evaluation_without_any_close_yet_sees_no_dip() -> None:
    ev = decide(
        StrategyState(), PositionView(), ctx("100"), pred(H, 0.7, 0.7), PROFILE, new_bar=False
    )
    assert ev.state.closes == ()
    assert ev.inputs["drop_pct"] == 0
    assert ev.reason_code == reasons.ENTRY
