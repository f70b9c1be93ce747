"""The batch pass: every feature of a panel at every grid bar (see the package notes)."""

from __future__ import annotations

import os
import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from quant_models._errors import ConfigError
from quant_models._panel import FloatArray, Panel
from quant_models.features import _cross
from quant_models.features._cross import calendar_features, context_features, market_context
from quant_models.features._price import price_features
from quant_models.features._range import range_features
from quant_models.features._schema import (
    DEFAULT_WORKERS,
    FEATURE_DTYPE,
    FeatureConfig,
    FeatureSchema,
    FeatureSet,
    Float32Array,
)
from quant_models.features._sums import _Scratch
from quant_models.features._trend import trend_features
from quant_models.features._volume import volume_features

__all__ = ["compute_features"]


def coin_features(
    config: FeatureConfig,
    bars: tuple[FloatArray, ...],
    log_close: FloatArray,
    col: dict[str, Float32Array],
    scratch: _Scratch,
) -> dict[int, FloatArray]:
    """Every per-coin feature family of some rows of the panel into ``col`` (float32).

    Work is float64 wherever a difference cancels (log prices, returns, window sums and the
    variance); each result is rounded to float32 once, and what follows a cancellation
    (scaling, square roots, divisions) is done in float32. Returns the float64 returns of
    the return and cross-asset windows (work arrays).
    """
    close, high, low, volume = bars
    returns = price_features(config, log_close, col, scratch)
    range_features(config, high, low, col, scratch)
    volume_features(config, volume, col, scratch)
    trend_features(config, close, col, scratch)
    return returns


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
    starts = range(0, n_symbols, max(1, _cross.CHUNK // max(n_times, 1)))
    bars = (panel.high, panel.low, panel.volume)
    gaps = bool(np.isnan(np.min(panel.close))) if panel.close.size else False
    close_missing = np.isnan(panel.close) if gaps else None
    ref = (
        panel.symbols.index(config.reference_symbol)
        if config.reference_symbol in panel.symbols
        else None
    )
    calendar = calendar_features(panel.close_times_ns) if config.calendar else None

    with np.errstate(divide="ignore", invalid="ignore"):
        log_close = np.log(panel.close)
        context = market_context(config, log_close, gaps, ref)

    def coin_task(start: int, scratch: _Scratch) -> None:
        rows = slice(start, start + starts.step)
        chunk = {name: stacked[k, rows] for k, name in enumerate(names)}
        bars_of = (panel.close[rows], *(b[rows] for b in bars))
        returns = coin_features(config, bars_of, log_close[rows], chunk, scratch)
        context_features(context, returns, chunk, scratch)
        if calendar is not None:
            chunk["hour"][:], chunk["weekday"][:] = calendar
        if close_missing is not None:
            stacked[:, rows][:, close_missing[rows]] = np.nan

    with _Workers(workers, len(starts)) as pool:
        pool.map(coin_task, starts)
    values = np.moveaxis(stacked, 0, 2)  # a view: (symbols, times, features)
    schema = FeatureSchema.of(config, panel.timeframe.value)
    return FeatureSet(schema, panel, values)
