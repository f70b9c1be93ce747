"""Recorded predictions: a JSON-lines file of :class:`~quant_core.Prediction` values.

A model run (``quant train``, a bundle, a notebook) can write its predictions once; a backtest
replays them through :class:`RecordedPredictor`, which implements the core
:class:`~quant_core.Predictor` protocol. quant_exec therefore never needs the model code.

Each line is the canonical JSON of one prediction as the core converter unstructures it; lines
are ordered by ``ts_event`` then instrument, and every prediction names the same model.

Examples:
    >>> import tempfile
    >>> from pathlib import Path
    >>> from quant_core.events import HorizonForecast, Prediction, Predictor
    >>> from quant_core import Instrument
    >>> btc = Instrument("BTC", "USD")
    >>> h = 3_600 * 10**9
    >>> preds = [Prediction(btc, ts_event=t * h, ts_init=t * h, model_id="sha256:m",
    ...                     forecasts=(HorizonForecast(h, 0.6),)) for t in (1, 2)]
    >>> path = Path(tempfile.mkdtemp()) / "predictions.jsonl"
    >>> write_predictions(path, preds)
    >>> predictor = RecordedPredictor(read_predictions(path))
    >>> isinstance(predictor, Predictor), predictor.model_id, predictor.horizons_ns == (h,)
    (True, 'sha256:m', True)
    >>> predictor.predict(2 * h, {btc: ()}) == (preds[1],)
    True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from quant_core import Bar, Instrument, canonical_json, structure, unstructure
from quant_core.errors import QuantError
from quant_core.events import Prediction
from quant_exec.errors import PredictionsFileError


def _order(prediction: Prediction) -> tuple[int, str, str]:
    return (prediction.ts_event, prediction.instrument.base, prediction.instrument.quote.value)


def write_predictions(path: Path | str, predictions: Iterable[Prediction]) -> None:
    """Write ``predictions`` as canonical JSON lines, in event order."""
    ordered = sorted(predictions, key=_order)
    Path(path).write_bytes(b"".join(canonical_json(unstructure(p)) + b"\n" for p in ordered))


def read_predictions(path: Path | str) -> tuple[Prediction, ...]:
    """Read and validate a predictions file.

    Raises:
        PredictionsFileError: ``PREDICTIONS_INVALID`` for a file that cannot be read (missing,
            a directory, unreadable), a line that is not a valid prediction, or lines out of
            event order / repeated.
    """
    try:
        content = Path(path).read_bytes()
    except OSError as exc:
        raise PredictionsFileError(f"{path}: cannot read the predictions: {exc.strerror}") from None
    out: list[Prediction] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            prediction = structure(json.loads(line), Prediction)
        except (ValueError, QuantError) as exc:
            raise PredictionsFileError(f"{path}:{number}: not a prediction: {exc}") from None
        if out and _order(prediction) <= _order(out[-1]):
            raise PredictionsFileError(f"{path}:{number}: predictions out of event order")
        out.append(prediction)
    return tuple(out)


class RecordedPredictor:
    """A :class:`~quant_core.Predictor` that replays recorded predictions.

    Args:
        predictions: the recorded predictions; all from one model, with the same horizons.

    Raises:
        PredictionsFileError: no predictions, several model ids, or differing horizons.
    """

    def __init__(self, predictions: Iterable[Prediction]) -> None:
        ordered = sorted(predictions, key=_order)
        if not ordered:
            raise PredictionsFileError("no predictions to replay")
        models = {p.model_id for p in ordered}
        horizons = {p.horizons_ns for p in ordered}
        if len(models) != 1 or len(horizons) != 1:
            raise PredictionsFileError(
                "recorded predictions must come from one model with one set of horizons"
            )
        self._model_id = models.pop()
        self._horizons = horizons.pop()
        self._by_time: dict[int, list[Prediction]] = {}
        for prediction in ordered:
            self._by_time.setdefault(prediction.ts_event, []).append(prediction)

    @property
    def model_id(self) -> str:
        """The model that made the recorded predictions."""
        return self._model_id

    @property
    def horizons_ns(self) -> tuple[int, ...]:
        """The horizons every prediction carries."""
        return self._horizons

    def predict(
        self, as_of_ns: int, history: Mapping[Instrument, Sequence[Bar]]
    ) -> tuple[Prediction, ...]:
        """The recorded predictions made at ``as_of_ns`` for instruments in ``history``."""
        return tuple(p for p in self._by_time.get(as_of_ns, ()) if p.instrument in history)
