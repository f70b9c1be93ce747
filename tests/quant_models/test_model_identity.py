"""Model identity hashes what determines predictions, not the thread count (issue 18, item 8)."""

from __future__ import annotations

import numpy as np
import pytest

from quant_data import Dataset
from quant_models.families import get_family
from quant_models.training import train

from .helpers import tiny_config


@pytest.mark.parametrize("family", ["lightgbm", "xgboost", "random_forest"])
def test_saved_bytes_do_not_depend_on_threads(family: str) -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(600, 4))
    y = (x[:, 0] + rng.normal(size=600) > 0).astype(float)
    fitted = []
    for threads in (1, 2):
        model = get_family(family).build({"n_estimators": 5}, seed=3, threads=threads)
        model.fit(x, y)
        fitted.append(model)
    one, two = fitted
    assert one.to_bytes() == two.to_bytes()
    assert np.array_equal(one.predict_proba(x), two.predict_proba(x))
    # Saving does not change the live model: it still fits and predicts with its threads.
    reloaded = get_family(family).load(two.to_bytes())
    assert np.array_equal(reloaded.predict_proba(x), two.predict_proba(x))


@pytest.mark.parametrize("family", ["lightgbm", "random_forest"])
def test_training_on_one_or_two_threads_gives_one_model_id(
    small_dataset: Dataset, family: str
) -> None:
    ids = set()
    for threads in (1, 2):
        cfg = tiny_config(families=(family,), threads=threads)
        result = train(small_dataset, cfg)
        ids.add(result.model_set.model_id)
        assert result.run_record.config_hash == cfg.config_hash  # the run still records its threads
    assert len(ids) == 1
