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
* **Streaming.** :class:`StreamingFeatures` advances the same state one grid bar at a time
  (O(longest window) per bar) and returns rows equal bit for bit to this pass over the
  history up to that bar (see its notes).
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

Layout: one private module per family (``_price``: returns and volatility; ``_range``;
``_volume``; ``_trend``; ``_cross``: cross-asset context and calendar), the running sums they
share (``_sums``), the pass that assembles them (``_batch``), the schema (``_schema``) and the
streaming state (``_streaming``).

Examples:
    >>> import numpy as np
    >>> from quant_core import Bar, Instrument, Timeframe
    >>> from quant_models import Panel
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

from quant_models.features._batch import compute_features
from quant_models.features._schema import (
    DEFAULT_WORKERS,
    FEATURE_DTYPE,
    FEATURE_SCHEMA_VERSION,
    FeatureConfig,
    FeatureSchema,
    FeatureSet,
)
from quant_models.features._streaming import StreamingFeatures
from quant_models.features._sums import rolling_mean, rolling_std, rolling_sum

__all__ = [
    "DEFAULT_WORKERS",
    "FEATURE_DTYPE",
    "FEATURE_SCHEMA_VERSION",
    "FeatureConfig",
    "FeatureSchema",
    "FeatureSet",
    "StreamingFeatures",
    "compute_features",
    "rolling_mean",
    "rolling_std",
    "rolling_sum",
]
