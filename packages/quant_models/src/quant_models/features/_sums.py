"""Blocked running sums and the trailing windows built on them (see the package notes)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from quant_models._panel import FloatArray
from quant_models.features._schema import Float32Array

__all__ = ["rolling_mean", "rolling_std", "rolling_sum"]

# window sum taken as a difference of running sums then grows with the block, not with the
# length of the series, so plain float64 stays accurate on multi-year panels.
_BLOCK = 2048
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
