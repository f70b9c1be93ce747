"""The :class:`quant_core.Predictor` over a trained model set.

:class:`ModelSetPredictor` turns the bars seen so far into calibrated probabilities per coin
and horizon. It is causal by construction: it drops every bar closing after ``as_of_ns``
before computing features, and uses the feature row of the bar closing exactly at
``as_of_ns``. A coin is predicted by its specialist when the set has one, else by the global
model; a coin with fewer bars than the feature warm-up, or no bar at ``as_of_ns``, is left out.

Return buckets come from the horizon's tables: ``P(bucket) = p_up · P(bucket | up)`` for
buckets above 0 and ``(1 - p_up) · P(bucket | down)`` below, so they agree with ``p_up``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from quant_core import Bar, Clock, HorizonForecast, Instrument, Prediction, Timeframe
from quant_models import reasons
from quant_models.errors import ArtifactError
from quant_models.features import compute_features
from quant_models.panel import Panel
from quant_models.persistence import HorizonTable, ModelEntry, ModelSet

__all__ = ["ModelSetPredictor"]


def _bucket_probs(table: HorizonTable, p_up: float) -> tuple[float, ...]:
    probs = [
        p_up * u + (1.0 - p_up) * d for u, d in zip(table.up_table, table.down_table, strict=True)
    ]
    total = sum(probs)
    return tuple(p / total for p in probs)


class ModelSetPredictor:
    """A :class:`quant_core.Predictor` backed by a :class:`ModelSet`."""

    def __init__(self, model_set: ModelSet, *, clock: Clock | None = None) -> None:
        """Wrap ``model_set``.

        Args:
            model_set: the trained set.
            clock: stamps ``ts_init`` on predictions; without one (replays) ``ts_init`` is
                ``as_of_ns``.
        """
        self.model_set = model_set
        self._clock = clock
        self._timeframe = Timeframe(model_set.schema.timeframe)
        by_horizon: dict[int, dict[str | None, ModelEntry]] = {}
        for entry in model_set.entries:
            by_horizon.setdefault(entry.horizon_bars, {})[entry.symbol] = entry
        missing = [h.bars for h in model_set.horizons if h.bars not in by_horizon]
        if missing:
            raise ArtifactError(
                f"horizons {missing} have no model", reason_code=reasons.ARTIFACT_MISSING
            )
        self._entries = by_horizon
        self._model_id = model_set.model_id

    @property
    def model_id(self) -> str:
        """Content hash of the model set."""
        return self._model_id

    @property
    def horizons_ns(self) -> tuple[int, ...]:
        """Horizons in nanoseconds, ascending."""
        return tuple(sorted(h.bars * self._timeframe.ns for h in self.model_set.horizons))

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        """Predict every coin with enough history at ``as_of_ns`` (see the class docstring)."""
        bars = [b for seq in history.values() for b in seq if b.close_time_ns <= as_of_ns]
        if not bars:
            return ()
        panel = Panel.from_bars(bars)
        features = compute_features(panel, self.model_set.feature_config)
        if features.schema.schema_hash != self.model_set.schema.schema_hash:
            raise ArtifactError(
                "the model set's feature schema differs from the computed one",
                reason_code=reasons.SCHEMA_MISMATCH,
            )
        where = np.nonzero(panel.close_times_ns == as_of_ns)[0]
        if where.size == 0:
            return ()
        t = int(where[0])
        warmup = self.model_set.feature_config.warmup
        instruments = {i.base: i for i in history}
        out = []
        for row, symbol in enumerate(panel.symbols):
            present = int(np.sum(~np.isnan(panel.close[row, : t + 1])))
            if np.isnan(panel.close[row, t]) or present <= warmup:
                continue
            x = features.values[row, t : t + 1, :]
            forecasts = []
            for table in sorted(self.model_set.horizons, key=lambda h: h.bars):
                chosen = self._entries[table.bars]
                entry = chosen.get(symbol) or chosen.get(None)
                if entry is None:
                    break
                p_up = float(entry.calibrator.apply(entry.model.predict_proba(x))[0])
                forecasts.append(
                    HorizonForecast(
                        horizon_ns=table.bars * self._timeframe.ns,
                        p_up=p_up,
                        bucket_edges=table.bucket_edges,
                        bucket_probs=_bucket_probs(table, p_up),
                    )
                )
            else:
                out.append(
                    Prediction(
                        instruments[symbol],
                        ts_event=as_of_ns,
                        ts_init=as_of_ns if self._clock is None else self._clock.now_ns(),
                        forecasts=tuple(forecasts),
                        model_id=self._model_id,
                    )
                )
        return tuple(sorted(out, key=lambda p: (p.instrument.base, p.instrument.quote.value)))
