"""Fixtures shared by the app tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No stray .env or settings from the developer's shell leak into a test.

    The test runs in ``tmp_path``, every project setting is unset and the data directory is
    ``tmp_path / "data"``.
    """
    monkeypatch.chdir(tmp_path)
    for name in list(os.environ):
        if name.startswith(("HIST_", "KRAKEN_", "UNIVERSE_", "QUANT_", "TRAINING_", "ENABLE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("QUANT_DATA_DIR", str(tmp_path / "data"))
