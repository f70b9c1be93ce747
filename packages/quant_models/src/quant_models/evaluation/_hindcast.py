"""Hindcast, forward check and rolling evaluation (historical data spec §5.3).

* :func:`hindcast` — with data up to ``T - 2d``, train and predict every bar close of the day
  ``(T - 2d, T - 1d]``, and score the predictions whose outcome is realised by ``T``
  (:func:`run_hindcast` also returns the training run it scored).
* :func:`forward_check` — with data up to ``T``, predict ``T + h`` for every configured
  horizon; :func:`score_forward` scores it later, once the outcomes are realised, and reports
  the rest as pending.
* :func:`rolling_hindcast` — hindcasts at several ``T`` (e.g. one per walk-forward window).

Both run the whole pipeline (:func:`quant_models.training.train_panel`) on the cut data: the
walk-forward selection picks each horizon's family and scope, with its tuned parameters and
out-of-sample-chosen calibration, exactly as the model set a training run at that time would
ship. Both predict through :class:`ModelSetPredictor`, so a set is scored as it is served: a
best set's winner (a coin's specialist or the global model), a stacked set's heads with their
regime gate and sequence members (decision 0124). The model sees the cut data only, and the
predictor reads no bar after the one it predicts, so nothing after the cut reaches the model
and nothing after a bar reaches its prediction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np

from quant_core import TaskRunner
from quant_core.events import Prediction
from quant_models import reasons
from quant_models._ensemble import FULL, GLOBALS
from quant_models._errors import DataError
from quant_models._metrics import ScoreCard, score
from quant_models._panel import Panel
from quant_models._persistence import ModelSet
from quant_models._predictor import ModelSetPredictor
from quant_models.training import TrainConfig, TrainResult, train_panel

DAY_NS = 86_400 * 1_000_000_000


def _index_at(panel: Panel, close_ns: int) -> int:
    where = np.nonzero(panel.close_times_ns == close_ns)[0]
    if where.size == 0:
        raise DataError(f"no grid bar closes at {close_ns}", reason_code=reasons.INSUFFICIENT_DATA)
    return int(where[0])


@attrs.frozen(eq=False)
class HindcastRows:
    """One horizon's hindcast predictions, coin by coin and bar by bar (coin-major order).

    Attributes:
        symbols: each prediction's coin.
        close_times_ns: each prediction's bar close (its ``as_of_ns``).
        p_up: the served probability of an up move, as :class:`ModelSetPredictor` gives it.
        up: the realised direction (1 up, 0 down).
        forward_return: the realised log return over the horizon.
        climatology: the coin's up-rate before the cut (the skill reference).
    """

    symbols: tuple[str, ...]
    close_times_ns: np.ndarray
    p_up: np.ndarray
    up: np.ndarray
    forward_return: np.ndarray
    climatology: np.ndarray


@attrs.frozen(eq=False)
class Hindcast:
    """A hindcast at ``T`` and the training run it scored.

    Attributes:
        as_of_ns: ``T``.
        cards: per horizon label (``"h4"``), the score card of the realised predictions.
        training: the pipeline run on the data to ``T - 2d``; its model set made the
            predictions.
        predictions: per horizon label, the scored predictions.
        members: per horizon label and coin, what served it (see :func:`served_members`).
    """

    as_of_ns: int
    cards: dict[str, ScoreCard]
    training: TrainResult
    predictions: dict[str, HindcastRows] = attrs.field(factory=dict)
    members: dict[str, dict[str, str]] = attrs.field(factory=dict)

    @property
    def served(self) -> dict[str, str]:
        """Per horizon label, the ``family/scope`` that won the walk-forward selection.

        ``"stack"`` for a stacked set (:attr:`members` names each coin's head).
        """
        served: dict[str, str] = self.training.metrics["served"]
        return served


def served_members(model_set: ModelSet, horizon_bars: int, symbol: str) -> str:
    """What serves ``symbol`` at ``horizon_bars`` in ``model_set``, as the predictor picks it.

    A best set: the coin's specialist (``"lightgbm/specialist"``) when it has one, else the
    global model (``"lightgbm/global"``). A stacked set: ``"stack/full"`` when the set has a
    ``full`` head and the coin has every specialist it stacks, else ``"stack/globals"``.
    ``"none"`` when nothing serves the coin.

    Args:
        model_set: the trained set.
        horizon_bars: the horizon.
        symbol: the coin.
    """
    entries = [e for e in model_set.entries if e.horizon_bars == horizon_bars]
    if model_set.stacked:
        full = [h for h in model_set.heads if h.horizon_bars == horizon_bars and h.group == FULL]
        names = {e.name for e in entries if e.symbol == symbol}
        has_all = bool(full) and all(
            m in names for m in full[0].members if m.endswith("/specialist")
        )
        return f"stack/{FULL if has_all else GLOBALS}"
    own = [e.name for e in entries if e.symbol == symbol]
    shared = [e.name for e in entries if e.symbol is None]
    return (own or shared or ["none"])[0]


def run_hindcast(
    panel: Panel,
    config: TrainConfig,
    as_of_ns: int,
    *,
    dataset_hash: str = "hindcast",
    runner: TaskRunner | None = None,
) -> Hindcast:
    """Train on data to ``T - 2d``, predict ``(T - 2d, T - 1d]``, score what ``T`` realised.

    Every bar close of that day is predicted by :class:`ModelSetPredictor` over the model set
    the pipeline ships when trained on the cut panel, handed the bars up to ``T`` (it reads
    none after the bar it predicts): the set as served, whether a best set (its walk-forward
    winner, a coin's specialist or the global model) or a stacked ensemble (its heads, regime
    gate and sequence members). Each prediction whose outcome ``T`` realised is scored
    against the coin's up-rate before the cut.

    Args:
        panel: the bars; ``T - 2d`` and ``T`` must be bar closes in it.
        config: the training configuration.
        as_of_ns: ``T``.
        dataset_hash: the lineage hash the cut run records.
        runner: runs the cut run's fits (serial by default; any runner gives the same bytes).

    Raises:
        DataError: ``T - 2d`` or ``T`` is not a bar close in the panel, or too little data
            before the cut for the walk-forward folds.
    """
    cut = _index_at(panel, as_of_ns - 2 * DAY_NS)
    end = _index_at(panel, as_of_ns)
    before = panel.upto(cut)
    training = train_panel(before, config, dataset_hash=dataset_hash, runner=runner)
    known = panel.upto(end)
    day = DAY_NS // panel.timeframe.ns
    shortest = config.horizons[0].bars
    predictor = ModelSetPredictor(training.model_set)
    history = _history(known)
    found: dict[tuple[int, int], tuple[float, ...]] = {}  # (coin row, bar) -> p per horizon
    for t in range(cut + 1, min(cut + day, end - shortest) + 1):
        for pred in predictor.predict(int(known.close_times_ns[t]), history):
            found[(known.symbols.index(pred.instrument.base), t)] = tuple(
                f.p_up for f in pred.forecasts
            )
    out: dict[str, ScoreCard] = {}
    rows: dict[str, HindcastRows] = {}
    members: dict[str, dict[str, str]] = {}
    for k, spec in enumerate(config.horizons):
        h = spec.bars
        keys = [
            (s, t) for s, t in sorted(found) if t + h <= end and not np.isnan(known.close[s, t + h])
        ]
        s_rows = np.array([s for s, _ in keys], dtype=np.int64)
        t_rows = np.array([t for _, t in keys], dtype=np.int64)
        fwd = np.log(known.close[s_rows, t_rows + h] / known.close[s_rows, t_rows])
        clim = {s: model_set_up_rate(before, s, h) for s in set(s_rows.tolist())}
        label = f"h{h}"
        rows[label] = HindcastRows(
            tuple(known.symbols[s] for s in s_rows.tolist()),
            known.close_times_ns[t_rows].astype(np.int64),
            np.array([found[key][k] for key in keys], dtype=np.float64),
            (fwd > 0).astype(np.float64),
            fwd,
            np.array([clim[s] for s in s_rows.tolist()], dtype=np.float64),
        )
        out[label] = score(
            rows[label].p_up,
            rows[label].up,
            fwd,
            climatology=rows[label].climatology,
            threshold=config.threshold,
            fee=config.fee,
        )
        members[label] = {
            symbol: served_members(training.model_set, h, symbol)
            for symbol in sorted(set(rows[label].symbols))
        }
    return Hindcast(as_of_ns, out, training, rows, members)


def hindcast(panel: Panel, config: TrainConfig, as_of_ns: int) -> dict[str, ScoreCard]:
    """The score cards of :func:`run_hindcast`: per horizon label (``"h4"``), one card.

    Raises:
        DataError: ``T - 2d`` or ``T`` is not a bar close in the panel, or too little data.
    """
    return run_hindcast(panel, config, as_of_ns).cards


def model_set_up_rate(panel: Panel, symbol: int, h: int) -> float:
    """A coin's up-rate over ``h`` bars in ``panel`` (its climatology), 0.5 if unknown."""
    close = panel.close[symbol]
    with np.errstate(divide="ignore", invalid="ignore"):
        fwd = np.log(close[h:] / close[:-h])
    fwd = fwd[~np.isnan(fwd)]
    return float(np.mean(fwd > 0)) if fwd.size else 0.5


def rolling_hindcast(
    panel: Panel, config: TrainConfig, as_of: Iterable[int]
) -> list[dict[str, Any]]:
    """:func:`run_hindcast` at each ``T`` in ``as_of``; one row per ``T`` and horizon.

    Each row names the served ``model`` (``family/scope``, or ``"stack"``) and what served
    each coin (``members``, see :func:`served_members`) beside the score card.
    """
    rows = []
    for t in as_of:
        run = run_hindcast(panel, config, t)
        for horizon, card in run.cards.items():
            row = {
                "as_of_ns": t,
                "horizon": horizon,
                "model": run.served[horizon],
                "members": run.members[horizon],
            }
            rows.append({**row, **card.as_dict()})
    return rows


@attrs.frozen
class ForwardCheck:
    """Forecasts made at ``as_of_ns`` with data up to then, waiting to be scored.

    Attributes:
        as_of_ns: the bar close ``T`` the forecasts were made at.
        predictions: one per coin, with every configured horizon.
        served: per horizon label, the ``family/scope`` that made the forecasts.
    """

    as_of_ns: int
    predictions: tuple[Prediction, ...]
    served: dict[str, str] = attrs.field(factory=dict)


def forward_check(panel: Panel, config: TrainConfig, as_of_ns: int) -> ForwardCheck:
    """Train on data to ``T`` (the shipped model set) and forecast ``T + h`` for every horizon.

    Raises:
        DataError: ``T`` is not a bar close in the panel, or too little data.
    """
    t = _index_at(panel, as_of_ns)
    known = panel.upto(t)
    training = train_panel(known, config, dataset_hash="forward")
    predictor = ModelSetPredictor(training.model_set)
    predictions = predictor.predict(as_of_ns, _history(known))
    return ForwardCheck(as_of_ns, predictions, dict(training.metrics["served"]))


def _history(panel: Panel) -> dict[Any, list[Any]]:
    from quant_core import Bar, Instrument

    history: dict[Any, list[Any]] = {}
    for s, symbol in enumerate(panel.symbols):
        inst = Instrument(symbol, panel.quote)
        bars = []
        for i in np.nonzero(~np.isnan(panel.close[s]))[0]:
            bars.append(
                Bar(
                    inst,
                    panel.timeframe,
                    int(panel.open_times_ns[i]),
                    open=repr(float(panel.open[s, i])),
                    high=repr(float(panel.high[s, i])),
                    low=repr(float(panel.low[s, i])),
                    close=repr(float(panel.close[s, i])),
                    volume=repr(float(panel.volume[s, i])),
                )
            )
        history[inst] = bars
    return history


def score_forward(check: ForwardCheck, panel: Panel) -> list[dict[str, Any]]:
    """Score a forward check against ``panel`` (later data): realised or pending per forecast.

    Returns:
        One row per (coin, horizon): ``status`` ``"realised"`` with the outcome and the
        squared error, or ``"pending"``.
    """
    t = _index_at(panel, check.as_of_ns)
    step = panel.timeframe.ns
    return [
        realise(
            panel,
            t,
            pred.instrument.base,
            f.horizon_ns // step,
            {"symbol": pred.instrument.base, "horizon": f.label, "p_up": f.p_up},
        )
        for pred in check.predictions
        for f in pred.forecasts
    ]


def realise(panel: Panel, t: int, symbol: str, h: int, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` (a forecast with ``p_up`` made at grid bar ``t``) scored or left pending.

    ``status`` ``"realised"`` with ``up`` and ``squared_error`` when ``panel`` holds the
    coin's close ``h`` bars after ``t``; else ``"pending"``.
    """
    s = panel.symbols.index(symbol) if symbol in panel.symbols else None
    if s is None or t + h >= panel.n_times or np.isnan(panel.close[s, [t, t + h]]).any():
        return {**row, "status": "pending"}
    up = float(panel.close[s, t + h] > panel.close[s, t])
    return {**row, "status": "realised", "up": up, "squared_error": (row["p_up"] - up) ** 2}
