"""The prediction-led strategy: a pure function from state, event and predictions to intents.

The strategy never reads a clock, a file or a broker. For one instrument it takes

* its own memory (:class:`StrategyState`: recent closes, the persistence streak of a negative
  outlook, what a partial exit left to re-enter),
* the position it holds (:class:`PositionView`) and the market context (:class:`MarketContext`),
* the latest :class:`~quant_core.Prediction` for the instrument (or ``None``),
* the :class:`~quant_core.StrategyProfile`,

and returns an :class:`Evaluation`: the new memory, at most one :class:`Intent`, the reason
code of the choice and the inputs that led to it. The engine turns intents into orders only
after the risk gates approve them, and logs every evaluation, including "no action".

How the forecasts are read (horizons are inputs, never holding-time limits):

* the **near-term** forecast is the shortest horizon; its *downside probability* is the mass
  of the return buckets lying wholly below zero (or ``1 - p_up`` when the model gives
  direction only);
* the **outlook** is the longest horizon; its ``p_up`` is the *rebound probability* and
  ``1 - p_up`` the continuation probability.

Behaviours, in the order they are considered (every threshold is a profile parameter):

1. **Severe-loss recovery** (position at least ``severe_loss_pct`` under its average price),
   re-evaluated on every new prediction: hold while the rebound probability is at least
   ``severe_loss_min_rebound_probability``; exit fully if the rebound probability is at most
   ``exit_max_rebound_probability`` *and* the negative outlook has persisted ``persistence``
   evaluations; exit fully once the position has seen ``severe_loss_max_weak_predictions``
   predictions in the episode without a qualifying rebound forecast (the hold is bounded);
   otherwise de-risk once per episode by ``severe_loss_derisk_fraction`` and wait, the count
   running. A loss alone never sells: every exit needs forecasts that do not support a hold.
2. **Final exit**: the negative outlook (near-term downside at least
   ``exit_min_negative_probability`` and rebound at most ``exit_max_rebound_probability``)
   has held for ``persistence`` consecutive predictions.
3. **Partial profit-taking**: gain since entry (or since the last partial exit) at least
   ``take_profit_trigger_pct`` while the near-term ``p_up`` has faded below
   ``entry_min_up_probability``; sells ``take_profit_fraction``.
4. **Re-entry**: after a partial exit, on a newer prediction whose near-term ``p_up`` exceeds
   even odds by ``reentry_min_edge`` and whose downside is not gated, buy back what was sold.
5. **Dip-aware entry** (flat): the close is ``dip_min_drop_pct`` under the highest of the last
   ``dip_lookback_bars`` closes and the outlook's recovery probability is at least
   ``dip_min_recovery_probability``; if the near term still predicts continuation (downside
   gated, or ``p_up`` under even odds) it is a falling knife and nothing is bought.
6. **Entry gating and entry** (flat): no entry while the near-term downside exceeds
   ``entry_max_downside_probability``; enter when the near-term ``p_up`` reaches
   ``entry_min_up_probability`` and the outlook agrees. ``sensitivity`` relaxes the outlook's
   requirement from that threshold (``0``) down to even odds (``1``).

Even odds (one half) is the definition of "no edge", not a tunable threshold.

Examples:
    >>> from decimal import Decimal
    >>> from quant_core.events import HorizonForecast, Prediction
    >>> from quant_core import Instrument
    >>> from quant_core.profiles import StrategyProfile
    >>> btc = Instrument("BTC", "USD")
    >>> h = 3_600 * 10**9
    >>> pred = Prediction(btc, ts_event=h, ts_init=h, model_id="m",
    ...                   forecasts=(HorizonForecast(h, 0.7), HorizonForecast(24 * h, 0.65)))
    >>> ctx = MarketContext(price=Decimal("100"), portfolio_value=Decimal("10000"),
    ...               cash=Decimal("10000"), lot_size=Decimal("0.001"))
    >>> ev = decide(StrategyState(), PositionView(), ctx, pred, StrategyProfile(),
    ...               new_bar=True)
    >>> ev.reason_code, ev.intent.side, ev.intent.quantity
    ('ENTRY', 'buy', Decimal('10.000'))
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

import attrs

from quant_core import Instrument
from quant_core.events import HorizonForecast, Prediction
from quant_core.profiles import StrategyProfile
from quant_exec import reasons

BUY = "buy"
SELL = "sell"
_EVEN = 0.5  # even odds: the definition of "no edge"
_ZERO = Decimal(0)
_HUNDRED = Decimal(100)
_LABEL_LIMIT = 256  # distinct horizons a memo keeps (a model has a handful)


@attrs.frozen
class Intent:
    """What the strategy would like to do; it becomes an order only after the risk gates.

    Attributes:
        instrument: what to trade.
        side: ``"buy"`` or ``"sell"``.
        quantity: base-asset quantity, positive, a multiple of the context's lot size.
        reason_code: the behaviour that asked for it.
        increases_risk: whether it adds exposure (entries and re-entries do, exits do not).
    """

    instrument: Instrument
    side: str
    quantity: Decimal
    reason_code: str
    increases_risk: bool


@attrs.frozen
class PositionView:
    """The position held in one instrument, as the strategy sees it."""

    quantity: Decimal = _ZERO
    avg_price: Decimal = _ZERO

    @property
    def is_open(self) -> bool:
        """Whether any quantity is held."""
        return self.quantity > 0


@attrs.frozen
class MarketContext:
    """Market and portfolio facts for one evaluation.

    Attributes:
        price: the latest close of the instrument.
        portfolio_value: total portfolio value in the quote currency.
        cash: free cash in the quote currency.
        lot_size: the venue's quantity step; intents are rounded down to it.
        pending: an order for the instrument is still working.
    """

    price: Decimal
    portfolio_value: Decimal
    cash: Decimal
    lot_size: Decimal
    pending: bool = False


@attrs.frozen
class StrategyState:
    """The strategy's memory for one instrument; a value, replaced on every evaluation.

    Attributes:
        closes: the most recent closes, at most ``dip_lookback_bars`` of them.
        negative_streak: consecutive predictions with a negative outlook.
        last_prediction_ts: ``ts_event`` of the last prediction counted in the streak.
        take_profit_ref: the price from which the next partial exit's gain is measured.
        reentry_quantity: quantity sold by partial exits, available to re-enter.
        exit_prediction_ts: ``ts_event`` of the prediction behind the last partial exit.
        derisked: a severe-loss de-risk already happened in the current adverse episode.
        weak_predictions: predictions seen in the current severe-loss episode without a qualifying
            rebound forecast (the bounded hold's count).
    """

    closes: tuple[Decimal, ...] = ()
    negative_streak: int = 0
    last_prediction_ts: int = -1
    take_profit_ref: Decimal | None = None
    reentry_quantity: Decimal = _ZERO
    exit_prediction_ts: int = -1
    derisked: bool = False
    weak_predictions: int = 0


@attrs.frozen
class Evaluation:
    """The outcome of one evaluation: new state, optional intent, reason and inputs."""

    state: StrategyState
    intent: Intent | None
    reason_code: str
    inputs: dict[str, Any]


def downside_probability(prediction: Prediction) -> float:
    """Near-term downside probability of ``prediction`` (see the module docs).

    Examples:
        >>> from quant_core.events import HorizonForecast, Prediction
        >>> from quant_core import Instrument
        >>> f = HorizonForecast(3600 * 10**9, 0.6, (-0.02, 0.0, 0.02), (0.1, 0.2, 0.4, 0.3))
        >>> p = Prediction(Instrument("BTC", "USD"), ts_event=0, ts_init=0,
        ...                forecasts=(f,), model_id="m")
        >>> round(downside_probability(p), 6)
        0.3
    """
    near = prediction.forecasts[0]
    if not near.bucket_edges:
        return 1.0 - near.p_up
    edges, probs = near.bucket_edges, near.bucket_probs
    return float(sum(probs[i] for i, edge in enumerate(edges) if edge <= 0.0))


class _Thresholds:
    """A profile's probability thresholds as floats (forecasts are floats), made once."""

    __slots__ = (
        "dip_min_recovery",
        "entry_max_downside",
        "entry_min_up",
        "exit_max_rebound",
        "exit_min_negative",
        "outlook_need",
        "reentry_min_edge",
        "severe_loss_min_rebound",
    )

    def __init__(self, profile: StrategyProfile) -> None:
        self.exit_min_negative = float(profile.exit_min_negative_probability)
        self.exit_max_rebound = float(profile.exit_max_rebound_probability)
        self.severe_loss_min_rebound = float(profile.severe_loss_min_rebound_probability)
        self.entry_min_up = float(profile.entry_min_up_probability)
        self.entry_max_downside = float(profile.entry_max_downside_probability)
        self.dip_min_recovery = float(profile.dip_min_recovery_probability)
        self.reentry_min_edge = float(profile.reentry_min_edge)
        need = self.entry_min_up
        self.outlook_need = need - float(profile.sensitivity) * (need - _EVEN)


class StrategyMemo:
    """What :func:`decide` works out once and reuses: owned by the caller, passed in.

    A session owns one (its evaluations run one at a time); it remembers the float
    thresholds of the last strategy profile it saw (compared by identity: profiles are
    immutable values) and each forecast horizon's label. Both are pure functions of their
    key, so a memo never changes a decision, only how fast it is made; the label memo is
    bounded.

    Examples:
        >>> from quant_core.profiles import StrategyProfile
        >>> memo, profile = StrategyMemo(), StrategyProfile()
        >>> memo.thresholds(profile) is memo.thresholds(profile)
        True
    """

    __slots__ = ("labels", "last")

    def __init__(self) -> None:
        self.labels: dict[int, str] = {}
        """Horizon (ns) -> label, as :attr:`~quant_core.HorizonForecast.label` gives it."""
        self.last: tuple[StrategyProfile, _Thresholds] | None = None
        """The last profile seen and its thresholds (read inline on the per-bar path)."""

    def thresholds(self, profile: StrategyProfile) -> _Thresholds:
        """The float thresholds of ``profile``, made once per profile in a row."""
        last = self.last
        if last is not None and last[0] is profile:
            return last[1]
        made = _Thresholds(profile)
        self.last = (profile, made)
        return made

    def label(self, forecast: HorizonForecast) -> str:
        """The forecast's horizon label (a pure function of the horizon)."""
        label = self.labels.get(forecast.horizon_ns)
        if label is None:
            label = forecast.label
            if len(self.labels) < _LABEL_LIMIT:
                self.labels[forecast.horizon_ns] = label
        return label


def _floor(quantity: Decimal, lot: Decimal) -> Decimal:
    if quantity <= 0:
        return _ZERO
    return ((quantity / lot).to_integral_value(rounding=ROUND_DOWN) * lot).quantize(lot)


def _pct(part: Decimal, whole: Decimal) -> Decimal:
    return part / whole * _HUNDRED


def decide(
    state: StrategyState,
    position: PositionView,
    context: MarketContext,
    prediction: Prediction | None,
    profile: StrategyProfile,
    *,
    new_bar: bool,
    memo: StrategyMemo | None = None,
) -> Evaluation:
    """Evaluate one instrument and return what to do (see the module docs).

    Args:
        state: the strategy's memory for the instrument.
        position: the position held.
        context: price, portfolio and venue facts.
        prediction: the latest prediction for the instrument, if any.
        profile: the strategy profile; every threshold comes from it.
        new_bar: this evaluation follows a new bar close (its close joins the dip window);
            a heartbeat re-evaluates without one.
        memo: where derived values are kept between calls (a session passes its own);
            ``None`` works them out afresh.

    Returns:
        The evaluation; its ``intent`` is ``None`` for every "no action" outcome.
    """
    closes, price, held = state.closes, context.price, position.quantity
    if new_bar:  # the close joins the dip window, which keeps the last dip_lookback_bars
        closes = (*closes, price)[-profile.dip_lookback_bars :]
    flat = not held > 0  # PositionView.is_open, read once
    streak, seen = state.negative_streak, state.last_prediction_ts
    inputs: dict[str, Any] = {"price": price, "position": held}
    if memo is None:
        memo = StrategyMemo()
    last = memo.last  # the memo of thresholds(), read inline
    limits = last[1] if last is not None and last[0] is profile else memo.thresholds(profile)
    if prediction is None:
        p_down = 0.0
    else:  # downside_probability, with its direction-only case inline
        first = prediction.forecasts[0]
        no_buckets = not first.bucket_edges
        p_down = 1.0 - first.p_up if no_buckets else downside_probability(prediction)
    fresh = prediction is not None and prediction.ts_event != seen
    if prediction is not None and fresh:  # a new prediction counts once
        rebound = prediction.forecasts[-1].p_up
        negative = p_down >= limits.exit_min_negative and rebound <= limits.exit_max_rebound
        streak, seen = (streak + 1 if negative else 0), prediction.ts_event
    # One new state value per evaluation (flat: no position memory survives); positional in
    # field order: closes, negative_streak, last_prediction_ts, take_profit_ref,
    # reentry_quantity, exit_prediction_ts, derisked, weak_predictions.
    state = StrategyState(
        closes,
        streak,
        seen,
        None if flat else state.take_profit_ref,
        state.reentry_quantity,
        state.exit_prediction_ts,
        False if flat else state.derisked,
        0 if flat else state.weak_predictions,
    )
    if prediction is None:
        return Evaluation(state, None, reasons.NO_PREDICTION, inputs)
    forecasts = prediction.forecasts
    near = forecasts[0]
    if len(forecasts) == 1:  # the common single-horizon case, without a comprehension
        inputs["p_up"] = {(memo.labels.get(near.horizon_ns) or memo.label(near)): near.p_up}
    else:
        inputs["p_up"] = {memo.label(f): f.p_up for f in forecasts}
    inputs["p_down_near"] = p_down
    inputs["negative_streak"] = streak
    inputs["prediction_ts"] = prediction.ts_event
    if context.pending:
        return Evaluation(state, None, reasons.ORDER_PENDING, inputs)
    if not flat:
        return _manage(state, position, context, prediction, profile, limits, inputs, fresh)
    return _consider_entry(state, context, prediction, profile, limits, inputs, near.p_up, p_down)


def _intent(
    state: StrategyState,
    prediction: Prediction,
    side: str,
    quantity: Decimal,
    reason: str,
    inputs: dict[str, Any],
) -> Evaluation:
    if quantity <= 0:
        return Evaluation(state, None, reasons.INTENT_TOO_SMALL, {**inputs, "wanted": reason})
    intent = Intent(prediction.instrument, side, quantity, reason, side == BUY)
    return Evaluation(state, intent, reason, inputs)


def _partial_exit(
    state: StrategyState,
    prediction: Prediction,
    context: MarketContext,
    wanted: Decimal,
    reason: str,
    inputs: dict[str, Any],
    **changes: Any,
) -> Evaluation:
    """Sell ``wanted`` (rounded down to the lot), keeping it for a re-entry; ``changes`` too."""
    sell = _floor(wanted, context.lot_size)
    after = attrs.evolve(
        state,
        reentry_quantity=state.reentry_quantity + sell,
        exit_prediction_ts=prediction.ts_event,
        **changes,
    )
    return _intent(after, prediction, SELL, sell, reason, inputs)


def _buy_quantity(context: MarketContext, profile: StrategyProfile, held: Decimal) -> Decimal:
    target = context.portfolio_value * profile.position_size_pct / _HUNDRED
    notional = min(target - held * context.price, context.cash)
    return _floor(notional / context.price, context.lot_size)


def _manage(
    state: StrategyState,
    position: PositionView,
    context: MarketContext,
    prediction: Prediction,
    profile: StrategyProfile,
    limits: _Thresholds,
    inputs: dict[str, Any],
    fresh: bool,
) -> Evaluation:
    price, qty = context.price, position.quantity
    loss_pct = _pct(position.avg_price - price, position.avg_price)
    rebound = prediction.forecasts[-1].p_up
    persistent = state.negative_streak >= profile.persistence
    inputs["loss_pct"] = loss_pct
    inputs["rebound_probability"] = rebound
    if loss_pct >= profile.severe_loss_pct:
        return _severe_loss(state, qty, context, prediction, profile, limits, inputs, fresh)
    if state.derisked or state.weak_predictions:  # the adverse episode is over
        state = attrs.evolve(state, derisked=False, weak_predictions=0)
    if persistent:
        done = attrs.evolve(state, reentry_quantity=_ZERO)
        return _intent(done, prediction, SELL, qty, reasons.EXIT_NEGATIVE_OUTLOOK, inputs)
    near_up = prediction.forecasts[0].p_up
    ref = state.take_profit_ref if state.take_profit_ref is not None else position.avg_price
    gain_pct = _pct(price - ref, ref)
    inputs["gain_pct"] = gain_pct
    if gain_pct >= profile.take_profit_trigger_pct and near_up < limits.entry_min_up:
        return _partial_exit(
            state, prediction, context, qty * profile.take_profit_fraction,
            reasons.TAKE_PROFIT_PARTIAL, inputs, take_profit_ref=price,
        )  # fmt: skip
    if (
        state.reentry_quantity > 0
        and prediction.ts_event > state.exit_prediction_ts
        and near_up - _EVEN >= limits.reentry_min_edge
        and downside_probability(prediction) <= limits.entry_max_downside
    ):
        cash_qty = _floor(context.cash / price, context.lot_size)
        buy = min(state.reentry_quantity, cash_qty)
        after = attrs.evolve(state, reentry_quantity=_ZERO)
        return _intent(after, prediction, BUY, buy, reasons.REENTRY, inputs)
    return Evaluation(state, None, reasons.HOLD_POSITION, inputs)


def _severe_loss(
    state: StrategyState,
    qty: Decimal,
    context: MarketContext,
    prediction: Prediction,
    profile: StrategyProfile,
    limits: _Thresholds,
    inputs: dict[str, Any],
    fresh: bool,
) -> Evaluation:
    """Severe-loss recovery, re-evaluated on every prediction (behaviour 1 of the module docs).

    A qualifying rebound forecast holds; any other new prediction counts towards the bound.
    """
    rebound = prediction.forecasts[-1].p_up
    if rebound >= limits.severe_loss_min_rebound:
        return Evaluation(state, None, reasons.SEVERE_LOSS_HOLD, inputs)
    weak = state.weak_predictions + 1 if fresh else state.weak_predictions
    state = attrs.evolve(state, weak_predictions=weak)
    inputs["severe_loss_weak_predictions"] = weak
    if rebound <= limits.exit_max_rebound and state.negative_streak >= profile.persistence:
        done = attrs.evolve(state, reentry_quantity=_ZERO)
        return _intent(done, prediction, SELL, qty, reasons.SEVERE_LOSS_EXIT, inputs)
    if weak >= profile.severe_loss_max_weak_predictions:
        done = attrs.evolve(state, reentry_quantity=_ZERO)
        return _intent(done, prediction, SELL, qty, reasons.SEVERE_LOSS_BOUNDED_EXIT, inputs)
    if state.derisked:
        return Evaluation(state, None, reasons.SEVERE_LOSS_WAIT, inputs)
    fraction = profile.severe_loss_derisk_fraction
    return _partial_exit(
        state, prediction, context, qty * fraction, reasons.SEVERE_LOSS_DERISK, inputs,
        derisked=True,
    )  # fmt: skip


def _consider_entry(
    state: StrategyState,
    context: MarketContext,
    prediction: Prediction,
    profile: StrategyProfile,
    limits: _Thresholds,
    inputs: dict[str, Any],
    near_up: float,
    p_down: float,
) -> Evaluation:
    if state.reentry_quantity:
        state = attrs.evolve(state, reentry_quantity=_ZERO)
    rebound = prediction.forecasts[-1].p_up
    high = max(state.closes, default=context.price)  # no close yet: no drop
    drop_pct = _pct(high - context.price, high)
    inputs["drop_pct"] = drop_pct
    gated = p_down > limits.entry_max_downside
    if drop_pct >= profile.dip_min_drop_pct:
        if gated or near_up < _EVEN:
            return Evaluation(state, None, reasons.DIP_FALLING_KNIFE, inputs)
        if rebound >= limits.dip_min_recovery:
            qty = _buy_quantity(context, profile, _ZERO)
            return _intent(state, prediction, BUY, qty, reasons.ENTRY_DIP, inputs)
    if gated:
        return Evaluation(state, None, reasons.ENTRY_GATED_DOWNSIDE, inputs)
    if near_up >= limits.entry_min_up and rebound >= limits.outlook_need:
        qty = _buy_quantity(context, profile, _ZERO)
        return _intent(state, prediction, BUY, qty, reasons.ENTRY, inputs)
    return Evaluation(state, None, reasons.NO_EDGE, inputs)
