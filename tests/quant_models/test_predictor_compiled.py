"""The predictor's compiled member evaluation serves the library's bytes (decision 0123).

The same model sets are served twice: as shipped (LightGBM members compiled, the rest through
the library) and with an evaluator that compiles nothing, so every member goes through its own
``predict_proba``, one call per request, as the predictor did before. Every prediction must be
equal, on many bars, for a stacked set and for a ``"best"`` set.
"""

from __future__ import annotations

import attrs
import pytest

from quant_core import Bar, Instrument, Timeframe, iso_to_ns
from quant_models import ModelSet, ModelSetPredictor
from quant_models._member_eval import MemberEvaluator
from quant_models._panel import Panel
from quant_models.training import EnsembleConfig, fit_model_set, train_panel

from .helpers import late_listing_history, tiny_config

H = Timeframe.H1.ns
History = dict[Instrument, list[Bar]]
SYMBOLS = ("ADA", "BTC", "ETH", "SOL")
START = iso_to_ns("2024-01-01T00:00:00Z")
N_BARS = 480
CUT = 420


@pytest.fixture(scope="module")
def history() -> History:
    """Four synthetic coins with missing bars (NaN features) and a late listing (ADA)."""
    return late_listing_history(SYMBOLS, seed=21, n_bars=N_BARS, missing_rate=0.02, listed_at=200)


def _library_only(model_set: ModelSet) -> ModelSetPredictor:
    predictor = ModelSetPredictor(model_set)
    predictor._evaluator = MemberEvaluator((), n_features=len(model_set.schema.names))
    return predictor


def _served_alike(model_set: ModelSet, history: History) -> int:
    compiled, library = ModelSetPredictor(model_set), _library_only(model_set)
    assert compiled._evaluator.compiled > 0
    assert library._evaluator.compiled == 0
    served = 0
    for t in range(CUT - 5, N_BARS + 1, 3):
        got = compiled.predict(START + t * H, history)
        assert got == library.predict(START + t * H, history), t
        served += len(got)
    return served


def test_a_stacked_set_is_served_with_the_librarys_bytes(history: History) -> None:
    """LightGBM members compiled, XGBoost ones through the library, in one bar's requests."""
    panel = Panel.from_history(history).upto(CUT - 1)
    config = tiny_config(
        families=("lightgbm", "xgboost"),
        scopes=("global", "specialist"),
        combine="stack",
        min_specialist_bars=150,
        ensemble=EnsembleConfig(regime_window=12, regime_lookback=24, bootstrap_draws=50),
    )
    model_set = train_panel(panel, config, dataset_hash="sha256:test").model_set
    assert {e.family for e in model_set.entries} == {"lightgbm", "xgboost"}
    assert _served_alike(model_set, history) > 0


def test_a_best_set_is_served_with_the_librarys_bytes(history: History) -> None:
    panel = Panel.from_history(history).upto(CUT - 1)
    config = tiny_config()
    glob = fit_model_set(panel, config, dataset_hash="sha256:test", family="lightgbm")
    spec = fit_model_set(
        panel, config, dataset_hash="sha256:test", family="lightgbm", scope="specialist"
    )
    chosen = tuple(e for e in spec.entries if e.symbol in ("BTC", "SOL"))
    model_set = attrs.evolve(glob, entries=glob.entries + chosen)
    assert _served_alike(model_set, history) > 0
