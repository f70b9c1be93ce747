"""Fixtures for quant_models tests: small synthetic datasets."""

from __future__ import annotations

import pytest

from quant_data import Dataset

from .helpers import dataset_from_frame, synthetic_frame


@pytest.fixture(scope="session")
def small_dataset() -> Dataset:
    """Three coins, 420 hourly bars of a random walk with mild momentum."""
    return dataset_from_frame(synthetic_frame(("BTC", "ETH", "SOL"), n=420, momentum=0.15))
