"""Debian's Chromium for the browser tests: where it is, how it is launched, when to skip.

``QUANT_CHROMIUM`` names it (default ``/usr/bin/chromium``). Under ``CI=true`` its absence
fails the test; elsewhere the test is skipped, saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("QUANT_CHROMIUM") or "/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def need_chromium() -> None:
    """Skip (or, in CI, fail) when Chromium is missing."""
    if CHROMIUM.exists():
        return
    why = f"{CHROMIUM} is missing (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"Chromium is required in CI: {why}")
    pytest.skip(why)
