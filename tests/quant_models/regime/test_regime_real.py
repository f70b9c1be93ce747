"""The regime classifier on a few months of real hourly coins (shared data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quant_models.families import REGIME_LABELS, fit_regimes, score_regimes

SOURCE = "binance_spot_freqtrade__mounik-sample-scalping"


def _closes(shared: Path, symbols: tuple[str, ...], last: int) -> np.ndarray:
    """The last ``last`` hourly closes the coins share, on one hourly grid (gaps as NaN)."""
    series = {}
    for symbol in symbols:
        raw = pd.read_feather(shared / "real" / SOURCE / f"{symbol}_USDT-1h.feather")
        series[symbol] = raw.drop_duplicates("date").set_index("date")["close"].astype(float)
    frame = pd.DataFrame(series).sort_index()
    frame = frame.loc[frame.dropna().index.min() : frame.dropna().index.max()]
    grid = pd.date_range(frame.index[0], frame.index[-1], freq="1h")
    return np.ascontiguousarray(frame.reindex(grid).to_numpy().T[:, -last:])


def test_calm_and_turbulent_regimes_differ_out_of_sample(shared_data: Path) -> None:
    close = _closes(shared_data, ("BTC", "ETH", "SOL"), last=3000)
    model = fit_regimes(close[:, :2000], seed=0)
    posterior = model.posterior(close)
    stream = model.filter()
    rows = np.array([stream.update(close[:, t]) for t in range(close.shape[1])])
    assert rows.tobytes() == posterior.tobytes()
    # held out: bars 2000.. ; the market's realised volatility over the next 24 bars
    steps = np.diff(np.log(close), axis=1).mean(axis=0)
    label = posterior.argmax(axis=1)
    future = np.array([steps[t : t + 24].std() for t in range(2000, close.shape[1] - 24)])
    held = label[2000 : close.shape[1] - 24]
    turbulent = np.isin(held, [REGIME_LABELS.index("high_vol"), REGIME_LABELS.index("stress")])
    assert turbulent.any()
    assert (~turbulent).any()
    assert future[turbulent].mean() > future[~turbulent].mean()
    score = score_regimes(model, close[:, 2000 - model.window :])
    assert score.observed_bars == 1000
    assert np.isfinite(score.score)
