"""Stage 4, the out-of-fold table: every model's and baseline's predictions on test blocks.

:class:`OofTable` is what the walk-forward fits produce and what the rest of the run reads:
the metric package and the choice of the served model, the ``oof.csv`` artifact, and (later)
a stacking meta-learner, which fits on these predictions and nothing else.
"""

from __future__ import annotations

import io
from typing import Any

import attrs
import numpy as np

from quant_models._metrics import ScoreCard, score
from quant_models._panel import FloatArray
from quant_models.training._config import TrainConfig
from quant_models.training._data import IntArray

__all__ = ["OofBlock", "OofTable"]


@attrs.frozen(eq=False)
class OofBlock:
    """One model's (or baseline's) predictions on one fold's test block at one horizon.

    Attributes:
        model: ``family/scope`` (e.g. ``"lightgbm/global"``) or a baseline's name.
        horizon_bars: the horizon.
        fold: the walk-forward fold's index.
        symbol_rows: the panel row of each prediction's coin.
        time_rows: the grid bar of each prediction.
        p: the calibrated probability of an up move.
        y: the realised direction (1 up, 0 down).
        forward_return: the realised log return over the horizon.
        climatology: the climatology baseline's probability (the skill reference).
    """

    model: str
    horizon_bars: int
    fold: int
    symbol_rows: IntArray
    time_rows: IntArray
    p: FloatArray
    y: FloatArray
    forward_return: FloatArray
    climatology: FloatArray

    def where(self, keep: Any) -> OofBlock:
        """The block's rows where ``keep`` (a boolean mask or index) selects."""
        return OofBlock(
            self.model,
            self.horizon_bars,
            self.fold,
            self.symbol_rows[keep],
            self.time_rows[keep],
            self.p[keep],
            self.y[keep],
            self.forward_return[keep],
            self.climatology[keep],
        )


@attrs.frozen(eq=False)
class OofTable:
    """The out-of-fold predictions of a run, block by block in the order they were fit.

    Attributes:
        symbols: the panel's coins (``OofBlock.symbol_rows`` index them).
        open_times_ns: the panel's grid (``OofBlock.time_rows`` index it).
        blocks: fold by fold, horizon by horizon: the baselines, then every family and scope.
    """

    symbols: tuple[str, ...]
    open_times_ns: IntArray
    blocks: tuple[OofBlock, ...]

    def models(self, horizon_bars: int) -> list[str]:
        """The models and baselines with predictions at ``horizon_bars``, sorted."""
        return sorted({b.model for b in self.blocks if b.horizon_bars == horizon_bars})

    def select(self, model: str, horizon_bars: int) -> list[OofBlock]:
        """``model``'s blocks at ``horizon_bars``, in fold order."""
        return [b for b in self.blocks if b.model == model and b.horizon_bars == horizon_bars]

    def to_csv(self) -> bytes:
        """The ``oof.csv`` artifact: one line per prediction, floats to 17 digits."""
        # a file format: its column order and number formatting are part of the artifact hash
        out = io.StringIO()
        out.write("fold,horizon_bars,model,symbol,open_time_ns,p,y,forward_return,climatology\n")
        symbols, times = self.symbols, self.open_times_ns
        for b in self.blocks:
            columns = (b.symbol_rows, b.time_rows, b.p, b.y, b.forward_return, b.climatology)
            for s, t, p, y, f, c in zip(*columns, strict=True):
                out.write(
                    f"{b.fold},{b.horizon_bars},{b.model},{symbols[s]},{int(times[t])},"
                    f"{p:.17g},{int(y)},{f:.17g},{c:.17g}\n"
                )
        return out.getvalue().encode("utf-8")


def score_blocks(blocks: list[OofBlock], config: TrainConfig) -> ScoreCard:
    """The pooled score card of ``blocks`` (with the run's threshold and fee)."""
    cat = {
        name: np.concatenate([getattr(b, name) for b in blocks])
        for name in ("p", "y", "forward_return", "climatology")
    }
    return score(
        cat["p"],
        cat["y"],
        cat["forward_return"],
        climatology=cat["climatology"],
        threshold=config.threshold,
        fee=config.fee,
    )


def oos_metrics(
    table: OofTable, config: TrainConfig
) -> tuple[dict[str, Any], dict[int, str], dict[tuple[str, int], ScoreCard]]:
    """The out-of-sample metric package, the served model per horizon and the pooled cards.

    Per horizon and model: the pooled card, one per fold and one per coin. The served model
    is the candidate (a ``family/scope``, not a baseline) with the lowest pooled log loss.
    """
    oos: dict[str, Any] = {}
    served: dict[int, str] = {}
    cards: dict[tuple[str, int], ScoreCard] = {}
    for spec in config.horizons:
        h = spec.bars
        block: dict[str, Any] = {}
        for key in table.models(h):
            rows = table.select(key, h)
            cards[(key, h)] = score_blocks(rows, config)
            every = np.concatenate([r.symbol_rows for r in rows])
            per_symbol = {
                table.symbols[s]: score_blocks(
                    [r.where(r.symbol_rows == s) for r in rows], config
                ).as_dict()
                for s in np.unique(every).tolist()
            }
            block[key] = {
                "pooled": cards[(key, h)].as_dict(),
                "folds": [score_blocks([r], config).as_dict() for r in rows],
                "symbols": per_symbol,
            }
        oos[f"h{h}"] = block
        candidates = [k for k in block if "/" in k]
        served[h] = min(candidates, key=lambda k: (cards[(k, h)].log_loss, k))
    return oos, served, cards
