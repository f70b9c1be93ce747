"""A deterministic synthetic crypto market: realistic candles from a seed, for offline work.

:class:`SyntheticMarket` draws one joint path for every requested symbol on a timeframe grid.
The same seed, symbols, window and timeframe give byte-identical candles on every machine and
in every process (randomness comes from :func:`quant_core.generator`, never the global RNG).
The model has the stylised facts of real crypto returns:

- **heavy tails**: innovations are Student-t (4 degrees of freedom), so excess kurtosis > 0;
- **volatility clustering**: each series' variance follows a GARCH(1,1) recursion, so absolute
  returns are autocorrelated while returns themselves are not;
- **regime shifts**: a two-state Markov chain (calm / turbulent) scales the market's volatility
  and drift, switching rarely;
- **cross-asset correlation**: a BTC-led common market factor; every other asset loads on it
  with a beta in ``[0.6, 1.3]`` plus its own idiosyncratic GARCH noise;
- **volume tied to volatility**: volume grows with the bar's absolute return and the regime;
- **gaps**: some slots have *no trades* (price unchanged, zero volume — Kraken's REST shows
  such candles, CoinAPI omits them) and a few are *missing* (the source has no record at all).

Examples:
    >>> from quant_core import Timeframe, iso_to_ns
    >>> market = SyntheticMarket(seed=7, symbols=("BTC", "ETH"),
    ...                          start_ns=iso_to_ns("2024-01-01T00:00:00Z"),
    ...                          end_ns=iso_to_ns("2024-01-02T00:00:00Z"),
    ...                          timeframe=Timeframe.H1)
    >>> bars = market.bars("BTC")
    >>> len(bars) <= 24, bars[0].instrument.base
    (True, 'BTC')
    >>> market.content_hash() == SyntheticMarket(seed=7, symbols=("BTC", "ETH"),
    ...     start_ns=iso_to_ns("2024-01-01T00:00:00Z"),
    ...     end_ns=iso_to_ns("2024-01-02T00:00:00Z"), timeframe=Timeframe.H1).content_hash()
    True
"""

from __future__ import annotations

import enum
import hashlib
import math
from collections.abc import Iterable
from decimal import Decimal

import attrs
import numpy as np

from quant_core import Bar, Instrument, QuoteCurrency, Timeframe, generator
from quant_core.errors import ValidationError
from quant_core.universe import UNIVERSE_V1_TOP30_NON_STABLE
from quant_data import reasons
from quant_data._records import SourceBar

__all__ = ["SlotKind", "SyntheticMarket", "SyntheticSlot", "price_decimals"]

# Rough starting prices (USD) for the Universe V1 members; any other symbol gets a price drawn
# from the seed. Only the order of magnitude matters for realism (decimals, tick sizes).
_START_PRICES: dict[str, float] = {
    "BTC": 42_000.0,
    "ETH": 2_300.0,
    "BNB": 310.0,
    "XRP": 0.62,
    "SOL": 100.0,
    "TRX": 0.11,
    "ADA": 0.55,
    "BCH": 250.0,
    "XMR": 165.0,
    "LINK": 15.0,
    "XLM": 0.12,
    "HBAR": 0.08,
    "LTC": 72.0,
    "AVAX": 38.0,
    "ZEC": 25.0,
    "SUI": 0.8,
    "SHIB": 0.00001,
    "TON": 2.3,
    "DOT": 7.5,
    "UNI": 6.5,
    "AAVE": 105.0,
    "TAO": 300.0,
    "NEAR": 3.5,
    "ETC": 25.0,
    "ICP": 11.0,
    "POL": 0.9,
    "KAS": 0.1,
    "ALGO": 0.2,
    "FIL": 5.5,
    "APT": 9.0,
}

_DAILY_VOL = 0.035  # typical daily volatility of the market factor
_T_DF = 4.0  # Student-t degrees of freedom (kurtosis of t4 is infinite; sampled ~ 6-10)
_GARCH_ALPHA = 0.08
_GARCH_BETA = 0.90
_REGIME_SWITCH = (0.004, 0.02)  # P(calm→turbulent), P(turbulent→calm) per bar
_REGIME_VOL = (1.0, 2.2)
_REGIME_DRIFT = (0.0002, -0.0004)  # per-day drift in each regime


class SlotKind(enum.StrEnum):
    """How a grid slot of a synthetic series turned out."""

    TRADED = "traded"
    NO_TRADE = "no_trade"
    MISSING = "missing"


@attrs.frozen
class SyntheticSlot:
    """One grid slot of a synthetic series.

    Attributes:
        open_time_ns: the slot's open time.
        kind: :attr:`SlotKind.TRADED`, :attr:`SlotKind.NO_TRADE` (price unchanged, zero volume)
            or :attr:`SlotKind.MISSING` (the source recorded nothing).
        bar: the candle for a traded slot; for a no-trade slot a zero-volume candle at the
            previous close (how Kraken's REST reports it); ``None`` when missing.
    """

    open_time_ns: int
    kind: SlotKind
    bar: Bar | None


def price_decimals(price: float) -> int:
    """Decimal places a venue would quote ``price`` with (about 6 significant digits).

    Examples:
        >>> price_decimals(42000.0), price_decimals(0.62), price_decimals(0.00001)
        (1, 6, 10)
    """
    if price <= 0 or not math.isfinite(price):
        return 8
    magnitude = math.floor(math.log10(price))
    return int(min(10, max(1, 5 - magnitude)))


def _fmt(value: float, decimals: int) -> str:
    return f"{value:.{decimals}f}"


class SyntheticMarket:
    """A seeded joint market for ``symbols`` over ``[start_ns, end_ns)`` on ``timeframe``.

    Args:
        seed: root seed; the only source of randomness.
        symbols: canonical symbols (Universe V1 codes such as ``"BTC"``); order does not matter
            for the values of one symbol except that BTC, when present, drives the market
            factor.
        start_ns: first slot's open time (floored to the grid).
        end_ns: exclusive end of the window.
        timeframe: the grid.
        quote: the quote currency of every series (``"USD"``, ``"CAD"``, ``"USDC"``).
        no_trade_rate: base probability of a no-trade slot (scaled up for smaller assets).
        missing_rate: probability of a missing slot.

    Raises:
        ValidationError: ``SYNTHETIC_INVALID`` for an empty window, no symbols, a duplicate
            symbol, an unsupported quote or rates outside ``[0, 0.5]``.
    """

    def __init__(
        self,
        *,
        seed: int,
        symbols: Iterable[str] = ("BTC", "ETH"),
        start_ns: int,
        end_ns: int,
        timeframe: Timeframe = Timeframe.H1,
        quote: str = "USD",
        no_trade_rate: float = 0.01,
        missing_rate: float = 0.002,
    ) -> None:
        self.seed = int(seed)
        self.symbols: tuple[str, ...] = tuple(symbols)
        self.timeframe = Timeframe(timeframe)
        self.start_ns = self.timeframe.floor(start_ns)
        self.end_ns = int(end_ns)
        self.quote = quote
        self.no_trade_rate = float(no_trade_rate)
        self.missing_rate = float(missing_rate)
        problem = None
        if self.end_ns <= self.start_ns:
            problem = f"empty window [{start_ns}, {end_ns})"
        elif not self.symbols or len(set(self.symbols)) != len(self.symbols):
            problem = f"symbols must be non-empty and distinct, got {self.symbols!r}"
        elif quote not in {q.value for q in QuoteCurrency}:
            problem = f"quote {quote!r} is not a supported quote currency"
        elif not (0 <= self.no_trade_rate <= 0.5 and 0 <= self.missing_rate <= 0.5):
            problem = "no_trade_rate and missing_rate must be within [0, 0.5]"
        if problem is not None:
            raise ValidationError(problem, reason_code=reasons.SYNTHETIC_INVALID)
        self._slots: dict[str, tuple[SyntheticSlot, ...]] | None = None

    def __repr__(self) -> str:
        return (
            f"SyntheticMarket(seed={self.seed}, symbols={list(self.symbols)}, "
            f"timeframe={self.timeframe.value}, start_ns={self.start_ns}, end_ns={self.end_ns})"
        )

    @property
    def slot_count(self) -> int:
        """Number of grid slots in the window."""
        return -(-(self.end_ns - self.start_ns) // self.timeframe.ns)

    def slots(self, symbol: str) -> tuple[SyntheticSlot, ...]:
        """Every grid slot of ``symbol``'s series, in time order.

        Raises:
            ValidationError: ``SYNTHETIC_INVALID`` when the symbol is not in this market.
        """
        if symbol not in self.symbols:
            raise ValidationError(
                f"{symbol!r} is not in this synthetic market", reason_code=reasons.SYNTHETIC_INVALID
            )
        if self._slots is None:
            self._slots = self._generate()
        return self._slots[symbol]

    def bars(self, symbol: str, *, include_no_trade: bool = False) -> tuple[Bar, ...]:
        """The candles of ``symbol``: traded slots (and zero-volume no-trade slots if asked)."""
        wanted = {SlotKind.TRADED, SlotKind.NO_TRADE} if include_no_trade else {SlotKind.TRADED}
        return tuple(s.bar for s in self.slots(symbol) if s.bar is not None and s.kind in wanted)

    def source_bars(self, symbol: str, *, source: str = "synthetic") -> tuple[SourceBar, ...]:
        """The series as :class:`SourceBar` values (no-trade slots included, missing ones not).

        No-trade slots carry ``trades=0`` and zero volume, so a dialect can show them (Kraken)
        or omit them (CoinAPI).
        """
        out = []
        for slot in self.slots(symbol):
            bar = slot.bar
            if bar is None:
                continue
            out.append(
                SourceBar(
                    source=source,
                    symbol=symbol,
                    quote=self.quote,
                    timeframe=self.timeframe.value,
                    open_time_ns=bar.open_time_ns,
                    open=str(bar.open),
                    high=str(bar.high),
                    low=str(bar.low),
                    close=str(bar.close),
                    volume=str(bar.volume),
                    trades=bar.trades,
                )
            )
        return tuple(out)

    def content_hash(self) -> str:
        """``sha256:<hex>`` over every slot of every symbol: equal iff the candles are equal."""
        digest = hashlib.sha256()
        for symbol in sorted(self.symbols):
            for slot in self.slots(symbol):
                bar = slot.bar
                fields: tuple[object, ...] = (symbol, slot.open_time_ns, slot.kind)
                if bar is not None:
                    fields += (bar.open, bar.high, bar.low, bar.close, bar.volume, bar.trades)
                digest.update(("|".join(str(f) for f in fields) + "\n").encode())
        return "sha256:" + digest.hexdigest()

    # --- generation -------------------------------------------------------------------------

    def _generate(self) -> dict[str, tuple[SyntheticSlot, ...]]:
        n = self.slot_count
        k = len(self.symbols)
        scale = math.sqrt(self.timeframe.seconds / 86_400)
        per_day = self.timeframe.seconds / 86_400
        t_norm = math.sqrt((_T_DF - 2) / _T_DF)  # unit-variance Student-t

        rng = generator(self.seed, "synthetic", "market", self.timeframe.value)
        regime_draw = rng.random(n)
        market_shock = rng.standard_t(_T_DF, n) * t_norm

        # Per-symbol parameters and streams: derived by symbol name, so adding a symbol never
        # changes another symbol's idiosyncratic path.
        betas = np.empty(k)
        idio_vol = np.empty(k)
        idio = np.empty((n, k))
        start = np.empty(k)
        gap_draw = np.empty((n, k))
        shape = np.empty((n, k, 3))
        for j, sym in enumerate(self.symbols):
            srng = generator(self.seed, "synthetic", "symbol", sym, self.timeframe.value)
            betas[j] = 1.0 if sym == "BTC" else 0.6 + 0.7 * srng.random()
            idio_vol[j] = 0.0 if sym == "BTC" else 0.4 + 0.5 * srng.random()
            base = _START_PRICES.get(sym, 10 ** (srng.random() * 4 - 1))
            start[j] = base * math.exp(0.2 * (srng.random() - 0.5))
            idio[:, j] = srng.standard_t(_T_DF, n) * t_norm
            gap_draw[:, j] = srng.random(n)
            shape[:, j, :] = srng.random((n, 3))

        # Regimes: a two-state Markov chain.
        regime = np.zeros(n, dtype=np.int64)
        state = 0
        for t in range(n):
            if regime_draw[t] < _REGIME_SWITCH[state]:
                state = 1 - state
            regime[t] = state

        # GARCH(1,1) for the market factor and for each idiosyncratic stream.
        omega = 1.0 - _GARCH_ALPHA - _GARCH_BETA
        m_var = 1.0
        i_var = np.ones(k)
        m_ret = np.empty(n)
        i_ret = np.empty((n, k))
        for t in range(n):
            m_ret[t] = math.sqrt(m_var) * market_shock[t]
            i_ret[t] = np.sqrt(i_var) * idio[t]
            m_var = omega + _GARCH_ALPHA * m_ret[t] ** 2 + _GARCH_BETA * m_var
            i_var = omega + _GARCH_ALPHA * i_ret[t] ** 2 + _GARCH_BETA * i_var

        vol_mult = np.where(regime == 1, _REGIME_VOL[1], _REGIME_VOL[0])
        drift = np.where(regime == 1, _REGIME_DRIFT[1], _REGIME_DRIFT[0]) * per_day
        sigma = _DAILY_VOL * scale
        log_ret = drift[:, None] + sigma * vol_mult[:, None] * (
            betas[None, :] * m_ret[:, None] + idio_vol[None, :] * i_ret
        )
        log_ret = np.clip(log_ret, -0.5, 0.5)

        out: dict[str, tuple[SyntheticSlot, ...]] = {}
        rank = {s: i for i, s in enumerate(UNIVERSE_V1_TOP30_NON_STABLE.symbols)}
        for j, sym in enumerate(self.symbols):
            out[sym] = self._series(
                sym,
                start[j],
                log_ret[:, j],
                vol_mult * sigma,
                gap_draw[:, j],
                shape[:, j, :],
                rank.get(sym, 30),
            )
        return out

    def _series(
        self,
        symbol: str,
        start_price: float,
        log_ret: np.ndarray,
        sigma: np.ndarray,
        gap_draw: np.ndarray,
        shape: np.ndarray,
        rank: int,
    ) -> tuple[SyntheticSlot, ...]:
        instrument = Instrument(symbol, self.quote)
        decimals = price_decimals(start_price)
        tf_ns = self.timeframe.ns
        # Smaller assets trade less often: more no-trade slots.
        no_trade = self.no_trade_rate * (1.0 + rank / 10.0)
        base_volume = 1_000_000.0 / start_price * math.sqrt(self.timeframe.seconds / 3_600)
        vrng = generator(self.seed, "synthetic", "volume", symbol, self.timeframe.value)
        vnoise = vrng.lognormal(0.0, 0.35, len(log_ret))
        slots: list[SyntheticSlot] = []
        close = float(_fmt(start_price, decimals))
        for t, r in enumerate(log_ret):
            open_time = self.start_ns + t * tf_ns
            draw = gap_draw[t]
            if draw < self.missing_rate:
                slots.append(SyntheticSlot(open_time, SlotKind.MISSING, None))
                continue
            if draw < self.missing_rate + no_trade:
                text = _fmt(close, decimals)
                bar = Bar(instrument, self.timeframe, open_time, text, text, text, text, "0", 0)
                slots.append(SyntheticSlot(open_time, SlotKind.NO_TRADE, bar))
                continue
            o = close
            c = o * math.exp(float(r))
            wick = float(sigma[t]) * 0.6
            h = max(o, c) * math.exp(wick * float(shape[t, 0]))
            low = min(o, c) * math.exp(-wick * float(shape[t, 1]))
            o_s, c_s = _fmt(o, decimals), _fmt(c, decimals)
            h_s, l_s = _fmt(h, decimals), _fmt(low, decimals)
            # Rounding can collapse a tiny price to zero; keep the smallest tick instead.
            tick = 10.0**-decimals
            o_f, c_f = max(float(o_s), tick), max(float(c_s), tick)
            h_f = max(float(h_s), o_f, c_f)
            l_f = max(min(float(l_s), o_f, c_f), tick)
            o_s, c_s, h_s, l_s = (_fmt(x, decimals) for x in (o_f, c_f, h_f, l_f))
            activity = 1.0 + 4.0 * abs(float(r)) / max(float(sigma[t]), 1e-12)
            volume = base_volume * activity * float(vnoise[t]) * float(sigma[t]) / 0.007
            v_s = _fmt(volume, 8)
            trades = max(1, min(400, int(3 + activity * 8 * float(shape[t, 2]) + 1)))
            bar = Bar(
                instrument, self.timeframe, open_time, o_s, h_s, l_s, c_s, Decimal(v_s), trades
            )
            slots.append(SyntheticSlot(open_time, SlotKind.TRADED, bar))
            close = c_f
        return tuple(slots)
