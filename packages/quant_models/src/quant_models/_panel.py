"""A (coins x time) array view of bars: the shape every vectorised feature works on.

A :class:`Panel` holds open, high, low, close and volume as float64 arrays of shape
``(n_symbols, n_times)`` on one regular time grid. A missing bar is ``NaN`` — a gap stays
visible, it is never filled.

Examples:
    >>> from quant_core import Bar, Instrument, Timeframe
    >>> h = Timeframe.H1.ns
    >>> bars = [Bar(Instrument("BTC", "USD"), "1h", i * h, 1, 2, 1, 2, 5) for i in (0, 2)]
    >>> p = Panel.from_bars(bars)
    >>> p.symbols, p.close.shape, bool(np.isnan(p.close[0, 1]))
    (('BTC',), (1, 3), True)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
import numpy.typing as npt

from quant_core import Bar, Instrument, Timeframe
from quant_models import reasons
from quant_models._errors import DataError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FIELDS", "Panel"]

FIELDS = ("open", "high", "low", "close", "volume")

FloatArray = npt.NDArray[np.float64]

FeatureMatrix = npt.NDArray[np.floating[Any]]
"""What a model takes: the float32 feature matrix, or any other floating-point rows."""


@attrs.frozen(eq=False)
class Panel:
    """Bars of several symbols on one regular grid.

    Attributes:
        symbols: base assets, sorted; row order of every array.
        quote: the quote currency of every symbol.
        timeframe: the bar length.
        open_times_ns: int64 open times, ascending, one bar apart.
        open, high, low, close, volume: float64 arrays ``(len(symbols), len(open_times_ns))``.
    """

    symbols: tuple[str, ...]
    quote: str
    timeframe: Timeframe
    open_times_ns: npt.NDArray[np.int64]
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    @property
    def close_times_ns(self) -> npt.NDArray[np.int64]:
        """Close time of each grid bar (its decision time)."""
        return self.open_times_ns + np.int64(self.timeframe.ns)

    @property
    def n_times(self) -> int:
        """Number of grid bars."""
        return int(self.open_times_ns.shape[0])

    def field(self, name: str) -> FloatArray:
        """One of :data:`FIELDS` by name."""
        value: FloatArray = getattr(self, name)
        return value

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> Panel:
        """Build from a long frame (``quant_data.Dataset.frame()`` columns).

        Raises:
            DataError: ``FEATURE_INPUT_INVALID`` for an empty frame, several timeframes or
                quotes, duplicate (symbol, time) rows or times off the grid.
        """
        if len(frame) == 0:
            raise DataError("no bars", reason_code=reasons.FEATURE_INPUT_INVALID)
        timeframes = sorted(str(v) for v in frame["timeframe"].unique())
        quotes = sorted(str(v) for v in frame["quote"].unique())
        if len(timeframes) != 1 or len(quotes) != 1:
            raise DataError(
                f"one timeframe and one quote expected, got {timeframes} and {quotes}",
                reason_code=reasons.FEATURE_INPUT_INVALID,
            )
        timeframe = Timeframe(timeframes[0])
        step = timeframe.ns
        import pandas as pd

        codes, uniques = pd.factorize(frame["symbol"], sort=True)
        symbols = tuple(str(v) for v in uniques)
        times = frame["open_time_ns"].to_numpy(dtype=np.int64)
        if np.any(times % step):
            raise DataError(
                "open times are off the timeframe grid", reason_code=reasons.FEATURE_INPUT_INVALID
            )
        start, end = int(times.min()), int(times.max())
        grid = np.arange(start, end + step, step, dtype=np.int64)
        row = codes.astype(np.int64)
        col = (times - start) // step
        cells = np.zeros(len(symbols) * grid.shape[0], dtype=bool)
        cells[row * grid.shape[0] + col] = True
        if int(np.count_nonzero(cells)) != len(frame):
            raise DataError(
                "duplicate (symbol, open time) rows", reason_code=reasons.FEATURE_INPUT_INVALID
            )
        arrays: dict[str, FloatArray] = {}
        for name in FIELDS:
            values = np.full((len(symbols), grid.shape[0]), np.nan)
            values[row, col] = frame[name].to_numpy(dtype=np.float64)
            arrays[name] = values
        return cls(symbols, quotes[0], timeframe, grid, **arrays)

    @classmethod
    def from_bars(cls, bars: Iterable[Bar]) -> Panel:
        """Build from core bars (floats for numerical work; decimals stay the record)."""
        import pandas as pd

        rows = [
            (
                b.instrument.base,
                b.instrument.quote.value,
                b.timeframe.value,
                b.open_time_ns,
                float(b.open),
                float(b.high),
                float(b.low),
                float(b.close),
                float(b.volume),
            )
            for b in bars
        ]
        columns = ["symbol", "quote", "timeframe", "open_time_ns", *FIELDS]
        return cls.from_frame(pd.DataFrame(rows, columns=columns))

    @classmethod
    def from_history(cls, history: Mapping[Instrument, Sequence[Bar]]) -> Panel:
        """Build from a predictor's per-instrument history."""
        return cls.from_bars(bar for bars in history.values() for bar in bars)

    def upto(self, last_index: int) -> Panel:
        """The panel cut after grid bar ``last_index`` (inclusive)."""
        cut = slice(0, last_index + 1)
        o, h, lo, c, v = (self.field(name)[:, cut] for name in FIELDS)
        return Panel(
            self.symbols, self.quote, self.timeframe, self.open_times_ns[cut], o, h, lo, c, v
        )
