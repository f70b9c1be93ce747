"""Test-only builders: small datasets from the shared real files, and seeded synthetic bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from quant_core import Bar, Instrument, Timeframe, generator, iso_to_ns
from quant_data import Dataset, SyntheticMarket
from quant_models import GateConfig, HorizonSpec
from quant_models.features import FeatureConfig
from quant_models.sequence import Resolution, SequenceConfig
from quant_models.training import FoldConfig, TrainConfig

BINANCE_1H = "binance_spot_freqtrade__mounik-sample-scalping"
H = Timeframe.H1.ns


def synthetic_frame(
    symbols: tuple[str, ...] = ("BTC", "ETH"), n: int = 400, seed: int = 1, momentum: float = 0.0
) -> pd.DataFrame:
    """Random-walk hourly bars (optionally with momentum) as a Dataset-like long frame."""
    rows = []
    for k, symbol in enumerate(symbols):
        rng = generator(seed, "synthetic", symbol)
        shocks = rng.normal(0.0, 0.01, n)
        rets = np.zeros(n)
        for i in range(1, n):
            rets[i] = momentum * rets[i - 1] + shocks[i]
        close = 100.0 * (k + 1) * np.exp(np.cumsum(rets))
        open_ = np.concatenate([[close[0]], close[:-1]])
        high = np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.002, n)))
        low = np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.002, n)))
        volume = rng.lognormal(3.0, 0.5, n)
        for i in range(n):
            rows.append(
                (symbol, "USD", "1h", i * H, open_[i], high[i], low[i], close[i], volume[i])
            )
    return pd.DataFrame(
        rows,
        columns=[
            "symbol",
            "quote",
            "timeframe",
            "open_time_ns",
            "open",
            "high",
            "low",
            "close",
            "volume",
        ],
    )


def dataset_from_frame(frame: pd.DataFrame) -> Dataset:
    """A quant_data Dataset from a long frame (prices rounded to 8 decimals)."""
    records: list[dict[Any, Any]] = frame.to_dict("records")
    bars = [
        Bar(
            Instrument(r["symbol"], r["quote"]),
            Timeframe(r["timeframe"]),
            int(r["open_time_ns"]),
            f"{r['open']:.8f}",
            f"{max(r['high'], r['open'], r['close']):.8f}",
            f"{min(r['low'], r['open'], r['close']):.8f}",
            f"{r['close']:.8f}",
            f"{r['volume']:.8f}",
        )
        for r in records
    ]
    return Dataset.from_bars(bars)


def real_frame(
    shared: Path, symbols: tuple[str, ...], last: int, *, source: str = BINANCE_1H
) -> pd.DataFrame:
    """The last ``last`` hourly bars of each coin from the Binance freqtrade feather files.

    USDT pairs are labelled USD (the runtime's quote set); only for tests.
    """
    raws = {}
    for symbol in symbols:
        raw = pd.read_feather(shared / "real" / source / f"{symbol}_USDT-1h.feather")
        raws[symbol] = raw.drop_duplicates("date").sort_values("date")
    common_end = min(pd.Timestamp(raw["date"].max()) for raw in raws.values())
    frames = []
    for symbol, raw in raws.items():
        raw = raw[raw["date"] <= common_end].tail(last)
        ns = raw["date"].astype("datetime64[ns, UTC]").astype("int64")
        frames.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "quote": "USD",
                    "timeframe": "1h",
                    "open_time_ns": ns.to_numpy(),
                    "open": raw["open"].to_numpy(float),
                    "high": raw["high"].to_numpy(float),
                    "low": raw["low"].to_numpy(float),
                    "close": raw["close"].to_numpy(float),
                    "volume": raw["volume"].to_numpy(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


TINY_FEATURES = FeatureConfig(
    return_windows=(1, 4, 12),
    vol_windows=(12,),
    range_windows=(12,),
    volume_windows=(12,),
    trend_windows=(12,),
    cross_windows=(1, 12),
)


def tiny_config(**overrides: object) -> TrainConfig:
    """A config that trains in about a second on a few hundred bars."""
    base: dict[str, object] = {
        "horizons": (HorizonSpec(1, (-0.005, 0.0, 0.005)), HorizonSpec(4, (-0.01, 0.0, 0.01))),
        "features": TINY_FEATURES,
        "families": ("lightgbm",),
        "scopes": ("global",),
        "params": {
            "lightgbm": {"n_estimators": 8, "min_data_in_leaf": 20},
            "xgboost": {"n_estimators": 8},
            "random_forest": {"n_estimators": 8, "min_samples_leaf": 20},
        },
        "folds": FoldConfig(n_folds=2, test_size=60, embargo=4, min_train=150),
        "gates": GateConfig(min_samples=50, max_ece=0.2, min_bss=-1.0),
    }
    base.update(overrides)
    return TrainConfig(**base)  # type: ignore[arg-type]


def late_listing_history(
    symbols: tuple[str, ...],
    *,
    seed: int,
    n_bars: int,
    missing_rate: float,
    listed_at: int,
    late: str = "ADA",
) -> dict[Instrument, list[Bar]]:
    """Seeded hourly bars of ``symbols`` from 2024-01-01, with missing bars.

    ``late`` lists at bar ``listed_at`` (so it has too little history for a specialist).
    """
    start, h = iso_to_ns("2024-01-01T00:00:00Z"), Timeframe.H1.ns
    market = SyntheticMarket(
        seed=seed, symbols=symbols, start_ns=start, end_ns=start + n_bars * h,
        missing_rate=missing_rate,
    )  # fmt: skip
    out: dict[Instrument, list[Bar]] = {}
    for symbol in symbols:
        bars = list(market.bars(symbol))
        if symbol == late:
            bars = [b for b in bars if b.open_time_ns >= start + listed_at * h]
        out[bars[0].instrument] = bars
    return out


def tiny_lstm(**overrides: Any) -> SequenceConfig:
    """An LSTM member that trains in a second on a few hundred bars (hours and 6-bar blocks)."""
    base: dict[str, Any] = {
        "hidden": 4,
        "horizons": (1, 4),
        "risk_bars": 4,
        "max_epochs": 2,
        "batch_size": 64,
        "resolutions": (Resolution("short", 6, 1), Resolution("medium", 4, 6)),
    }
    return SequenceConfig(**(base | overrides))
