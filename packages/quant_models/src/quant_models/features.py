"""Causal, multi-scale features over a (coins x time) panel, with a declared, hashed schema.

Every feature at grid bar ``t`` is computed at that bar's close from bars ``<= t`` only; the
leakage tests perturb every bar after ``t`` and check nothing at ``<= t`` moves.

How the pass is computed:

* **One float32 output array.** Every feature is written straight into one preallocated
  float32 array ``(features, symbols, times)``; :attr:`FeatureSet.values` is a
  ``(symbols, times, features)`` view of it. float32 is what XGBoost works in and what
  LightGBM bins anyway, and it halves the memory the pass writes; the schema declares it
  (:attr:`FeatureSchema.dtype`, part of the schema hash).
* **float64 where a difference cancels, float32 after.** Log prices, returns, running sums,
  window sums and the sum of squared deviations (sum of squares minus squared sum) are
  float64; each result is rounded to float32 once, and the steps that follow a cancellation
  (clipping, scaling, square roots, the z-score division, ``log1p`` of the small ratio
  ``(close - mean) / mean``) are done in float32. Every value agrees with a float64 pandas
  computation to a relative 1e-5 (in practice a few 1e-7).
* **Blocked running sums.** A rolling sum is a difference of running sums. The running sums
  restart every 2,048 bars, and for means and standard deviations each block is first
  shifted by its own first finite value, so float64 keeps its digits on multi-year series
  whose prices drift far (a window that reaches into the previous block is re-centred
  exactly). Inside a block they are computed
  16 bars at a time as one matrix product with a triangular matrix of ones, plus the running
  total of the 16-bar groups: a BLAS call and two cheap passes, where ``cumsum`` is a strictly
  sequential loop. Means, standard deviations and z-scores then come from the sums of ``x``
  and ``x**2``, a few vectorised passes per window.
* **Missing values.** A ``NaN`` or infinite value counts as missing: a window that holds one
  gives ``NaN``, as pandas ``rolling(w)`` does, and the other windows keep their values
  (so a broken bar after ``t`` cannot move anything at ``t``). The sums are first taken as if
  every value were present; a missing value shows as a non-finite block total, and only then
  are the missing values found and zeroed and the sums taken again.
* **Chunks and threads.** The log closes of every coin and the market and reference returns
  are computed first (the market a slab of bars at a time); then every feature is computed
  a few coins at a time, so the work arrays stay in the CPU cache, and the chunks are spread
  over ``workers`` threads (numpy releases the GIL while it computes). Each chunk writes only
  its own rows, so the values are the same bytes for any number of threads.

What it measures: ``benchmarks/bench_features.py`` times this pass for 30 coins x 17,520
hourly bars (two years, the 21 default features) against the same features written with pandas
``groupby("symbol").rolling(w)`` in float64, after checking that both give the same numbers
(relative tolerance 1e-5, the float32 one), timing the contenders in turns and keeping the
best of five runs of each; it prints ``ratio`` (pandas time / quant time, one thread) and
``ratio_two_threads``. On the shared 2-core development machine the pass takes 43-46 ms
against 0.45-0.48 s for pandas (10.0x to 10.9x, medians of three runs 10.2x to 10.75x,
depending on what else runs; it was 8.4x with a float64 matrix). About
6 ms of it is the operating system handing over and zeroing the 44 MB output array; most of
the rest is float64 arithmetic on cached chunks. A second thread takes half of the chunks,
but on that machine (whose other core was always busy) two threads were no faster.

Families (window lengths in bars, from :class:`FeatureConfig`):

* ``ret_w`` log return over ``w`` bars; ``vol_w`` rolling std of 1-bar log returns;
* ``range_1`` log(high/low) and ``range_w`` its rolling mean; ``volz_w`` z-score of
  log(1 + volume);
* trend / mean reversion: ``sma_w`` log distance of the close from its ``w``-bar mean,
  ``zclose_w`` the close's z-score in its window;
* cross-asset: ``ref_ret_w`` the reference coin's (BTC) return, ``mkt_ret_w`` the
  equal-weight market return, ``rel_ret_w`` the coin's return minus the market's;
* calendar: ``hour`` and ``weekday`` of the bar close.

Examples:
    >>> from quant_core import Bar, Instrument, Timeframe
    >>> h = Timeframe.H1.ns
    >>> bars = [Bar(Instrument("BTC", "USD"), "1h", i * h, 100 + i, 101 + i, 99 + i, 100 + i, 1)
    ...         for i in range(30)]
    >>> cfg = FeatureConfig(return_windows=(1, 4), vol_windows=(4,), range_windows=(4,),
    ...                     volume_windows=(4,), trend_windows=(4,), cross_windows=(1,))
    >>> fs = compute_features(Panel.from_bars(bars), cfg)
    >>> fs.values.shape == (1, 30, len(fs.schema.names))
    True
    >>> round(float(fs.column("ret_1")[0, 5]), 6) == round(float(np.log(105 / 104)), 6)
    True
    >>> fs.schema.schema_hash.startswith("sha256:")
    True
"""

from __future__ import annotations

import os
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import content_hash, unstructure
from quant_models.errors import ConfigError
from quant_models.panel import FloatArray, Panel

__all__ = [
    "DEFAULT_WORKERS",
    "FEATURE_DTYPE",
    "FEATURE_SCHEMA_VERSION",
    "FeatureConfig",
    "FeatureSchema",
    "FeatureSet",
    "compute_features",
    "rolling_mean",
    "rolling_std",
    "rolling_sum",
]

FEATURE_SCHEMA_VERSION = "quant.features/2"

FEATURE_DTYPE = np.float32
"""The dtype of the feature matrix (declared in every :class:`FeatureSchema`)."""

Float32Array = npt.NDArray[np.float32]

DEFAULT_WORKERS = 1
"""Threads :func:`compute_features` uses by default.

One: on the shared 2-core machine this is developed on, a second thread never made the pass
faster (see the module notes); pass ``workers`` where cores are known to be idle.
"""


def _windows(value: Any) -> tuple[int, ...]:
    return tuple(int(v) for v in value)


@attrs.frozen
class FeatureConfig:
    """Which windows (in bars) each feature family uses.

    Attributes:
        return_windows: log-return lookbacks.
        vol_windows: realised-volatility windows.
        range_windows: windows of the mean high/low range.
        volume_windows: windows of the log-volume z-score.
        trend_windows: windows of the distance from the moving average and the close z-score.
        cross_windows: lookbacks of the reference-coin and market returns.
        reference_symbol: the coin whose moves are cross-asset context for every coin.
        calendar: add hour-of-day and weekday of the bar close.
    """

    return_windows: tuple[int, ...] = attrs.field(default=(1, 4, 24, 72), converter=_windows)
    vol_windows: tuple[int, ...] = attrs.field(default=(24, 72), converter=_windows)
    range_windows: tuple[int, ...] = attrs.field(default=(24,), converter=_windows)
    volume_windows: tuple[int, ...] = attrs.field(default=(24,), converter=_windows)
    trend_windows: tuple[int, ...] = attrs.field(default=(24, 72), converter=_windows)
    cross_windows: tuple[int, ...] = attrs.field(default=(1, 24), converter=_windows)
    reference_symbol: str = "BTC"
    calendar: bool = True

    def __attrs_post_init__(self) -> None:
        for name in (
            "return_windows",
            "vol_windows",
            "range_windows",
            "volume_windows",
            "trend_windows",
            "cross_windows",
        ):
            values = getattr(self, name)
            if any(w < 1 for w in values) or list(values) != sorted(set(values)):
                raise ConfigError(f"{name} must be positive, ascending and unique, got {values}")
        if any(w < 2 for w in (*self.vol_windows, *self.volume_windows, *self.trend_windows)):
            raise ConfigError("volatility, volume and trend windows need at least 2 bars")

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names in column order."""
        names = [f"ret_{w}" for w in self.return_windows]
        names += [f"vol_{w}" for w in self.vol_windows]
        names += ["range_1", *(f"range_{w}" for w in self.range_windows)]
        names += [f"volz_{w}" for w in self.volume_windows]
        names += [f"sma_{w}" for w in self.trend_windows]
        names += [f"zclose_{w}" for w in self.trend_windows]
        names += [f"ref_ret_{w}" for w in self.cross_windows]
        names += [f"mkt_ret_{w}" for w in self.cross_windows]
        names += [f"rel_ret_{w}" for w in self.cross_windows]
        if self.calendar:
            names += ["hour", "weekday"]
        return tuple(names)

    @property
    def warmup(self) -> int:
        """Bars of history needed before every feature is defined (the longest lookback)."""
        return max(
            (
                *self.return_windows,
                *(w + 1 for w in self.vol_windows),
                *self.range_windows,
                *self.volume_windows,
                *self.trend_windows,
                *self.cross_windows,
                1,
            )
        )


@attrs.frozen
class FeatureSchema:
    """The declared feature schema: names, their configuration and the schema hash.

    Attributes:
        version: :data:`FEATURE_SCHEMA_VERSION`.
        timeframe: bar length the windows are counted in.
        names: feature columns, in order.
        config: the :class:`FeatureConfig` as plain data.
        schema_hash: content hash of the fields above.
        dtype: the dtype of the feature values (``"float32"`` since ``quant.features/2``; a
            schema saved before that has none and reads as ``"float64"``), part of the hash.
    """

    version: str
    timeframe: str
    names: tuple[str, ...]
    config: dict[str, Any]
    schema_hash: str
    dtype: str = "float64"  # (what a schema saved before quant.features/2, without one, meant)

    @classmethod
    def of(cls, config: FeatureConfig, timeframe: str) -> FeatureSchema:
        """The schema of ``config`` applied to bars of ``timeframe``."""
        body = {
            "version": FEATURE_SCHEMA_VERSION,
            "timeframe": timeframe,
            "names": list(config.names),
            "dtype": np.dtype(FEATURE_DTYPE).name,
            "config": unstructure(config),
        }
        return cls(
            FEATURE_SCHEMA_VERSION,
            timeframe,
            config.names,
            unstructure(config),
            content_hash(body),
            np.dtype(FEATURE_DTYPE).name,
        )


@attrs.frozen(eq=False)
class FeatureSet:
    """Computed features: ``values[symbol, time, feature]`` (float32) on the panel's grid."""

    schema: FeatureSchema
    panel: Panel
    values: Float32Array

    def column(self, name: str) -> Float32Array:
        """One feature as a ``(symbols, times)`` array."""
        return self.values[:, :, self.schema.names.index(name)]


# Running sums restart every ``_BLOCK`` bars (or the longest window, if longer): the error of a
# window sum taken as a difference of running sums then grows with the block, not with the
# length of the series, so plain float64 stays accurate on multi-year panels.
_BLOCK = 2048
# Elements per chunk of coins for the per-coin features (keeps the scratch arrays in cache).
_CHUNK = 1 << 16
# Running sums are taken in groups of this many bars (a block is a whole number of groups).
_GROUP = 16
_TRIU = np.triu(np.ones((_GROUP, _GROUP)))
_TRIU.flags.writeable = False


def _shift_diff(x: FloatArray, w: int, out: FloatArray) -> FloatArray:
    """``x[t] - x[t - w]`` along axis 1 (``NaN`` for ``t < w``), written into ``out``."""
    out[:, : min(w, x.shape[1])] = np.nan
    np.subtract(x[:, w:], x[:, :-w], out=out[:, w:])
    return out


class _Scratch:
    """Reusable work arrays: the chunks of coins of one feature pass share the same buffers."""

    def __init__(self) -> None:
        self._arrays: dict[str, npt.NDArray[Any]] = {}

    def take(self, name: str, shape: tuple[int, ...], dtype: type[Any] = np.float64) -> Any:
        """The work array ``name`` with ``shape`` and ``dtype`` (contents undefined)."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape:
            array = self._arrays[name] = np.empty(shape, dtype)
        return array


def _running_sums(
    source: FloatArray, out: FloatArray, block: int, scratch: _Scratch, *, fallback: bool = True
) -> bool:
    """Running sums of ``source`` along axis 1 that restart every ``block`` bars, into ``out``.

    ``source`` is ``(rows, m)`` and ``out`` ``(rows, width)`` with ``m <= width``, ``width`` a
    multiple of ``block`` and ``block`` of :data:`_GROUP`; columns of ``out`` from ``m`` on are
    left over and meaningless. The sums inside each group of :data:`_GROUP` bars are one
    matrix product with an upper-triangular matrix of ones, and each group then adds the
    running total of the groups before it in its block: one BLAS call and two cheap passes
    instead of a strictly sequential ``cumsum`` (the rounding differs only in the last bits).
    Values ``<= t`` only reach the sum at ``t``. A non-finite value, which a product with
    the zeros of the matrix would spread to the earlier bars of its group, sends the whole
    array to the sequential ``cumsum`` instead, or, without ``fallback``, makes it return
    ``False`` at once (callers then find the missing values, zero them and try again, so
    only an overflow reaches the fallback). Returns whether the fast sums were finite.
    """
    rows, width = out.shape
    m = source.shape[1]
    groups = out.reshape(rows, width // _GROUP, _GROUP)
    if m % _GROUP:
        padded = scratch.take("prefix_in", out.shape)
        np.copyto(padded[:, :m], source)
        padded[:, m:] = 0.0
        source, m = padded, width
    with np.errstate(invalid="ignore", over="ignore"):  # (non-finite results: see below)
        np.matmul(source.reshape(rows, m // _GROUP, _GROUP), _TRIU, out=groups[:, : m // _GROUP])
    groups[:, m // _GROUP :] = 0.0
    per_block = block // _GROUP
    by_block = groups.reshape(rows, width // block, per_block, _GROUP)
    # each group's carry: the total of the groups before it in its block
    carry = scratch.take("carry", (rows, width // block, per_block))
    carry[:, :, 0] = 0.0
    np.cumsum(by_block[:, :, :-1, -1], axis=2, out=carry[:, :, 1:])
    if not np.isfinite(carry[:, :, -1] + by_block[:, :, -1, -1]).all():  # (or an overflow)
        if not fallback:
            return False
        np.copyto(out[:, :m], source)
        with np.errstate(over="ignore", invalid="ignore"):
            np.cumsum(out.reshape(rows, -1, block), axis=2, out=out.reshape(rows, -1, block))
        return False
    groups += carry.reshape(rows, -1, 1)
    return True


class _Windows:
    """Trailing window sums of one ``(symbols, times)`` series, for any window up to ``longest``.

    The running sums restart every block (and, with ``squares``, so do those of the squared
    series); they are computed once and shared by every window. With ``centred`` each block is
    first shifted by its own first present value — the sums then describe ``x - centre`` and a
    window reaching back into the previous block is re-centred exactly, so sums of squares stay
    small and variances keep their digits even when prices drift far over the years. A
    ``NaN`` or infinite value counts as missing: a window that holds one gives ``NaN``, like
    pandas ``rolling(w)``; the other sums keep their values, so a missing value after
    ``t`` cannot move anything at ``t``. Every sum at ``t`` uses values ``<= t`` only (a
    block's centre can come from a later bar only when every bar up to ``t`` in the block is
    missing, and then the window at ``t`` is ``NaN`` anyway).
    """

    def __init__(
        self,
        y: FloatArray,
        longest: int,
        *,
        lead: int = 0,
        plain: bool = True,
        squares: bool = False,
        centred: bool = False,
        scratch: _Scratch | None = None,
    ) -> None:
        scratch = scratch or _Scratch()
        self.n = n = y.shape[1]
        block = max(min(_BLOCK, n), longest, 1)
        self.block = -(-block // _GROUP) * _GROUP
        # ``lead``: leading bars known to be missing on every row (a difference's warm-up);
        # any other missing value is tracked by a running count of missing bars
        self.lead = lead = min(lead, n)
        self.missing_run: npt.NDArray[np.int32] | None = None
        # first as if every value were present: a missing value (or an overflow) shows in the
        # running sums' block totals, and only then are the missing values found and zeroed
        if self._accumulate(y, None, plain, squares, centred, scratch, careful=False):
            return
        missing: npt.NDArray[np.bool_] | None = ~np.isfinite(y)
        assert missing is not None
        if missing[:, lead:].any():
            self.missing_run = np.cumsum(missing, axis=1, dtype=np.int32)
        else:  # an overflow: the running sums fall back to the sequential sum
            missing = None
        self._accumulate(y, missing, plain, squares, centred, scratch, careful=True)

    def _accumulate(
        self,
        y: FloatArray,
        missing: npt.NDArray[np.bool_] | None,
        plain: bool,
        squares: bool,
        centred: bool,
        scratch: _Scratch,
        *,
        careful: bool,
    ) -> bool:
        """Centre ``y``, zero its missing values and take the running sums.

        Returns ``False`` (unless ``careful``) as soon as a running sum is not finite.
        """
        rows, n = y.shape
        block, lead = self.block, self.lead
        n_blocks = -(-n // block)
        self.centres = None
        if centred and missing is None and lead == 0:  # each block's first bar is present
            self.centres = y[:, ::block, None].copy()
        elif centred:
            self.centres = self._centres(y, n_blocks, block)
        shape = (rows, n_blocks, block)
        width = n_blocks * block
        source = y  # what the running sums add up: y itself when it needs no cleaning
        if self.centres is not None or missing is not None or (plain and lead):
            head = scratch.take("source", (rows, width))[:, :n]
            for k in range(n_blocks):
                part = slice(k * block, (k + 1) * block)
                if self.centres is None:
                    np.copyto(head[:, part], y[:, part])
                else:
                    np.subtract(y[:, part], self.centres[:, k, :], out=head[:, part])
            if missing is not None:
                head[missing] = 0.0
            head[:, :lead] = 0.0
            source = head
        self.shifted = source  # y minus its block's centre, missing values as 0
        self.squares: FloatArray | None = None
        self.sums: FloatArray | None = None
        if squares:
            terms = scratch.take("square_terms", (rows, n))
            np.multiply(source, source, out=terms)
            terms[:, :lead] = 0.0
            running = scratch.take("squares", (rows, width))
            if not _running_sums(terms, running, block, scratch, fallback=careful) and not careful:
                return False
            self.squares = running.reshape(shape)
        if plain:
            running = scratch.take("sums", (rows, width))
            if not _running_sums(source, running, block, scratch, fallback=careful) and not careful:
                return False
            self.sums = running.reshape(shape)
        return True

    @staticmethod
    def _centres(y: FloatArray, n_blocks: int, block: int) -> FloatArray:
        """Each block's first finite value per row (0 for a block with none)."""
        rows = y.shape[0]
        centres = np.zeros((rows, n_blocks, 1))
        for k in range(n_blocks):
            part = y[:, k * block : (k + 1) * block]
            first = np.argmax(np.isfinite(part), axis=1)
            value = part[np.arange(rows), first]
            centres[:, k, 0] = np.where(np.isfinite(value), value, 0.0)
        return centres

    def window(self, w: int, out: FloatArray, *, squares: bool = False) -> FloatArray:
        """Write the trailing ``w``-bar sums into ``out`` (``NaN`` until ``w`` bars are present).

        The sums are of ``x - centre`` (and their squares), ``centre`` being the centre of the
        block holding ``t``; :meth:`add_centres` turns a sum of the first kind into the mean.
        """
        running = self.squares if squares else self.sums
        assert running is not None
        rows, n_blocks, block = running.shape
        n = self.n
        flat = running.reshape(rows, n_blocks * block)
        first = min(self.lead + w - 1, n)
        out[:, :first] = np.nan
        if first == n:
            return out
        if first == w - 1:
            out[:, w - 1] = flat[:, w - 1]
        start = max(w, first)
        np.subtract(flat[:, start:n], flat[:, start - w : n - w], out=out[:, start:])
        if n_blocks > 1:
            self._join_blocks(w, out, running, squares)
        if self.missing_run is not None:
            gone = self.missing_run
            bad = np.empty((rows, n - w + 1), dtype=bool)
            np.not_equal(gone[:, w - 1], 0, out=bad[:, 0])
            np.not_equal(gone[:, w:], gone[:, : n - w], out=bad[:, 1:])
            np.copyto(out[:, w - 1 :], np.nan, where=bad)
        return out

    def _join_blocks(self, w: int, out: FloatArray, running: FloatArray, squares: bool) -> None:
        """Fix the windows that reach back into the previous block (all blocks at once).

        Such a window's difference of running sums misses the previous block's total; with
        centring, its part in the previous block is also moved onto this block's centre:
        ``sum (y - d)^2 = sum y^2 - 2 d sum y + m d^2`` for ``m`` bars of ``y`` centred on the
        previous block's centre and ``d`` = this block's centre minus the previous one. The
        affected bars are the first ``w`` of every block after the first.
        """
        rows, n_blocks, block = running.shape
        whole = self.n // block  # complete blocks; a last, partial one is fixed on its own
        if whole > 1:
            bars = out[:, block : whole * block].reshape(rows, whole - 1, block)[:, :, :w]
            self._join(w, bars, running, squares, slice(1, whole))
        if whole < n_blocks:
            start = whole * block
            bars = out[:, start : min(start + w, self.n)][:, None, :]
            self._join(w, bars, running, squares, slice(whole, whole + 1))

    def _join(
        self, w: int, bars: FloatArray, running: FloatArray, squares: bool, blocks: slice
    ) -> None:
        """Fix ``bars``, the first bars (up to ``w``) of ``blocks``, in place."""
        count = bars.shape[2]
        previous = slice(blocks.start - 1, blocks.stop - 1)
        bars += running[:, previous, -1:]  # the previous block's total
        if self.centres is None:
            return
        before = np.arange(w - 1, w - 1 - count, -1, dtype=np.float64)  # bars before the block
        shift = self.centres[:, blocks] - self.centres[:, previous]
        if squares:
            assert self.sums is not None
            sums = self.sums[:, previous]
            part = sums[:, :, -1:] - sums[:, :, self.block - w : self.block - w + count]
            bars += shift * (before * shift - 2.0 * part)
        else:
            bars -= before * shift


def rolling_sum(x: FloatArray, w: int) -> FloatArray:
    """Trailing ``w``-bar sum along axis 1; ``NaN`` unless all ``w`` values are present.

    A ``NaN`` or infinite value counts as missing, as in pandas ``rolling(w).sum()``.

    Examples:
        >>> rolling_sum(np.array([[1.0, 2.0, np.nan, 4.0, 5.0, 6.0]]), 2).tolist()
        [[nan, 3.0, nan, nan, 9.0, 11.0]]
    """
    with np.errstate(over="ignore", invalid="ignore"):  # (sums beyond float64 give inf/NaN)
        return _Windows(x, w).window(w, np.empty_like(x))


def rolling_mean(x: FloatArray, w: int) -> FloatArray:
    """Trailing ``w``-bar mean along axis 1 (``NaN`` if any value in the window is missing)."""
    out = rolling_sum(x, w)
    out /= w
    return out


def rolling_std(x: FloatArray, w: int) -> FloatArray:
    """Trailing ``w``-bar sample standard deviation (ddof 1) along axis 1.

    Each block of the running sums is shifted by its first present value (variance does not
    change; the sums stay small and accurate), so the result at ``t`` still depends on values
    ``<= t`` only.
    """
    sd = np.empty_like(x)
    with np.errstate(over="ignore", invalid="ignore"):
        _Moments(x, w).window(w, np.empty_like(x), sd)
    return sd


def _std32(deviations: FloatArray, w: int, out: Float32Array) -> Float32Array:
    """The sample std from the float64 sum of squared deviations, in float32 into ``out``.

    The subtraction that cancels (sum of squares minus the squared sum) is done in float64 by
    the caller; clipping, scaling and the square root lose nothing in float32.
    """
    np.copyto(out, deviations)
    np.maximum(out, 0.0, out=out)  # (rounding can leave a sum of squares just below 0)
    out *= 1.0 / (w - 1)
    np.sqrt(out, out=out)
    return out


class _Moments:
    """Trailing means and sample standard deviations of one series, sharing its running sums."""

    def __init__(self, x: FloatArray, longest: int, scratch: _Scratch | None = None) -> None:
        scratch = scratch or _Scratch()
        self.sums = _Windows(x, longest, squares=True, centred=True, scratch=scratch)
        self.s1 = scratch.take("s1", x.shape)
        self.tmp = scratch.take("tmp", x.shape)

    def window(self, w: int, mean_out: FloatArray, sd_out: FloatArray) -> None:
        """Write the ``w``-bar mean into ``mean_out`` and the std into ``sd_out``."""
        self.deviations(w, mean_out, sd_out)
        np.maximum(sd_out, 0.0, out=sd_out)
        sd_out *= 1.0 / (w - 1)
        np.sqrt(sd_out, out=sd_out)

    def deviations(self, w: int, mean_out: FloatArray, dev_out: FloatArray) -> None:
        """The ``w``-bar mean of ``x - centre`` and the sum of squared deviations.

        The mean goes into ``mean_out`` and the sum into ``dev_out`` (it can come out a little
        below zero from rounding; callers clip it). ``x - mean`` is then
        ``self.sums.shifted - mean_out``, with no centre to add back.
        """
        s1 = self.sums.window(w, self.s1)
        self.sums.window(w, dev_out, squares=True)
        np.multiply(s1, 1.0 / w, out=mean_out)
        dev_out -= np.multiply(s1, mean_out, out=self.tmp)


def _zscore32(
    x: FloatArray,
    mean: FloatArray,
    sd: Float32Array,
    work: FloatArray,
    diff: Float32Array,
    out: Float32Array,
) -> None:
    """``(x - mean) / sd`` into ``out``; 0 where ``sd`` is 0, ``NaN`` where ``sd`` is ``NaN``.

    ``x`` and ``mean`` may both be shifted by the same centre. The difference, which cancels,
    is taken in float64 and left in ``diff`` (rounded to float32); the division is in float32.
    """
    np.subtract(x, mean, out=work)
    np.copyto(diff, work)
    np.divide(diff, sd, out=out)
    if np.fmin.reduce(sd, axis=None) == 0.0:  # (cheap check; fmin skips the NaN warm-up)
        out[sd == 0.0] = 0.0


def _coin_features(
    config: FeatureConfig,
    bars: tuple[FloatArray, ...],
    log_close: FloatArray,
    col: dict[str, Float32Array],
    scratch: _Scratch,
) -> dict[int, FloatArray]:
    """Every per-coin feature of some rows of the panel into ``col`` (float32).

    Work is float64 wherever a difference cancels (log prices, returns, window sums and the
    variance); each result is rounded to float32 once, and what follows a cancellation
    (scaling, square roots, divisions) is done in float32. Returns the float64 returns of
    the return and cross-asset windows (work arrays).
    """
    close, high, low, volume = bars
    shape = close.shape
    work, mean, tmp = (scratch.take(name, shape) for name in ("work", "mean", "tmp64"))
    sd32, diff32, mean32 = (scratch.take(n, shape, np.float32) for n in ("sd", "diff", "mean"))

    returns: dict[int, FloatArray] = {}
    for w in sorted({*config.return_windows, *config.cross_windows}):
        returns[w] = _shift_diff(log_close, w, scratch.take(f"ret_{w}", shape))
        if w in config.return_windows:
            np.copyto(col[f"ret_{w}"], returns[w])
    if config.vol_windows:
        # the window sum of 1-bar log returns is the w-bar log return: only squares are needed
        ret1 = returns[1] if 1 in returns else _shift_diff(log_close, 1, scratch.take("r1", shape))
        squares = _Windows(
            ret1, max(config.vol_windows), lead=1, plain=False, squares=True, scratch=scratch
        )
        for w in config.vol_windows:
            s1 = returns[w] if w in returns else _shift_diff(log_close, w, mean)
            dev = squares.window(w, work, squares=True)
            np.multiply(s1, 1.0 / w, out=tmp)
            dev -= np.multiply(s1, tmp, out=tmp)
            _std32(dev, w, col[f"vol_{w}"])
    log_range = scratch.take("log_range", shape)
    np.divide(high, low, out=log_range)
    np.log(log_range, out=log_range)
    np.copyto(col["range_1"], log_range)
    if config.range_windows:
        ranges = _Windows(log_range, max(config.range_windows), scratch=scratch)
        for w in config.range_windows:
            out = col[f"range_{w}"]
            np.copyto(out, ranges.window(w, work))
            out /= w
    if config.volume_windows:
        log_volume = np.log1p(volume, out=scratch.take("log_volume", shape))
        volume_moments = _Moments(log_volume, max(config.volume_windows), scratch)
        for w in config.volume_windows:
            volume_moments.deviations(w, mean, tmp)
            _std32(tmp, w, sd32)
            shifted = volume_moments.sums.shifted
            _zscore32(shifted, mean, sd32, work, diff32, col[f"volz_{w}"])
    if config.trend_windows:
        trend = _Moments(close, max(config.trend_windows), scratch)
        close32 = scratch.take("close", shape, np.float32)
        np.copyto(close32, close)
        for w in config.trend_windows:
            trend.deviations(w, mean, tmp)
            _std32(tmp, w, sd32)
            _zscore32(trend.sums.shifted, mean, sd32, work, diff32, col[f"zclose_{w}"])
            # log(close / mean) = log1p((close - mean) / mean), without the cancelling
            # difference of two float64 logs: the ratio is small and float32 keeps its digits
            sma = col[f"sma_{w}"]
            np.subtract(close32, diff32, out=mean32)
            np.divide(diff32, mean32, out=sma)
            np.log1p(sma, out=sma)
    return returns


_Context = dict[int, tuple[FloatArray, Float32Array, Float32Array]]


def _market(config: FeatureConfig, log_close: FloatArray, gaps: bool, ref: int | None) -> _Context:
    """Each cross window's equal-weight market return and the reference coin's return.

    Returns, per window, the market return in float64 and float32 and the reference coin's
    return in float32, from the log closes of every coin. The returns of all the coins are
    taken a slab of bars at a time, so they stay in cache.
    """
    n_symbols, n = log_close.shape
    slab = max(1, _CHUNK // max(n_symbols, 1))
    ret = np.empty((n_symbols, min(slab, n)))
    context = {}
    for w in config.cross_windows:
        market = np.full(n, np.nan)
        for a in range(w, n, slab):
            b = min(a + slab, n)
            part = np.subtract(log_close[:, a:b], log_close[:, a - w : b - w], out=ret[:, : b - a])
            if gaps:  # the mean over the coins present at each bar
                present = np.sum(~np.isnan(part), axis=0)
                np.divide(np.nansum(part, axis=0), np.maximum(present, 1), out=market[a:b])
                market[a:b][present == 0] = np.nan
            else:
                np.mean(part, axis=0, out=market[a:b])
        reference = np.full(n, np.nan, dtype=FEATURE_DTYPE)
        if ref is not None:
            np.copyto(reference, _shift_diff(log_close[ref : ref + 1], w, np.empty((1, n)))[0])
        context[w] = (market, market.astype(FEATURE_DTYPE), reference)
    return context


def _context_features(
    context: _Context,
    returns: dict[int, FloatArray],
    col: dict[str, Float32Array],
    scratch: _Scratch,
) -> None:
    """Reference-coin, market and relative returns of some rows of the panel into ``col``."""
    for w, (market, market32, reference32) in context.items():
        col[f"ref_ret_{w}"][:] = reference32
        col[f"mkt_ret_{w}"][:] = market32
        relative = returns[w]
        work = scratch.take("relative", relative.shape)
        np.copyto(col[f"rel_ret_{w}"], np.subtract(relative, market, out=work))


def _calendar(close_times_ns: npt.NDArray[np.int64]) -> tuple[Float32Array, Float32Array]:
    """Hour of day and weekday (Monday 0) of each bar close."""
    close_s = close_times_ns // 1_000_000_000
    hour = ((close_s // 3600) % 24).astype(FEATURE_DTYPE)
    weekday = (((close_s // 86_400) + 3) % 7).astype(FEATURE_DTYPE)  # 1970-01-01 was a Thursday
    return hour, weekday


class _Workers:
    """Runs ``task(start, scratch)`` for many starts on up to ``workers`` threads.

    Every task writes its own rows of the output, so the result does not depend on the
    number of threads or on their order; each thread has its own scratch arrays. One worker
    runs everything in the calling thread.
    """

    def __init__(self, workers: int, tasks: int) -> None:
        self.workers = max(1, min(workers, tasks))
        self.pool = (
            ThreadPoolExecutor(self.workers, thread_name_prefix="quant-features")
            if self.workers > 1
            else None
        )
        self.idle: queue.SimpleQueue[_Scratch] = queue.SimpleQueue()
        for _ in range(self.workers):
            self.idle.put(_Scratch())

    def __enter__(self) -> _Workers:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown()

    def _one(self, task: Callable[[int, _Scratch], None], start: int) -> None:
        scratch = self.idle.get()
        try:
            with np.errstate(divide="ignore", invalid="ignore"):  # (numpy's state is per thread)
                task(start, scratch)
        finally:
            self.idle.put(scratch)

    def map(self, task: Callable[[int, _Scratch], None], starts: range) -> None:
        """Run ``task`` for every start and wait for all of them (re-raising any error)."""
        if self.pool is None:
            for start in starts:
                self._one(task, start)
            return
        for future in [self.pool.submit(self._one, task, start) for start in starts]:
            future.result()


def compute_features(
    panel: Panel, config: FeatureConfig | None = None, *, workers: int | None = None
) -> FeatureSet:
    """Compute every feature of ``config`` at every grid bar, causally.

    Shared intermediates (log prices, 1-bar returns, running sums) are computed once, in
    float64 wherever a difference cancels, and every feature is rounded once into one
    preallocated float32 array (:data:`FEATURE_DTYPE`). Per-coin features are
    computed a few coins at a time, so the intermediates stay in the CPU cache, and the chunks
    of coins are spread over ``workers`` threads (numpy releases the GIL while it computes).
    Each chunk writes only its own rows, so the values are the same bytes for any number of
    workers.

    Args:
        panel: the bars.
        config: windows; the defaults suit hourly bars.
        workers: threads to use (the chunks of coins are shared out); by default
            :data:`DEFAULT_WORKERS`, and never more than the machine's CPUs unless asked for.

    Raises:
        ConfigError: ``workers`` is below 1.

    Returns:
        A :class:`FeatureSet` (float32 values) with ``NaN`` where a window is not yet full or
        spans a gap.
    """
    config = config or FeatureConfig()
    if workers is None:
        workers = min(DEFAULT_WORKERS, os.cpu_count() or 1)
    elif workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    names = config.names
    n_symbols, n_times = shape = panel.close.shape
    stacked = np.empty((len(names), *shape), dtype=FEATURE_DTYPE)
    starts = range(0, n_symbols, max(1, _CHUNK // max(n_times, 1)))
    bars = (panel.high, panel.low, panel.volume)
    gaps = bool(np.isnan(np.min(panel.close))) if panel.close.size else False
    close_missing = np.isnan(panel.close) if gaps else None
    ref = (
        panel.symbols.index(config.reference_symbol)
        if config.reference_symbol in panel.symbols
        else None
    )
    calendar = _calendar(panel.close_times_ns) if config.calendar else None

    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(panel.close)
        context = _market(config, log_close, gaps, ref)

    def coin_task(start: int, scratch: _Scratch) -> None:
        rows = slice(start, start + starts.step)
        chunk = {name: stacked[k, rows] for k, name in enumerate(names)}
        bars_of = (panel.close[rows], *(b[rows] for b in bars))
        returns = _coin_features(config, bars_of, log_close[rows], chunk, scratch)
        _context_features(context, returns, chunk, scratch)
        if calendar is not None:
            chunk["hour"][:], chunk["weekday"][:] = calendar
        if close_missing is not None:
            stacked[:, rows][:, close_missing[rows]] = np.nan

    with _Workers(workers, len(starts)) as pool:
        pool.map(coin_task, starts)
    values = np.moveaxis(stacked, 0, 2)  # a view: (symbols, times, features)
    schema = FeatureSchema.of(config, panel.timeframe.value)
    return FeatureSet(schema, panel, values)
