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
ship. The model sees the cut data only, and features are causal, so nothing after the cut
reaches a prediction.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs
import numpy as np

from quant_core.events import Prediction
from quant_models import reasons
from quant_models._errors import DataError
from quant_models._metrics import ScoreCard, score
from quant_models._panel import Panel
from quant_models._predictor import ModelSetPredictor
from quant_models.features import compute_features
from quant_models.training import TrainConfig, TrainResult, train_panel

DAY_NS = 86_400 * 1_000_000_000


def _index_at(panel: Panel, close_ns: int) -> int:
    where = np.nonzero(panel.close_times_ns == close_ns)[0]
    if where.size == 0:
        raise DataError(f"no grid bar closes at {close_ns}", reason_code=reasons.INSUFFICIENT_DATA)
    return int(where[0])


@attrs.frozen(eq=False)
class Hindcast:
    """A hindcast at ``T`` and the training run it scored.

    Attributes:
        as_of_ns: ``T``.
        cards: per horizon label (``"h4"``), the score card of the realised predictions.
        training: the pipeline run on the data to ``T - 2d``; its model set made the
            predictions.
    """

    as_of_ns: int
    cards: dict[str, ScoreCard]
    training: TrainResult

    @property
    def served(self) -> dict[str, str]:
        """Per horizon label, the ``family/scope`` that won the walk-forward selection."""
        served: dict[str, str] = self.training.metrics["served"]
        return served


def run_hindcast(
    panel: Panel, config: TrainConfig, as_of_ns: int, *, dataset_hash: str = "hindcast"
) -> Hindcast:
    """Train on data to ``T - 2d``, predict ``(T - 2d, T - 1d]``, score what ``T`` realised.

    Each horizon is predicted by the model set the pipeline ships when trained on the cut
    panel (its walk-forward winner, a coin's specialist or the global model), and scored
    against each coin's up-rate before the cut.

    Raises:
        DataError: ``T - 2d`` or ``T`` is not a bar close in the panel, or too little data
            before the cut for the walk-forward folds.
    """
    cut = _index_at(panel, as_of_ns - 2 * DAY_NS)
    end = _index_at(panel, as_of_ns)
    before = panel.upto(cut)
    training = train_panel(before, config, dataset_hash=dataset_hash)
    known = panel.upto(end)
    features = compute_features(known, config.features)
    day = DAY_NS // panel.timeframe.ns
    out: dict[str, ScoreCard] = {}
    for spec in config.horizons:
        h = spec.bars
        ts = np.arange(cut + 1, min(cut + day, end - h) + 1)
        entries = [e for e in training.model_set.entries if e.horizon_bars == h]
        empty = np.empty(0)
        ps, ys, fs, cl = [empty], [empty], [empty], [empty]
        for entry in entries:
            rows = (
                range(len(known.symbols))
                if entry.symbol is None
                else [known.symbols.index(entry.symbol)]
            )
            for s in rows:
                close = known.close[s]
                ok = ~np.isnan(close[ts]) & ~np.isnan(close[ts + h])
                t = ts[ok]
                if t.size == 0:
                    continue
                fwd = np.log(close[t + h] / close[t])
                p = entry.calibrator.apply(entry.model.predict_proba(features.values[s, t, :]))
                ps.append(p)
                ys.append((fwd > 0).astype(np.float64))
                fs.append(fwd)
                cl.append(np.full(t.size, model_set_up_rate(before, s, h)))
        out[f"h{h}"] = score(
            np.concatenate(ps),
            np.concatenate(ys),
            np.concatenate(fs),
            climatology=np.concatenate(cl),
            threshold=config.threshold,
            fee=config.fee,
        )
    return Hindcast(as_of_ns, out, training)


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

    Each row names the served ``model`` (``family/scope``) beside the score card.
    """
    rows = []
    for t in as_of:
        run = run_hindcast(panel, config, t)
        for horizon, card in run.cards.items():
            row = {"as_of_ns": t, "horizon": horizon, "model": run.served[horizon]}
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
    rows: list[dict[str, Any]] = []
    for pred in check.predictions:
        s = panel.symbols.index(pred.instrument.base)
        for f in pred.forecasts:
            h = f.horizon_ns // panel.timeframe.ns
            row: dict[str, Any] = {
                "symbol": pred.instrument.base,
                "horizon": f.label,
                "p_up": f.p_up,
                "status": "pending",
            }
            if t + h < panel.n_times and not np.isnan(panel.close[s, t + h]):
                up = float(panel.close[s, t + h] > panel.close[s, t])
                row.update(status="realised", up=up, squared_error=(f.p_up - up) ** 2)
            rows.append(row)
    return rows
