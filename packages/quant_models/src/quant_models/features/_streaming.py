"""Streaming features: one new bar in, its feature rows out, equal bit for bit to the batch.

:class:`StreamingFeatures` keeps the state that :func:`compute_features` builds over the whole
history — the last log closes, and for each windowed family the blocked running sums of the
block being filled and the totals and centres of the one before — and advances it by one grid
bar per :meth:`StreamingFeatures.update`. A bar costs O(longest window) work per coin, whatever
the length of the history behind it.

**Bit for bit.** The row that :meth:`~StreamingFeatures.update` returns for grid bar ``t``
equals, byte for byte, row ``t`` of ``compute_features`` over the history up to and including
``t`` (what a full recomputation at that bar's close gives). The batch pass takes its running
sums 16 bars at a time as one matrix product; BLAS sums the last row of a matrix with an odd
number of rows in another order than the others, and the batch reduces a one-column slab of
market returns differently from a wider one. The streaming state therefore makes the very same
numpy calls, on arrays of the shape class the batch used for that history length (see
``_Sums._stack``), rather than re-deriving an order. The property test in
``tests/quant_models/test_streaming.py`` checks random panels, coins and cut points. Past
~65,000 bars in one panel OpenBLAS splits a product over threads and the batch takes another
order at the split; the equality is not claimed there.

Examples:
    >>> from quant_core import Bar, Instrument, Timeframe
    >>> from quant_models import Panel
    >>> from quant_models.features import FeatureConfig, compute_features
    >>> h = Timeframe.H1.ns
    >>> cfg = FeatureConfig(return_windows=(1, 4), vol_windows=(4,), range_windows=(4,),
    ...                     volume_windows=(4,), trend_windows=(4,), cross_windows=(1,))
    >>> bars = [Bar(Instrument("BTC", "USD"), "1h", i * h, 100 + i, 101 + i, 99 + i, 100 + i, 1)
    ...         for i in range(30)]
    >>> batch = compute_features(Panel.from_bars(bars), cfg).values
    >>> stream = StreamingFeatures(cfg, ("BTC",), Timeframe.H1, 0)
    >>> rows = [stream.update(np.array([[b.open, b.high, b.low, b.close, b.volume]], float))
    ...         for b in bars]
    >>> all(np.array_equal(row, batch[:, t], equal_nan=True) for t, row in enumerate(rows))
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from quant_core import Timeframe
from quant_models import reasons
from quant_models._errors import DataError
from quant_models._panel import FloatArray, Panel
from quant_models.features._cross import CHUNK, calendar_features
from quant_models.features._schema import FEATURE_DTYPE, FeatureConfig, Float32Array
from quant_models.features._sums import _BLOCK, _GROUP, _TRIU, _std32, _zscore32

__all__ = ["StreamingFeatures"]


def _round_up(value: int) -> int:
    return -(-value // _GROUP) * _GROUP


class _Sums:
    """The blocked running sums of one series (and of its squares), one bar at a time.

    Mirrors ``_Windows`` of the batch pass: running sums that restart every block, taken
    16 bars at a time as a product with a triangular matrix of ones plus the running total of
    the groups before in the block; with ``centred`` each block's values are shifted by its
    first present value; a missing (non-finite) value counts as zero in the sums and makes
    every window holding it ``NaN``.
    """

    def __init__(
        self, rows: int, longest: int, *, plain: bool, squares: bool, centred: bool, lead: int
    ) -> None:
        self.longest = longest
        self.block = _round_up(max(_BLOCK, longest))
        self.plain, self.squares, self.centred, self.lead = plain, squares, centred, lead
        self.size = _round_up(longest + 1) + _GROUP  # ring slots: t - longest .. t
        kinds = [k for k, on in (("plain", plain), ("squares", squares)) if on]
        self.ring = {k: np.zeros((self.size, rows)) for k in kinds}
        self.group = {k: np.zeros((rows, _GROUP)) for k in kinds}
        self.carry = {k: np.zeros(rows) for k in kinds}
        self.previous_total = {k: np.zeros(rows) for k in kinds}
        self.stacks = {m: np.zeros((rows, m, _GROUP)) for m in (1, 2, 3)}
        self.products = {m: np.empty((rows, m, _GROUP)) for m in (1, 2, 3)}
        self.missing = np.zeros((self.size, rows), dtype=np.int64)  # running count
        self.centre = np.zeros(rows)
        self.has_centre = np.zeros(rows, dtype=bool)
        self.previous_centre = np.zeros(rows)
        self.shifted = np.zeros(rows)
        self.t = -1

    def _stack(self, n: int) -> int:
        """Rows of the matrix product the batch takes for the group of the last of ``n`` bars.

        1 when the batch's product has one row; 3 (the group last in an odd stack) when it
        has an odd number and the group is its last row; else 2 (a row of an even stack).
        """
        block = _round_up(max(min(_BLOCK, n), self.longest, 1))
        width = -(-n // block) * block
        rows = (n if n % _GROUP == 0 else width) // _GROUP
        if rows == 1:
            return 1
        return 3 if rows % 2 and (n - 1) // _GROUP == rows - 1 else 2

    def _prefix(self, kind: str, m: int) -> FloatArray:
        """The group's sums inside it, from a product of the batch's shape class ``m``."""
        stack = self.stacks[m]
        stack[:, m - 1, :] = self.group[kind]
        out = self.products[m]
        np.matmul(stack, _TRIU, out=out)
        result: FloatArray = out[:, m - 1, :]
        return result

    def _close_group(self, start: int, first_in_block: bool, second_in_block: bool) -> None:
        """Settle the group ending before bar ``start`` (now an inner row of any product)."""
        for kind, group in self.group.items():
            prefix = self._prefix(kind, 2)
            carry = self.carry[kind]
            ring = self.ring[kind]
            ring[np.arange(start - _GROUP, start) % self.size] = (prefix + carry[:, None]).T
            total = prefix[:, -1].copy()
            if first_in_block:
                self.previous_total[kind] = ring[(start - 1) % self.size].copy()
                carry[:] = 0.0
            elif second_in_block:
                carry[:] = total
            else:
                carry += total
            group[:] = 0.0

    def push(self, y: FloatArray) -> None:
        """Add the values ``y`` (one per row) of the next bar."""
        t = self.t = self.t + 1
        position = t % self.block
        if t % _GROUP == 0 and t > 0:
            self._close_group(t, position == 0, position == _GROUP)
        if position == 0 and t > 0:
            self.previous_centre = self.centre.copy()
            self.centre[:] = 0.0
            self.has_centre[:] = False
        present = np.isfinite(y)
        slot = t % self.size
        self.missing[slot] = self.missing[(t - 1) % self.size] + (~present if t >= self.lead else 0)
        if self.centred:
            fresh = present & ~self.has_centre
            self.centre[fresh] = y[fresh]
            self.has_centre |= fresh
            source = y - self.centre
        else:
            source = y.copy()
        source[~present] = 0.0
        if t < self.lead:
            source[:] = 0.0
        self.shifted = source
        j = t % _GROUP
        m = self._stack(t + 1)
        for kind, group in self.group.items():
            group[:, j] = source if kind == "plain" else source * source
            sums = self._prefix(kind, m)[:, : j + 1] + self.carry[kind][:, None]
            self.ring[kind][np.arange(t - j, t + 1) % self.size] = sums.T

    def window(self, w: int, *, squares: bool = False) -> FloatArray:
        """The trailing ``w``-bar sum at the last bar (``NaN`` until ``w`` bars are present)."""
        t = self.t
        kind = "squares" if squares else "plain"
        ring = self.ring[kind]
        if t < self.lead + w - 1:
            return np.full(ring.shape[1], np.nan)
        out: FloatArray
        if t == w - 1:
            out = ring[t % self.size].copy()
            gone = self.missing[t % self.size] != 0
        else:
            out = ring[t % self.size] - ring[(t - w) % self.size]
            position = t % self.block
            if t >= self.block and position < w:  # the window reaches into the previous block
                out += self.previous_total[kind]
                if self.centred:
                    before = np.float64(w - 1 - position)
                    shift = self.centre - self.previous_centre
                    if squares:
                        part = (
                            self.previous_total["plain"] - self.ring["plain"][(t - w) % self.size]
                        )
                        out += shift * (before * shift - 2.0 * part)
                    else:
                        out -= before * shift
            gone = self.missing[t % self.size] != self.missing[(t - w) % self.size]
        out[gone] = np.nan
        return out


class StreamingFeatures:
    """The features of each new grid bar, equal bit for bit to a batch pass over the history.

    Feed every grid bar from the first one of the history on, oldest first, with one row of
    ``open, high, low, close, volume`` per symbol (``NaN`` where a coin has no bar); each call
    returns that bar's ``(symbols, features)`` float32 rows (see the module notes).

    Args:
        config: the windows.
        symbols: the coins, in the panel's order (sorted, as :class:`Panel` holds them).
        timeframe: the bar length.
        first_open_ns: open time of the first bar that will be fed.

    Examples:
        >>> stream = StreamingFeatures(FeatureConfig(), ("BTC", "ETH"), Timeframe.H1, 0)
        >>> stream.names == FeatureConfig().names, stream.next_open_ns
        (True, 0)
    """

    def __init__(
        self,
        config: FeatureConfig,
        symbols: Sequence[str],
        timeframe: Timeframe,
        first_open_ns: int,
    ) -> None:
        self.config = config
        self.symbols = tuple(symbols)
        self.timeframe = timeframe
        self.next_open_ns = first_open_ns
        self.names = config.names
        rows = len(self.symbols)
        self._columns = {name: k for k, name in enumerate(self.names)}
        self._reference = (
            self.symbols.index(config.reference_symbol)
            if config.reference_symbol in self.symbols
            else None
        )
        self._returns = sorted(
            {*config.return_windows, *config.cross_windows, *config.vol_windows}
            | ({1} if config.vol_windows else set())
        )
        self._closes = np.full((max(self._returns, default=1) + 1, rows), np.nan)
        self._t = -1
        self._gaps = False
        self._slab = max(1, CHUNK // max(rows, 1))
        self._market_part = {m: np.empty((rows, m)) for m in (1, 2)}

        def sums(windows: tuple[int, ...], **kind: Any) -> _Sums | None:
            return _Sums(rows, max(windows), **kind) if windows else None

        self._vol = sums(config.vol_windows, plain=False, squares=True, centred=False, lead=1)
        self._range = sums(config.range_windows, plain=True, squares=False, centred=False, lead=0)
        self._volume = sums(config.volume_windows, plain=True, squares=True, centred=True, lead=0)
        self._trend = sums(config.trend_windows, plain=True, squares=True, centred=True, lead=0)

    @classmethod
    def replay(cls, panel: Panel, config: FeatureConfig) -> tuple[StreamingFeatures, Float32Array]:
        """A stream fed every bar of ``panel``, and the rows it returned (``values`` layout).

        Costs what the panel's bars cost one at a time (O(history) once); the stream then goes
        on bar by bar at O(window) each.
        """
        stream = cls(config, panel.symbols, panel.timeframe, int(panel.open_times_ns[0]))
        bars = np.stack([panel.open, panel.high, panel.low, panel.close, panel.volume], axis=2)
        rows = np.stack([stream.update(bars[:, t]) for t in range(panel.n_times)], axis=1)
        return stream, rows

    def update(self, bars: FloatArray) -> Float32Array:
        """Advance one grid bar and return its ``(symbols, features)`` rows.

        Args:
            bars: ``(symbols, 5)`` float64: ``open, high, low, close, volume`` of the bar
                opening at :attr:`next_open_ns` for each symbol, ``NaN`` where one has none.

        Raises:
            DataError: ``bars`` does not have one row of five values per symbol.
        """
        if bars.shape != (len(self.symbols), 5):
            raise DataError(
                f"expected ({len(self.symbols)}, 5) bar values, got {bars.shape}",
                reason_code=reasons.FEATURE_INPUT_INVALID,
            )
        t = self._t = self._t + 1
        open_ns = self.next_open_ns
        self.next_open_ns += self.timeframe.ns
        config = self.config
        rows = len(self.symbols)
        out = np.empty((rows, len(self.names)), dtype=FEATURE_DTYPE)
        col = {name: out[:, k] for k, name in enumerate(self.names)}
        close = np.ascontiguousarray(bars[:, 3])
        high, low, volume = (np.ascontiguousarray(bars[:, k]) for k in (1, 2, 4))
        missing_close = np.isnan(close)
        self._gaps = self._gaps or bool(missing_close.any())
        with np.errstate(divide="ignore", invalid="ignore"):
            log_close = np.log(close)
            ring = self._closes
            ring[t % len(ring)] = log_close
            returns = {
                w: log_close - ring[(t - w) % len(ring)] if t >= w else np.full(rows, np.nan)
                for w in self._returns
            }
            for w in config.return_windows:
                np.copyto(col[f"ret_{w}"], returns[w])
            self._vol_features(returns, col)
            self._range_features(high, low, col)
            self._volume_features(volume, col)
            self._trend_features(close, col)
            self._context_features(returns, col)
        if config.calendar:
            hour, weekday = calendar_features(
                np.array([open_ns + self.timeframe.ns], dtype=np.int64)
            )
            col["hour"][:], col["weekday"][:] = hour[0], weekday[0]
        out[missing_close] = np.nan
        return out

    def _vol_features(self, returns: dict[int, FloatArray], col: dict[str, Float32Array]) -> None:
        if self._vol is None:
            return
        self._vol.push(returns[1])
        for w in self.config.vol_windows:
            dev = self._vol.window(w, squares=True)
            tmp = np.multiply(returns[w], 1.0 / w)
            dev -= np.multiply(returns[w], tmp, out=tmp)
            _std32(dev, w, col[f"vol_{w}"])

    def _range_features(
        self, high: FloatArray, low: FloatArray, col: dict[str, Float32Array]
    ) -> None:
        log_range = np.log(np.divide(high, low))
        np.copyto(col["range_1"], log_range)
        if self._range is None:
            return
        self._range.push(log_range)
        for w in self.config.range_windows:
            out = col[f"range_{w}"]
            np.copyto(out, self._range.window(w))
            out /= w

    def _moments(
        self, sums: _Sums, w: int
    ) -> tuple[FloatArray, Float32Array, FloatArray, Float32Array]:
        """The batch's ``_Moments.deviations`` at the last bar, the std and the z-score parts.

        Returns the mean, the float32 std, the float64 work array and the float32 difference
        ``shifted - mean`` (filled by the z-score into ``out``, which the caller passes).
        """
        s1 = sums.window(w)
        dev = sums.window(w, squares=True)
        mean = np.multiply(s1, 1.0 / w)
        dev -= np.multiply(s1, mean)
        sd32 = np.empty(len(self.symbols), dtype=FEATURE_DTYPE)
        _std32(dev, w, sd32)
        return mean, sd32, np.empty_like(mean), np.empty_like(sd32)

    def _volume_features(self, volume: FloatArray, col: dict[str, Float32Array]) -> None:
        if self._volume is None:
            return
        self._volume.push(np.log1p(volume))
        for w in self.config.volume_windows:
            mean, sd32, work, diff32 = self._moments(self._volume, w)
            _zscore32(self._volume.shifted, mean, sd32, work, diff32, col[f"volz_{w}"])

    def _trend_features(self, close: FloatArray, col: dict[str, Float32Array]) -> None:
        if self._trend is None:
            return
        self._trend.push(close)
        close32 = close.astype(FEATURE_DTYPE)
        for w in self.config.trend_windows:
            mean, sd32, work, diff32 = self._moments(self._trend, w)
            _zscore32(self._trend.shifted, mean, sd32, work, diff32, col[f"zclose_{w}"])
            sma = col[f"sma_{w}"]
            mean32 = np.subtract(close32, diff32)
            np.divide(diff32, mean32, out=sma)
            np.log1p(sma, out=sma)

    def _market(self, part: FloatArray) -> float:
        """The batch's market return at the last bar, reduced in the batch's slab shape."""
        if self._gaps:
            present = np.sum(~np.isnan(part), axis=0)
            market = np.divide(np.nansum(part, axis=0), np.maximum(present, 1))
            market[present == 0] = np.nan
            return float(market[0])
        return float(np.mean(part, axis=0)[0])

    def _context_features(
        self, returns: dict[int, FloatArray], col: dict[str, Float32Array]
    ) -> None:
        t, rows = self._t, len(self.symbols)
        for w in self.config.cross_windows:
            market = np.float64(np.nan)
            if t >= w:
                # the batch reduces slabs [w + k * slab, ...); its last one may be one bar wide
                width = 1 if (t - w) % self._slab == 0 else 2
                part = self._market_part[width]
                part[:, :] = returns[w][:, None]
                market = np.float64(self._market(part))
            reference = (
                returns[w][self._reference] if self._reference is not None else np.float64(np.nan)
            )
            col[f"ref_ret_{w}"][:] = np.full(1, reference).astype(FEATURE_DTYPE)[0]
            col[f"mkt_ret_{w}"][:] = np.full(1, market).astype(FEATURE_DTYPE)[0]
            np.copyto(col[f"rel_ret_{w}"], returns[w] - np.full(rows, market))
