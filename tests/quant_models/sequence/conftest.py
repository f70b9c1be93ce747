"""Fixtures of the sequence-model tests: a synthetic panel and models fitted on it."""

from __future__ import annotations

import pytest
from tests.quant_models.sequence._data import synthetic_panel, tiny_config

from quant_models import Panel
from quant_models.sequence import SequenceModel, fit_sequence


@pytest.fixture(scope="session")
def panel() -> Panel:
    """Three coins x 1,200 hourly bars."""
    return synthetic_panel()


@pytest.fixture(scope="session", params=["lstm", "transformer"])
def model(request: pytest.FixtureRequest, panel: Panel) -> SequenceModel:
    """One tiny model of each family, fit on the first 900 bars."""
    config = tiny_config(family=request.param)
    return fit_sequence(panel, config, train_start=0, train_end=900, seed=3)
