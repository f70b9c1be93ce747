"""Fixtures of the operator server's tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Async tests run on asyncio (uvicorn's loop)."""
    return "asyncio"
