"""The emulator's bar book: every series it can serve, indexed by (symbol, quote, timeframe).

A :class:`BarBook` holds :class:`~quant_data.SourceBar` values from a synthetic market,
from imported real files, or from any iterable of bars. It serves coarser timeframes by
aggregating a finer series it holds (1h from 1m, 1d from 1h), the way a venue builds them.

Examples:
    >>> from quant_data import SourceBar
    >>> rows = [SourceBar("x", "BTC", "USD", "1h", h * 3_600_000_000_000, "1", "2", "1", "2",
    ...                   "1", 1) for h in range(4)]
    >>> book = BarBook(rows)
    >>> [b.volume for b in book.series("BTC", "USD", Timeframe.H4)]
    ['4']
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

import attrs

from quant_core import Clock, Timeframe
from quant_data._records import SourceBar
from quant_data._synthetic import SyntheticMarket

__all__ = ["BarBook", "SeriesKey"]

SeriesKey = tuple[str, str, str]
"""(symbol, quote, timeframe value) of one served series."""


def _dec(text: str) -> Decimal | None:
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def is_no_trade(bar: SourceBar) -> bool:
    """Whether ``bar`` reports a slot without trades (count 0, or no count and zero volume)."""
    if bar.trades is not None:
        return bar.trades == 0
    volume = _dec(bar.volume)
    return volume is not None and volume == 0


class BarBook:
    """Series of source bars, sorted by open time, one bar per slot (first occurrence wins).

    Args:
        bars: any bars; they are grouped by (symbol, quote, timeframe).
        seed: seed for anything the emulator derives from the bars (trades).
    """

    def __init__(self, bars: Iterable[SourceBar], *, seed: int = 0) -> None:
        self.seed = seed
        grouped: dict[SeriesKey, dict[int, SourceBar]] = {}
        for bar in bars:
            slot = grouped.setdefault((bar.symbol, bar.quote, bar.timeframe), {})
            slot.setdefault(bar.open_time_ns, bar)
        self._series: dict[SeriesKey, tuple[SourceBar, ...]] = {
            key: tuple(slot[t] for t in sorted(slot)) for key, slot in grouped.items()
        }
        self._opens: dict[SeriesKey, list[int]] = {}

    @classmethod
    def from_synthetic(cls, market: SyntheticMarket) -> BarBook:
        """Every symbol of a synthetic market, no-trade slots included."""
        bars = [b for s in market.symbols for b in market.source_bars(s)]
        return cls(bars, seed=market.seed)

    @classmethod
    def from_files(cls, paths: Sequence[Path], *, clock: Clock, seed: int = 0) -> BarBook:
        """Bars imported from real files (a directory stands for the files in it)."""
        from quant_data._importers import import_paths

        return cls(import_paths(paths, clock=clock), seed=seed)

    def series_keys(self) -> tuple[SeriesKey, ...]:
        """The series held (not counting aggregations), sorted."""
        return tuple(sorted(self._series))

    def pairs(self) -> tuple[tuple[str, str], ...]:
        """Every (symbol, quote) held, sorted."""
        return tuple(sorted({(s, q) for s, q, _ in self._series}))

    def latest_ns(self) -> int:
        """The exclusive end of the latest bar held (0 for an empty book)."""
        ends = [
            bars[-1].open_time_ns + Timeframe(tf).ns
            for (_, _, tf), bars in self._series.items()
            if bars
        ]
        return max(ends, default=0)

    def finest(self, symbol: str, quote: str) -> Timeframe | None:
        """The shortest timeframe held for (symbol, quote), or ``None``."""
        tfs = [Timeframe(tf) for s, q, tf in self._series if (s, q) == (symbol, quote)]
        return min(tfs, key=lambda t: t.seconds, default=None)

    def series(self, symbol: str, quote: str, timeframe: Timeframe) -> tuple[SourceBar, ...]:
        """The series, aggregated from a finer one held when needed (empty when impossible)."""
        key = (symbol, quote, timeframe.value)
        found = self._series.get(key)
        if found is not None:
            return found
        finer = [
            Timeframe(tf)
            for s, q, tf in self._series
            if (s, q) == (symbol, quote)
            and Timeframe(tf).seconds < timeframe.seconds
            and timeframe.seconds % Timeframe(tf).seconds == 0
        ]
        if not finer:
            return ()
        base = max(finer, key=lambda t: t.seconds)
        agg = _aggregate(self._series[(symbol, quote, base.value)], timeframe)
        self._series[key] = agg
        return agg

    def window(
        self, symbol: str, quote: str, timeframe: Timeframe, start_ns: int, end_ns: int
    ) -> tuple[SourceBar, ...]:
        """Bars with ``start_ns <= open_time < end_ns``."""
        bars = self.series(symbol, quote, timeframe)
        key = (symbol, quote, timeframe.value)
        opens = self._opens.get(key)
        if opens is None:
            opens = [b.open_time_ns for b in bars]
            self._opens[key] = opens
        lo = bisect.bisect_left(opens, start_ns)
        hi = bisect.bisect_left(opens, end_ns)
        return bars[lo:hi]


def _aggregate(bars: Sequence[SourceBar], timeframe: Timeframe) -> tuple[SourceBar, ...]:
    groups: dict[int, list[SourceBar]] = {}
    for bar in bars:
        groups.setdefault(timeframe.floor(bar.open_time_ns), []).append(bar)
    out: list[SourceBar] = []
    for open_ns in sorted(groups):
        members = groups[open_ns]
        traded = [b for b in members if not is_no_trade(b)]
        parsed = [
            (b, [_dec(x) for x in (b.open, b.high, b.low, b.close, b.volume)]) for b in traded
        ]
        good = [(b, v) for b, v in parsed if all(x is not None for x in v)]
        if not good:
            first = members[0]
            out.append(
                attrs.evolve(first, timeframe=timeframe.value, open_time_ns=open_ns, trades=0)
            )
            continue
        highs = [v[1] for _, v in good]
        lows = [v[2] for _, v in good]
        volume = sum((v[4] or Decimal(0) for _, v in good), Decimal(0))
        counts = [b.trades for b, _ in good]
        first_bar, last_bar = good[0][0], good[-1][0]
        out.append(
            attrs.evolve(
                first_bar,
                timeframe=timeframe.value,
                open_time_ns=open_ns,
                high=good[highs.index(max(highs))][0].high,  # type: ignore[type-var]
                low=good[lows.index(min(lows))][0].low,  # type: ignore[type-var]
                close=last_bar.close,
                volume=format(volume, "f"),
                trades=None if None in counts else sum(c or 0 for c in counts),
            )
        )
    return tuple(out)
