"""Shared test fixtures.

Real market data and provider samples live outside the repository, in ``../shared/data``.
Tests find it through one setting, ``QUANT_SHARED_DATA``, which ``.ci/run`` points there. In CI
(``CI=true``) its absence is a failure; elsewhere the tests that need it are skipped, saying why.
"""

from __future__ import annotations

# First, before anything loads NumPy or PyTorch: pin their CPU kernels, as the quant process
# does, so artifact hashes match the recorded ones on every machine (decision 0121).
import quant_apps  # noqa: F401  # isort: skip

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests explore freely on a developer's machine; in CI they replay one fixed,
# derandomized set of examples, so a CI run is reproducible like everything else.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data directory (``QUANT_SHARED_DATA``)."""
    raw = os.environ.get("QUANT_SHARED_DATA", "")
    path = Path(raw) if raw else None
    if path is not None and path.is_dir():
        return path
    why = f"QUANT_SHARED_DATA={raw!r} is not a directory" if raw else "QUANT_SHARED_DATA unset"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"shared data is required in CI: {why}")
    pytest.skip(f"needs the shared real data: {why}")
