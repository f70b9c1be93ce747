"""The model card: every model's out-of-sample quality, per horizon, with honest intervals.

:func:`model_card` reads an :class:`~quant_models.training.OofTable` (what a training run's
walk-forward folds predicted on their test blocks, ``oof.csv`` on disk; :func:`read_oof`
reads that file back) and gives, per horizon and per model or baseline:

* the pooled **Brier skill score** against each coin's training up-rate, with a **95%
  block-bootstrap interval**: the test span is cut into blocks of ``block_ns`` (30 days by
  default, aligned to the Unix epoch; all coins of a block stay together, so the cross-coin
  correlation of a market move is kept), and whole blocks are resampled ``draws`` times with
  a seeded generator (:func:`~quant_models.evaluation.block_bootstrap_bss`, as the run
  record's ensemble evidence does);
* the share of blocks in which the model beat the climatology;
* **AUC** (how well the probabilities rank up moves above down moves; 0.5 is no skill);
* **ECE** (expected calibration error, 10 bins);
* the deterministic **long-only simulation after fees** (long one unit whenever
  ``p >= threshold``, paying ``fee`` per side, Kraken's taker fee by default): trades,
  exposure and the total and per-trade net log return.

``coins`` restricts the card to some coins (e.g. coins held out of training, reported
separately). The card is plain data: :meth:`ModelCard.to_json` gives canonical JSON (the same
bytes in any process), :meth:`ModelCard.to_markdown` the human table.

Examples:
    >>> import numpy as np
    >>> from quant_models.training import OofBlock, OofTable
    >>> rng = np.random.default_rng(0)
    >>> n = 400
    >>> y = (rng.random(n) < 0.5).astype(float)
    >>> p = np.clip(0.5 + 0.2 * (y - 0.5) + rng.normal(0, 0.1, n), 0.01, 0.99)
    >>> block = OofBlock("lightgbm/global", 1, 0, np.zeros(n, dtype=np.int64),
    ...                  np.arange(n), p, y, rng.normal(0, 0.01, n), np.full(n, 0.5))
    >>> table = OofTable(("BTC",), np.arange(n) * 3_600 * 10**9, (block,))
    >>> card = model_card(table, block_ns=24 * 3_600 * 10**9, draws=200)
    >>> row = card.rows[0]
    >>> row.model, row.n, row.bss_low < row.bss < row.bss_high, row.auc > 0.5
    ('lightgbm/global', 400, True, True)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import pandas as pd

from quant_core import canonical_json, unstructure
from quant_models._errors import ConfigError, DataError
from quant_models._metrics import expected_calibration_error, simulate_long_only
from quant_models.training import OofBlock, OofTable
from quant_models.training._evidence import auc, block_bootstrap_bss

__all__ = ["CardRow", "ModelCard", "model_card", "read_oof"]

_DAY_NS = 86_400 * 10**9
_OOF_COLUMNS = (
    "fold",
    "horizon_bars",
    "model",
    "symbol",
    "open_time_ns",
    "p",
    "y",
    "forward_return",
    "climatology",
)


@attrs.frozen
class CardRow:
    """One model's (or baseline's) out-of-sample record at one horizon.

    Attributes:
        horizon_bars: the horizon.
        model: ``family/scope`` or a baseline's name.
        n: scored predictions.
        bss: pooled Brier skill score vs the climatology.
        bss_low: the 2.5% quantile of the block-bootstrap BSS.
        bss_high: the 97.5% quantile.
        blocks_positive: blocks in which the model's Brier score beat the climatology's.
        blocks: blocks in the test span.
        auc: area under the ROC curve (0.5 when only one outcome occurred).
        ece: expected calibration error (10 bins).
        trades: decision points at which the simulation was long.
        exposure: share of decision points in the market.
        net_return: total net log return of the simulation after fees.
        net_per_trade: mean net log return per trade (0 without trades).
    """

    horizon_bars: int
    model: str
    n: int
    bss: float
    bss_low: float
    bss_high: float
    blocks_positive: int
    blocks: int
    auc: float
    ece: float
    trades: int
    exposure: float
    net_return: float
    net_per_trade: float


@attrs.frozen
class ModelCard:
    """The card: its settings and one :class:`CardRow` per horizon and model.

    Attributes:
        coins: the coins scored (all the table's coins unless restricted).
        fee: fee per side in the simulation.
        threshold: the simulation's entry probability.
        block_ns: bootstrap block length.
        draws: bootstrap draws.
        seed: the bootstrap generator's root seed.
        rows: by horizon, then model name.
    """

    coins: tuple[str, ...]
    fee: float
    threshold: float
    block_ns: int
    draws: int
    seed: int
    rows: tuple[CardRow, ...]

    def row(self, horizon_bars: int, model: str) -> CardRow:
        """The row of ``model`` at ``horizon_bars``.

        Raises:
            KeyError: no such row.
        """
        for r in self.rows:
            if (r.horizon_bars, r.model) == (horizon_bars, model):
                return r
        raise KeyError((horizon_bars, model))

    def to_json(self) -> bytes:
        """Canonical JSON; floats rounded to 12 significant digits for stable text."""
        return canonical_json(unstructure(_rounded(self))) + b"\n"

    def to_markdown(self, title: str = "Model card") -> str:
        """A Markdown page: settings, then one table row per horizon and model."""
        days = self.block_ns / _DAY_NS
        lines = [
            f"# {title}",
            "",
            (
                f"Out-of-sample, walk-forward. Coins ({len(self.coins)}):"
                f" {', '.join(self.coins)}. BSS against each coin's training up-rate, with a"
                f" 95% interval from resampling whole {days:g}-day blocks ({self.draws} draws,"
                f" seed {self.seed}). Simulation: long one unit when p >= {self.threshold:g},"
                f" {self.fee:.2%} fee per side."
            ),
            "",
            (
                "| horizon | model | n | BSS [95% CI] | blocks BSS > 0 | AUC | ECE | trades |"
                " exposure | net log return | per trade |"
            ),
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.horizon_bars}h | {r.model} | {r.n} |"
                f" {r.bss:+.4f} [{r.bss_low:+.4f}, {r.bss_high:+.4f}] |"
                f" {r.blocks_positive}/{r.blocks} | {r.auc:.4f} | {r.ece:.4f} | {r.trades} |"
                f" {r.exposure:.1%} | {r.net_return:+.4f} | {r.net_per_trade:+.5f} |"
            )
        return "\n".join(lines) + "\n"


def _round(value: float) -> float:
    return float(f"{value:.12g}")


def _rounded(card: ModelCard) -> ModelCard:
    def row(r: CardRow) -> CardRow:
        floats: dict[str, Any] = {
            k: _round(v) for k, v in attrs.asdict(r).items() if isinstance(v, float)
        }
        return attrs.evolve(r, **floats)

    return attrs.evolve(card, rows=tuple(row(r) for r in card.rows))


def _concat(blocks: Sequence[OofBlock], keep_symbols: set[int] | None) -> dict[str, Any]:
    cols = {
        k: np.concatenate([getattr(b, k) for b in blocks])
        for k in ("symbol_rows", "time_rows", "p", "y", "forward_return", "climatology")
    }
    if keep_symbols is not None:
        mask = np.isin(cols["symbol_rows"], sorted(keep_symbols))
        cols = {k: v[mask] for k, v in cols.items()}
    return cols


def model_card(
    table: OofTable,
    *,
    coins: Sequence[str] | None = None,
    fee: float = 0.0026,
    threshold: float = 0.55,
    block_ns: int = 30 * _DAY_NS,
    draws: int = 2000,
    seed: int = 0,
) -> ModelCard:
    """Score every model and baseline of ``table`` out of sample (see the module docstring).

    Args:
        table: a run's out-of-fold predictions.
        coins: score only these coins (all of the table's by default).
        fee: fee per side in the simulation (0.26%: Kraken's taker fee).
        threshold: the simulation goes long when ``p >= threshold``.
        block_ns: bootstrap block length in nanoseconds.
        draws: bootstrap draws.
        seed: root seed of the bootstrap's generator.

    Raises:
        ConfigError: a coin the table does not hold, a non-positive block or draw count, or
            a fee or threshold outside [0, 1).
        DataError: nothing to score (no predictions for the chosen coins).
    """
    if block_ns <= 0 or draws <= 0:
        raise ConfigError(f"block_ns and draws must be positive, got {block_ns} and {draws}")
    if not (0.0 <= fee < 1.0 and 0.0 <= threshold < 1.0):
        raise ConfigError(f"fee and threshold must lie in [0, 1), got {fee} and {threshold}")
    keep: set[int] | None = None
    chosen = tuple(table.symbols)
    if coins is not None:
        unknown = sorted(set(coins) - set(table.symbols))
        if unknown:
            raise ConfigError(f"coins {unknown} are not in the out-of-fold table")
        keep = {table.symbols.index(c) for c in coins}
        chosen = tuple(c for c in table.symbols if c in set(coins))
    horizons = sorted({b.horizon_bars for b in table.blocks})
    rows = []
    for h in horizons:
        for name in table.models(h):
            cols = _concat(table.select(name, h), keep)
            if len(cols["p"]) == 0:
                continue
            rows.append(_row(table, h, name, cols, fee, threshold, block_ns, draws, seed))
    if not rows:
        raise DataError("no out-of-sample predictions to score for the chosen coins")
    return ModelCard(chosen, fee, threshold, block_ns, draws, seed, tuple(rows))


def _row(
    table: OofTable,
    h: int,
    name: str,
    cols: dict[str, Any],
    fee: float,
    threshold: float,
    block_ns: int,
    draws: int,
    seed: int,
) -> CardRow:
    p, y, clim = cols["p"], cols["y"], cols["climatology"]
    err_model, err_clim = (p - y) ** 2, (clim - y) ** 2
    times = table.open_times_ns[cols["time_rows"]]  # blocks aligned to the epoch
    boot = block_bootstrap_bss(p, y, clim, times, block=block_ns, draws=draws, seed=seed)
    index = np.unique(times // block_ns, return_inverse=True)[1]
    won = np.bincount(index, weights=err_model) < np.bincount(index, weights=err_clim)
    sim = simulate_long_only(p, cols["forward_return"], threshold=threshold, fee=fee)
    return CardRow(
        horizon_bars=h,
        model=name,
        n=len(p),
        bss=boot["bss"],
        bss_low=boot["low"],
        bss_high=boot["high"],
        blocks_positive=int(won.sum()),
        blocks=len(won),
        auc=auc(p, y),
        ece=expected_calibration_error(p, y),
        trades=sim.trades,
        exposure=sim.exposure,
        net_return=sim.total_net_return,
        net_per_trade=sim.mean_net_return,
    )


def read_oof(data: bytes) -> OofTable:
    r"""An :class:`~quant_models.training.OofTable` from the bytes of a run's ``oof.csv``.

    Coins keep their order of first appearance; the grid is the sorted distinct open times.

    Raises:
        DataError: not an ``oof.csv`` (missing columns, unreadable numbers).

    Examples:
        >>> text = (b"fold,horizon_bars,model,symbol,open_time_ns,p,y,forward_return,"
        ...         b"climatology\n0,1,lightgbm/global,BTC,0,0.6,1,0.01,0.5\n")
        >>> table = read_oof(text)
        >>> table.symbols, table.models(1)
        (('BTC',), ['lightgbm/global'])
    """
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype={"model": str, "symbol": str})
        missing = [c for c in _OOF_COLUMNS if c not in frame.columns]
        if missing:
            raise DataError(f"not an oof.csv: missing columns {missing}")
        times = np.unique(frame["open_time_ns"].to_numpy(np.int64))
        symbols = tuple(dict.fromkeys(frame["symbol"]))
        sym_index = {s: i for i, s in enumerate(symbols)}
        blocks = []
        keys = ["fold", "horizon_bars", "model"]
        for key, group in frame.groupby(keys, sort=False):
            fold, h, name = (str(k) for k in key)
            blocks.append(
                OofBlock(
                    name,
                    int(h),
                    int(fold),
                    group["symbol"].map(sym_index).to_numpy(np.int64),
                    np.searchsorted(times, group["open_time_ns"].to_numpy(np.int64)),
                    group["p"].to_numpy(np.float64),
                    group["y"].to_numpy(np.float64),
                    group["forward_return"].to_numpy(np.float64),
                    group["climatology"].to_numpy(np.float64),
                )
            )
    except (ValueError, TypeError) as exc:
        raise DataError(f"not an oof.csv: {exc}") from exc
    return OofTable(symbols, times, tuple(blocks))
