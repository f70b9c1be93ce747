"""Causal, multi-scale features over a (coins x time) panel, with a declared, hashed schema.

Every feature at grid bar ``t`` is computed at that bar's close from bars ``<= t`` only; the
leakage tests perturb every bar after ``t`` and check nothing at ``<= t`` moves. Rolling
statistics are vectorised with running sums along the time axis of the ``(symbols, times)``
array, computed once per series and shared by every window; the sums restart every few
thousand bars and are re-centred per block, so float64 keeps their digits on multi-year
series (a window containing a missing bar gives ``NaN``, like pandas ``rolling(w)``). Shared
intermediates (log prices, 1-bar returns) are reused, a few coins are processed at a time so
the work arrays stay in cache, and every feature is written straight into one preallocated
float64 array.

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

import functools
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import content_hash, unstructure
from quant_models.errors import ConfigError
from quant_models.panel import FloatArray, Panel

__all__ = [
    "FEATURE_SCHEMA_VERSION",
    "FeatureConfig",
    "FeatureSchema",
    "FeatureSet",
    "compute_features",
    "rolling_mean",
    "rolling_std",
    "rolling_sum",
]

FEATURE_SCHEMA_VERSION = "quant.features/1"


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
    """

    version: str
    timeframe: str
    names: tuple[str, ...]
    config: dict[str, Any]
    schema_hash: str

    @classmethod
    def of(cls, config: FeatureConfig, timeframe: str) -> FeatureSchema:
        """The schema of ``config`` applied to bars of ``timeframe``."""
        body = {
            "version": FEATURE_SCHEMA_VERSION,
            "timeframe": timeframe,
            "names": list(config.names),
            "config": unstructure(config),
        }
        return cls(
            FEATURE_SCHEMA_VERSION,
            timeframe,
            config.names,
            unstructure(config),
            content_hash(body),
        )


@attrs.frozen(eq=False)
class FeatureSet:
    """Computed features: ``values[symbol, time, feature]`` on the panel's grid."""

    schema: FeatureSchema
    panel: Panel
    values: FloatArray

    def column(self, name: str) -> FloatArray:
        """One feature as a ``(symbols, times)`` array."""
        return self.values[:, :, self.schema.names.index(name)]


# Running sums restart every ``_BLOCK`` bars (or the longest window, if longer): the error of a
# window sum taken as a difference of running sums then grows with the block, not with the
# length of the series, so plain float64 stays accurate on multi-year panels.
_BLOCK = 2048
# Elements per chunk of coins for the per-coin features (keeps the scratch arrays in cache).
_CHUNK = 1 << 16


def _shift_diff(x: FloatArray, w: int, out: FloatArray) -> FloatArray:
    """``x[t] - x[t - w]`` along axis 1 (``NaN`` for ``t < w``), written into ``out``."""
    out[:, : min(w, x.shape[1])] = np.nan
    np.subtract(x[:, w:], x[:, :-w], out=out[:, w:])
    return out


class _Scratch:
    """Reusable work arrays: the chunks of coins of one feature pass share the same buffers."""

    def __init__(self) -> None:
        self._arrays: dict[str, FloatArray] = {}

    def take(self, name: str, shape: tuple[int, ...]) -> FloatArray:
        """The work array ``name`` with ``shape`` (contents undefined)."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape:
            array = self._arrays[name] = np.empty(shape)
        return array


@functools.lru_cache(maxsize=64)
def _join_index(w: int, n: int, block: int) -> tuple[npt.NDArray[np.intp], ...]:
    """Where the windows reaching back into the previous block are (see ``_join_blocks``).

    Returns their columns, their block, the column ending the previous block and how many of
    their bars lie in the previous block.
    """
    n_blocks = -(-n // block)
    offsets = np.arange(w)
    cols = (np.arange(1, n_blocks) * block)[:, None] + offsets[None, :]
    keep = cols < n
    owner = np.broadcast_to(np.arange(1, n_blocks)[:, None], keep.shape)[keep]
    before = (w - 1) - np.broadcast_to(offsets, keep.shape)[keep]
    index = (cols[keep], owner, owner * block - 1, before)
    for array in index:
        array.flags.writeable = False
    return index


class _Windows:
    """Trailing window sums of one ``(symbols, times)`` series, for any window up to ``longest``.

    The running sums restart every block (and, with ``squares``, so do those of the squared
    series); they are computed once and shared by every window. With ``centred`` each block is
    first shifted by its own first present value — the sums then describe ``x - centre`` and a
    window reaching back into the previous block is re-centred exactly, so sums of squares stay
    small and variances keep their digits even when prices drift far over the years. A
    ``NaN`` counts as missing: a window that holds one gives ``NaN``, like pandas
    ``rolling(w)``. Every sum at ``t`` uses values ``<= t`` only (a block's centre can come
    from a later bar only when every bar up to ``t`` in the block is missing, and then the
    window at ``t`` is ``NaN`` anyway).
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
        rows, n = y.shape
        self.n = n
        self.block = block = max(min(_BLOCK, n), longest, 1)
        n_blocks = -(-n // block)
        # ``lead``: leading bars known to be missing on every row (a difference's warm-up);
        # any other missing value is tracked by a running count of missing bars
        self.lead = lead = min(lead, n)
        self.missing_run: npt.NDArray[np.int32] | None = None
        body = y[:, lead:]
        missing = None
        if body.size and np.isnan(np.min(body)):
            missing = np.isnan(y)
            self.missing_run = np.cumsum(missing, axis=1, dtype=np.int32)
        self.centres: FloatArray | None = None
        if centred and missing is None and lead == 0:  # each block's first bar is present
            self.centres = y[:, ::block, None].copy()
        elif centred:
            self.centres = self._centres(y, n_blocks, block)
        shape = (rows, n_blocks, block)
        padded = scratch.take("sums", (rows, n_blocks * block))
        padded[:, n:] = 0.0
        head = padded[:, :n]
        source = y  # what the running sums add up: y itself when it needs no cleaning
        if self.centres is not None or missing is not None or (plain and lead):
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
        self.squares: FloatArray | None = None
        if squares:
            self.squares = scratch.take("squares", shape)
            flat = self.squares.reshape(rows, n_blocks * block)
            flat[:, n:] = 0.0
            np.multiply(source, source, out=flat[:, :n])
            flat[:, :lead] = 0.0
            np.cumsum(self.squares, axis=2, out=self.squares)
        self.sums: FloatArray | None = None
        if plain:
            if source is y:  # (no lead here)
                for k in range(n_blocks):
                    part = slice(k * block, (k + 1) * block)
                    np.cumsum(y[:, part], axis=1, out=head[:, part])
                self.sums = padded.reshape(shape)
            else:
                self.sums = np.cumsum(padded.reshape(shape), axis=2, out=padded.reshape(shape))

    @staticmethod
    def _centres(y: FloatArray, n_blocks: int, block: int) -> FloatArray:
        """Each block's first present value per row (0 for a block with none)."""
        rows = y.shape[0]
        centres = np.zeros((rows, n_blocks, 1))
        for k in range(n_blocks):
            part = y[:, k * block : (k + 1) * block]
            first = np.argmax(~np.isnan(part), axis=1)
            value = part[np.arange(rows), first]
            centres[:, k, 0] = np.where(np.isnan(value), 0.0, value)
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
        previous block's centre and ``d`` = this block's centre minus the previous one.
        """
        rows, n_blocks, block = running.shape
        cols, owner, ends, before = _join_index(w, self.n, block)
        flat = running.reshape(rows, n_blocks * block)
        region = out[:, cols] + flat[:, ends]  # + the previous block's total
        if self.centres is not None:
            shift = self.centres[:, owner, 0] - self.centres[:, owner - 1, 0]
            if squares:
                sums = self.sums
                assert sums is not None
                sums_flat = sums.reshape(rows, n_blocks * block)
                part = sums_flat[:, ends] - sums_flat[:, cols - w]
                region += shift * (before * shift - 2.0 * part)
            else:
                region -= before * shift
        out[:, cols] = region

    def add_centres(self, out: FloatArray) -> None:
        """Add each bar's block centre to ``out`` (in place)."""
        block = self.block
        assert self.centres is not None
        for k in range(self.centres.shape[1]):
            out[:, k * block : (k + 1) * block] += self.centres[:, k, :]


def rolling_sum(x: FloatArray, w: int) -> FloatArray:
    """Trailing ``w``-bar sum along axis 1; ``NaN`` unless all ``w`` values are present.

    Examples:
        >>> rolling_sum(np.array([[1.0, 2.0, np.nan, 4.0, 5.0, 6.0]]), 2).tolist()
        [[nan, 3.0, nan, nan, 9.0, 11.0]]
    """
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
    _Moments(x, w).window(w, np.empty_like(x), sd)
    return sd


def _std_from_sums(
    s1: FloatArray, s2: FloatArray, w: int, mean: FloatArray, tmp: FloatArray
) -> None:
    """Turn ``s2`` (window sums of squares) into the sample std, given ``mean = s1 / w``."""
    s2 -= np.multiply(s1, mean, out=tmp)  # the sum of squared deviations
    np.maximum(s2, 0.0, out=s2)
    s2 *= 1.0 / (w - 1)
    np.sqrt(s2, out=s2)


class _Moments:
    """Trailing means and sample standard deviations of one series, sharing its running sums."""

    def __init__(self, x: FloatArray, longest: int, scratch: _Scratch | None = None) -> None:
        scratch = scratch or _Scratch()
        self.sums = _Windows(x, longest, squares=True, centred=True, scratch=scratch)
        self.s1 = scratch.take("s1", x.shape)
        self.tmp = scratch.take("tmp", x.shape)

    def window(self, w: int, mean_out: FloatArray, sd_out: FloatArray) -> None:
        """Write the ``w``-bar mean into ``mean_out`` and the std into ``sd_out``."""
        s1 = self.sums.window(w, self.s1)
        self.sums.window(w, sd_out, squares=True)
        np.divide(s1, w, out=mean_out)  # the mean of x - centre
        _std_from_sums(s1, sd_out, w, mean_out, self.tmp)
        self.sums.add_centres(mean_out)


def _zscore(x: FloatArray, mean: FloatArray, sd: FloatArray, out: FloatArray) -> None:
    """``(x - mean) / sd`` into ``out``; 0 where ``sd`` is 0, ``NaN`` where ``sd`` is ``NaN``."""
    np.subtract(x, mean, out=out)
    out /= sd
    if np.fmin.reduce(sd, axis=None) == 0.0:  # (cheap check; fmin skips the NaN warm-up)
        out[sd == 0.0] = 0.0


def _coin_features(
    config: FeatureConfig,
    bars: tuple[FloatArray, ...],
    col: dict[str, FloatArray],
    log_close: FloatArray,
    scratch: _Scratch,
) -> None:
    """Every per-coin feature of some rows of the panel into ``col``, and their log close."""
    close, high, low, volume = bars
    shape = close.shape
    mean, tmp = scratch.take("mean", shape), scratch.take("z_sd", shape)
    np.log(close, out=log_close)
    returns: dict[int, FloatArray] = {}
    for w in config.return_windows:
        returns[w] = _shift_diff(log_close, w, col[f"ret_{w}"])
    if config.vol_windows:
        # the window sum of 1-bar log returns is the w-bar log return: only squares are needed
        ret1 = returns[1] if 1 in returns else _shift_diff(log_close, 1, scratch.take("r1", shape))
        squares = _Windows(
            ret1, max(config.vol_windows), lead=1, plain=False, squares=True, scratch=scratch
        )
        for w in config.vol_windows:
            s1 = returns[w] if w in returns else _shift_diff(log_close, w, mean)
            sd = squares.window(w, col[f"vol_{w}"], squares=True)
            np.divide(s1, w, out=tmp)
            _std_from_sums(s1, sd, w, tmp, tmp)
    log_range = col["range_1"]
    np.divide(high, low, out=log_range)
    np.log(log_range, out=log_range)
    if config.range_windows:
        ranges = _Windows(log_range, max(config.range_windows))
        for w in config.range_windows:
            ranges.window(w, col[f"range_{w}"])
            col[f"range_{w}"] /= w
    if config.volume_windows:
        log_volume = np.log1p(volume, out=scratch.take("log_volume", shape))
        volume_moments = _Moments(log_volume, max(config.volume_windows), scratch)
        for w in config.volume_windows:
            volume_moments.window(w, mean, tmp)
            _zscore(log_volume, mean, tmp, col[f"volz_{w}"])
    if config.trend_windows:
        trend = _Moments(close, max(config.trend_windows), scratch)
        for w in config.trend_windows:
            sma = col[f"sma_{w}"]
            trend.window(w, mean, tmp)
            np.log(mean, out=sma)
            np.subtract(log_close, sma, out=sma)
            _zscore(close, mean, tmp, col[f"zclose_{w}"])


def _cross_features(
    config: FeatureConfig,
    log_close: FloatArray,
    ref: int | None,
    gaps: bool,
    col: dict[str, FloatArray],
) -> None:
    """Reference-coin, market and relative returns (they need every coin at once)."""
    for w in config.cross_windows:
        name = f"ret_{w}"
        ret = col[name] if name in col else _shift_diff(log_close, w, np.empty_like(log_close))
        col[f"ref_ret_{w}"][:] = ret[ref] if ref is not None else np.nan
        if gaps:  # the mean over the coins present at each bar
            present = np.sum(~np.isnan(ret), axis=0)
            market = np.nansum(ret, axis=0) / np.maximum(present, 1)
            market[present == 0] = np.nan
        else:
            market = np.mean(ret, axis=0)
        col[f"mkt_ret_{w}"][:] = market
        np.subtract(ret, market, out=col[f"rel_ret_{w}"])


def compute_features(panel: Panel, config: FeatureConfig | None = None) -> FeatureSet:
    """Compute every feature of ``config`` at every grid bar, causally.

    Shared intermediates (log prices, 1-bar returns, running sums) are computed once and every
    feature is written straight into one preallocated float64 array. Per-coin features are
    computed a few coins at a time, so the intermediates stay in the CPU cache.

    Args:
        panel: the bars.
        config: windows; the defaults suit hourly bars.

    Returns:
        A :class:`FeatureSet` with ``NaN`` where a window is not yet full or spans a gap.
    """
    config = config or FeatureConfig()
    names = config.names
    n_symbols, n_times = shape = panel.close.shape
    stacked = np.empty((len(names), *shape))
    log_close = np.empty(shape)
    step = max(1, _CHUNK // max(n_times, 1))
    bars = (panel.close, panel.high, panel.low, panel.volume)
    scratch = _Scratch()
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, n_symbols, step):
            rows = slice(lo, lo + step)
            chunk = {name: stacked[k, rows] for k, name in enumerate(names)}
            bars_of = tuple(b[rows] for b in bars)
            _coin_features(config, bars_of, chunk, log_close[rows], scratch)
        col = {name: stacked[k] for k, name in enumerate(names)}
        ref = (
            panel.symbols.index(config.reference_symbol)
            if config.reference_symbol in panel.symbols
            else None
        )
        close_missing = np.isnan(panel.close)
        gaps = bool(close_missing.any())
        _cross_features(config, log_close, ref, gaps, col)
    if config.calendar:
        close_s = panel.close_times_ns // 1_000_000_000
        col["hour"][:] = ((close_s // 3600) % 24).astype(np.float64)
        col["weekday"][:] = (((close_s // 86_400) + 3) % 7).astype(np.float64)  # a Thursday
    if gaps:
        stacked[:, close_missing] = np.nan
    values = np.moveaxis(stacked, 0, 2)  # a view: (symbols, times, features)
    schema = FeatureSchema.of(config, panel.timeframe.value)
    return FeatureSet(schema, panel, values)
